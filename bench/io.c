/* Save and load speed of a parameter file against `cp` of the same bytes,
 * measured in the same run:
 *
 *     build/bench/io [--mb N] [--tensors K] [--reps R] [--dir DIR]
 *
 * makes K float32 parameters totalling about N MB (default 200 MB in 50),
 * then times, R times each (default 5), alternating:
 *     save   tg_state_save: temporary file, write, fflush, fsync, rename
 *     load   tg_state_load, strict, into a second set of parameters
 *     cp     `cp FILE COPY`, the same bytes read and written by coreutils
 *     cp+sync  the same followed by fsync of the copy, the durability a
 *            save gives
 * and prints the medians and the ratios save/cp, save/(cp+sync) and
 * load/cp (below 2: within 2x of cp). The files go in DIR (default
 * $TMPDIR or /tmp) and are removed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"
#include <tapegrad/tapegrad.h>

/* cp src dst, optionally fsync'ing dst afterwards; seconds or -1. */
static double time_cp(const char *src, const char *dst, bool sync)
{
    double start = bench_now_s();
    pid_t pid = fork();
    if (pid == 0) {
        execlp("cp", "cp", src, dst, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    if (sync) {
        int fd = open(dst, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) return -1;
        close(fd);
    }
    return bench_now_s() - start;
}

/* K parameters "layer.<k>.weight" of about total_mb / K MB each. */
static tg_params make_params(int count, int64_t floats_each, double value)
{
    tg_params p = tg_params_new();
    for (int k = 0; k < count; k++) {
        char name[32];
        snprintf(name, sizeof name, "layer.%d.weight", k);
        tg_params_add(&p, NULL, name, tg_param_full(TG_F32, 2, (int64_t[]){floats_each / 1024, 1024}, value + k));
    }
    return p;
}

static void free_params(tg_params *p)
{
    for (int i = 0; i < p->count; i++) tg_free(p->items[i].tensor);
    tg_params_free(p);
}

int main(int argc, char **argv)
{
    int mb = 200, count = 50, reps = 5;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            mb = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tensors") == 0 && i + 1 < argc)
            count = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--mb N] [--tensors K] [--reps R] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (mb < 1 || count < 1 || reps < 1 || reps > 100) {
        fprintf(stderr, "io: --mb, --tensors and --reps must be positive (reps at most 100)\n");
        return 2;
    }
    int64_t floats_each = ((int64_t)mb << 20) / 4 / count / 1024 * 1024;
    if (floats_each < 1024) floats_each = 1024;
    char path[4096], copy[4200];
    snprintf(path, sizeof path, "%s/tapegrad-bench-io-%ld.safetensors", dir, (long)getpid());
    snprintf(copy, sizeof copy, "%s.copy", path);
    tg_params saved = make_params(count, floats_each, 0.5), loaded = make_params(count, floats_each, 0.0);
    if (tg_params_numel(&saved) != count * floats_each || tg_params_numel(&loaded) != count * floats_each) {
        fprintf(stderr, "io: %s\n", tg_last_error());
        return 1;
    }
    double save[100], load[100], cp[100], cp_sync[100];
    int status = 0;
    for (int r = 0; r < reps && status == 0; r++) {
        double start = bench_now_s();
        if (tg_state_save(path, &saved, 0, NULL) < 0) status = 1;
        save[r] = bench_now_s() - start;
        start = bench_now_s();
        if (status == 0 && tg_state_load(path, &loaded, true, NULL) < 0) status = 1;
        load[r] = bench_now_s() - start;
        cp[r] = time_cp(path, copy, false);
        unlink(copy);
        cp_sync[r] = time_cp(path, copy, true);
        unlink(copy);
        if (status || cp[r] < 0 || cp_sync[r] < 0) status = 1;
    }
    /* The load must have brought back what was saved. */
    for (int i = 0; status == 0 && i < saved.count; i++)
        if (memcmp(tg_data(saved.items[i].tensor), tg_data(loaded.items[i].tensor), (size_t)floats_each * 4) != 0)
            status = 1;
    unlink(path);
    free_params(&saved);
    free_params(&loaded);
    if (status) {
        fprintf(stderr, "io: failed: %s\n", tg_last_error()[0] ? tg_last_error() : "cp, or the loaded values differ");
        return 1;
    }
    double mb_file = (double)count * (double)floats_each * 4 / (1 << 20);
    double s = bench_median(save, reps), l = bench_median(load, reps), c = bench_median(cp, reps), cs = bench_median(cp_sync, reps);
    printf("%d tensors, %.0f MB, medians of %d in %s\n", count, mb_file, reps, dir);
    printf("%-8s %9s %9s\n", "", "seconds", "MB/s");
    const char *names[4] = {"save", "load", "cp", "cp+sync"};
    const double times[4] = {s, l, c, cs};
    for (int k = 0; k < 4; k++) printf("%-8s %9.3f %9.0f\n", names[k], times[k], mb_file / times[k]);
    printf("save / cp       = %.2f\nsave / cp+sync  = %.2f\nload / cp       = %.2f\n", s / c, s / cs, l / c);
    return 0;
}
