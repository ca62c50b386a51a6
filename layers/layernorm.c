/* torch.nn.LayerNorm on the layer-norm op. */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include <tapegrad/layernorm.h>
#include <tapegrad/nn.h>

tg_layernorm_layer *tg_layernorm_layer_new(int n_normalized, const int64_t *normalized_shape, double eps,
                                           bool elementwise_affine, tg_dtype dtype)
{
    const char *fn = "tg_layernorm_layer_new";
    if (n_normalized < 1 || n_normalized > TG_MAX_DIMS)
        return tg_error("%s: expected 1 to %d normalized dims, got %d", fn, TG_MAX_DIMS, n_normalized);
    if (!normalized_shape) return tg_error("%s: normalized_shape is NULL for %d dims", fn, n_normalized);
    for (int d = 0; d < n_normalized; d++)
        if (normalized_shape[d] < 1)
            return tg_error("%s: normalized_shape[%d] must be positive, got %lld", fn, d, (long long)normalized_shape[d]);
    if (!(eps >= 0)) return tg_error("%s: eps must be non-negative, got %g", fn, eps);
    if (!tg__float_dtype(fn, "dtype", dtype)) return NULL;
    tg_layernorm_layer *layer = tg__calloc(1, sizeof *layer);
    if (!layer) return tg_error("%s: out of memory", fn);
    layer->n_normalized = n_normalized;
    memcpy(layer->normalized_shape, normalized_shape, sizeof *normalized_shape * (size_t)n_normalized);
    layer->eps = eps;
    if (elementwise_affine) {
        /* Stop at the first failure, naming this function before the cause. */
        if (!(layer->weight = tg_param_full(dtype, n_normalized, normalized_shape, 1.0)) ||
            !(layer->bias = tg_param_full(dtype, n_normalized, normalized_shape, 0.0))) {
            tg_error("%s: %s", fn, tg_last_error());
            tg_layernorm_layer_free(layer);
            return NULL;
        }
    }
    return layer;
}

void tg_layernorm_layer_free(tg_layernorm_layer *layer)
{
    if (!layer) return;
    tg_free(layer->weight);
    tg_free(layer->bias);
    free(layer);
}

tg_tensor *tg_layernorm_layer_forward(tg_layernorm_layer *layer, tg_tensor *x)
{
    const char *fn = "tg_layernorm_layer_forward";
    if (!layer) return tg_error("%s: NULL layer", fn);
    if (!tg__check(fn, x)) return NULL;
    int n = layer->n_normalized;
    bool ok = x->ndim >= n;
    for (int d = 0; ok && d < n; d++) ok = x->shape[x->ndim - n + d] == layer->normalized_shape[d];
    if (!ok) {
        char s[128], want[128];
        int len = 0;
        for (int d = 0; d < n && len < (int)sizeof want; d++)
            len += snprintf(want + len, sizeof want - (size_t)len, "%s%lld", d ? ", " : "", (long long)layer->normalized_shape[d]);
        return tg_error("%s: Given normalized_shape=[%s], expected input with shape [*, %s], but got input of size %s",
                        fn, want, want, tg_shape_str(x, s, sizeof s));
    }
    /* A dtype that is not the parameters' is the op's to refuse. */
    uint64_t errors = tg__error_count();
    return tg__named_result(fn, errors, tg_layer_norm(x, n, layer->weight, layer->bias, layer->eps));
}

int tg_layernorm_layer_params(tg_layernorm_layer *layer, tg_params *out, const char *prefix)
{
    if (!layer || !out) return tg_fail("tg_layernorm_layer_params: NULL layer or collection");
    if (!layer->weight) return 0;
    if (tg_params_add(out, prefix, "weight", layer->weight) < 0) return -1;
    return tg_params_add(out, prefix, "bias", layer->bias);
}
