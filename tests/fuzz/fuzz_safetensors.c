/* libFuzzer harness for the safetensors loader: each input is the bytes of
 * a file. They reach the loader as a file does (an in-memory file opened by
 * its path), then every tensor is read, the metadata looked up, and the
 * file loaded by name into a small model, strictly and not. Any crash,
 * sanitizer report or leak is a bug; refusing the file is the expected
 * outcome for almost every input.
 *
 *     tests/fuzz/run.sh fuzz_safetensors SECONDS
 *
 * fuzz-seeds: tests/golden/[a-z]*.safetensors
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tapegrad/tapegrad.h>

/* Names the seeds use, so that loading by name gets past the name checks.
 * Made on the first call, outside any scope: persistent. */
static tg_params model(void)
{
    static tg_params params;
    if (params.count) return params;
    params = tg_params_new();
    tg_params_add(&params, NULL, "head.weight", tg_param_full(TG_F32, 2, (int64_t[]){2, 8}, 0));
    tg_params_add(&params, NULL, "head.bias", tg_param_full(TG_F32, 1, (int64_t[]){2}, 0));
    tg_params_add(&params, NULL, "f64", tg_param_full(TG_F64, 2, (int64_t[]){2, 2}, 0));
    tg_params_add(&params, NULL, "i64", tg_zeros(TG_I64, 1, (int64_t[]){4}));
    tg_params_add(&params, NULL, "scalar", tg_param_full(TG_F32, 0, NULL, 0));
    for (int i = 0; i < params.count; i++)
        if (!params.items[i].tensor || !params.items[i].tensor->persistent) __builtin_trap();
    return params;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_safetensors", MFD_CLOEXEC);
        if (fd < 0) return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) return 0;
    tg_params params = model();
    tg_safetensors *f = tg_safetensors_open(path);
    if (!f) return 0;
    tg_scope *scope = tg_scope_begin();
    for (int i = 0; i < tg_safetensors_count(f); i++) {
        const tg_safetensors_entry *e = tg_safetensors_entry_at(f, i);
        tg_tensor *t = tg_safetensors_get(f, i);
        if (e->readable && (!t || tg_numel(t) != e->numel)) __builtin_trap();
        if (tg_safetensors_find(f, e->name) != i) __builtin_trap();
    }
    for (int i = 0; i < tg_safetensors_metadata_count(f); i++) {
        const tg_metadata_item *m = tg_safetensors_metadata_at(f, i);
        if (tg_safetensors_metadata(f, m->key) != m->value) __builtin_trap();
    }
    tg_state_keys keys;
    tg_state_load_from(f, NULL, &params, false, &keys);
    tg_state_keys_free(&keys);
    tg_state_load_from(f, "head.", &params, true, NULL);
    tg_scope_end(scope);
    tg_safetensors_close(f);
    return 0;
}
