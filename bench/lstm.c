/* Recurrent training-step benchmark: forward and backward of a
 * torch.nn.LSTM- (or GRU-) shaped layer and a sum loss, the way a training
 * loop runs it.
 *
 *   build/bench/lstm [--batch B] [--seq T] [--input I] [--hidden H]
 *                    [--layers L] [--threads N] [--reps R] [--dtype f32|f64]
 *                    [--mode lstm|gru]
 *
 * prints one JSON line with the median forward and forward+backward times
 * in milliseconds; bench/lstm_vs_torch.sh runs the same shapes through
 * PyTorch in the same run and prints the ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <tapegrad/tapegrad.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The process's peak resident memory so far. */
static double max_rss_mb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

int main(int argc, char **argv)
{
    int64_t batch = 64, seq = 50, input = 256, hidden = 256;
    int layers = 1, threads = 1, reps = 20;
    tg_dtype dtype = TG_F32;
    bool gru = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--batch")) batch = atoll(v);
        else if (!strcmp(k, "--seq")) seq = atoll(v);
        else if (!strcmp(k, "--input")) input = atoll(v);
        else if (!strcmp(k, "--hidden")) hidden = atoll(v);
        else if (!strcmp(k, "--layers")) layers = atoi(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--reps")) reps = atoi(v);
        else if (!strcmp(k, "--dtype")) dtype = strcmp(v, "f64") ? TG_F32 : TG_F64;
        else if (!strcmp(k, "--mode")) gru = !strcmp(v, "gru");
        else {
            fprintf(stderr, "lstm: unknown option %s\n", k);
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || tg_set_num_threads(threads) < 0) {
        fprintf(stderr, "lstm: bad --reps or --threads\n");
        return 2;
    }
    tg_manual_seed(0);
    tg_rnn_config config = {.input_size = input, .hidden_size = hidden, .num_layers = layers, .dtype = dtype};
    tg_rnn *lstm = gru ? tg_gru_new(&config) : tg_lstm_new(&config);
    tg_tensor *x = tg_rand(dtype, 3, (int64_t[]){seq, batch, input}, -1, 1);
    if (!lstm || !x) {
        fprintf(stderr, "lstm: %s\n", tg_last_error());
        return 1;
    }
    tg_params params = tg_params_new();
    tg_rnn_params(lstm, &params, NULL);
    double *forward = malloc(sizeof(double) * (size_t)reps), *total = malloc(sizeof(double) * (size_t)reps);
    for (int r = -2; r < reps; r++) { /* two warm-up runs fill the arena and caches */
        tg_scope *s = tg_scope_begin();
        tg_params_zero_grad(&params);
        double t0 = now_ms();
        tg_rnn_output out;
        tg_rnn_forward(lstm, x, NULL, NULL, NULL, &out);
        tg_tensor *loss = tg_sum(out.output, 0, NULL, false);
        double t1 = now_ms();
        tg_backward(loss, NULL);
        double t2 = now_ms();
        tg_scope_end(s);
        if (r >= 0) {
            forward[r] = t1 - t0;
            total[r] = t2 - t0;
        }
    }
    printf("{\"mode\":\"%s\",\"batch\":%lld,\"seq\":%lld,\"input\":%lld,\"hidden\":%lld,\"layers\":%d,\"threads\":%d,"
           "\"dtype\":\"%s\",\"simd\":\"%s\",\"forward_ms\":%.3f,\"train_ms\":%.3f,\"max_rss_mb\":%.1f}\n",
           gru ? "gru" : "lstm", (long long)batch, (long long)seq, (long long)input, (long long)hidden, layers, threads,
           dtype == TG_F32 ? "f32" : "f64", tg_simd_level(), median(forward, reps), median(total, reps),
           max_rss_mb());
    free(forward);
    free(total);
    tg_params_free(&params);
    tg_rnn_free(lstm);
    tg_free(x);
    return 0;
}
