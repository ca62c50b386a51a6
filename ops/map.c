#include <string.h>

#include "map.h"

tg_tensor *tg__map(const char *fn, tg_kernel kernel, int n, tg_tensor *const *inputs, const double *args)
{
    for (int i = 0; i < n; i++)
        if (!tg__check_float(fn, inputs[i])) return NULL;
    for (int i = 1; i < n; i++)
        if (inputs[i]->dtype != inputs[0]->dtype)
            return tg_error("%s: expected all inputs to have the same dtype, got %s and %s", fn,
                            tg_dtype_name(inputs[0]->dtype), tg_dtype_name(inputs[i]->dtype));
    int ndim = inputs[0]->ndim;
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, inputs[0]->shape, sizeof shape);
    for (int i = 1; i < n; i++) {
        tg_tensor so_far = tg__header(inputs[0], ndim, shape, (int64_t[TG_MAX_DIMS]){0}, 0);
        if (tg__broadcast_shape(fn, &so_far, inputs[i], &ndim, shape) < 0) return NULL;
    }
    tg_tensor *out = tg__new(fn, inputs[0]->dtype, ndim, shape);
    if (!out) return NULL;
    const tg_tensor *ops[4] = {out};
    for (int i = 0; i < n; i++) ops[i + 1] = inputs[i];
    tg__foreach(n + 1, ops, ndim, shape, kernel.k[out->dtype], (void *)args, true);
    return out;
}
