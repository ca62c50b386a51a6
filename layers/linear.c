/* torch.nn.Linear on the fused linear op. */
#include <math.h>
#include <stdlib.h>

#include "../core/internal.h"
#include <tapegrad/linalg.h>
#include <tapegrad/linear.h>

tg_linear_layer *tg_linear_layer_new(int64_t in_features, int64_t out_features, bool bias, tg_dtype dtype)
{
    const char *fn = "tg_linear_layer_new";
    if (in_features < 1 || out_features < 1)
        return tg_error("%s: in_features and out_features must be positive, got %lld and %lld", fn,
                        (long long)in_features, (long long)out_features);
    if (!tg__float_dtype(fn, "dtype", dtype)) return NULL;
    tg_linear_layer *layer = tg__calloc(1, sizeof *layer);
    if (!layer) return tg_error("%s: out of memory", fn);
    layer->in_features = in_features;
    layer->out_features = out_features;
    /* kaiming_uniform(a = sqrt(5)): gain sqrt(2 / 6) * sqrt(3 / in) = 1 / sqrt(in) */
    double bound = 1.0 / sqrt((double)in_features);
    /* Stop at the first failure, naming this function before the cause. */
    layer->weight = tg_param_uniform(dtype, 2, (int64_t[]){out_features, in_features}, -bound, bound);
    if (layer->weight && bias) layer->bias = tg_param_uniform(dtype, 1, &out_features, -bound, bound);
    if (!layer->weight || (bias && !layer->bias)) {
        tg_linear_layer_free(layer);
        return tg_error("%s: %s", fn, tg_last_error());
    }
    return layer;
}

void tg_linear_layer_free(tg_linear_layer *layer)
{
    if (!layer) return;
    tg_free(layer->weight);
    tg_free(layer->bias);
    free(layer);
}

tg_tensor *tg_linear_layer_forward(tg_linear_layer *layer, tg_tensor *x)
{
    const char *fn = "tg_linear_layer_forward";
    if (!layer) return tg_error("%s: NULL layer", fn);
    uint64_t errors = tg__error_count();
    return tg__named_result(fn, errors, tg_linear(x, layer->weight, layer->bias));
}

int tg_linear_layer_params(tg_linear_layer *layer, tg_params *out, const char *prefix)
{
    if (!layer || !out) return tg_fail("tg_linear_layer_params: NULL layer or collection");
    if (tg_params_add(out, prefix, "weight", layer->weight) < 0) return -1;
    return layer->bias ? tg_params_add(out, prefix, "bias", layer->bias) : 0;
}
