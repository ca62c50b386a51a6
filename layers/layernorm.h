/* Layer normalisation: torch.nn.LayerNorm over the last n dims, whose
 * sizes are normalized_shape:
 *   y = (x - mean) / sqrt(var + eps) * weight + bias
 * with the biased variance. Parameters "weight" (ones) and "bias" (zeros)
 * of shape normalized_shape when elementwise_affine. */
#ifndef TG_LAYERNORM_LAYER_H
#define TG_LAYERNORM_LAYER_H

#include <tapegrad/params.h>
#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n_normalized;
    int64_t normalized_shape[TG_MAX_DIMS];
    double eps;
    tg_tensor *weight, *bias; /* normalized_shape, or NULL without affine */
} tg_layernorm_layer;

/* torch's defaults are eps 1e-5 and elementwise_affine true. NULL with a
 * message for n_normalized outside 1..8, a size < 1, eps < 0 or a bad dtype. */
tg_layernorm_layer *tg_layernorm_layer_new(int n_normalized, const int64_t *normalized_shape, double eps,
                                           bool elementwise_affine, tg_dtype dtype);
/* Free the layer and its parameters. NULL is ignored. */
void tg_layernorm_layer_free(tg_layernorm_layer *layer);
/* x (..., normalized_shape) -> x's shape. NULL with a message that names
 * this function if x's last dims are not normalized_shape or its dtype is
 * not the parameters' (quoting the op's message); NULL and no new message
 * for a NULL x, as an op. */
tg_tensor *tg_layernorm_layer_forward(tg_layernorm_layer *layer, tg_tensor *x);
/* List "weight" and "bias" under prefix (nothing without affine). Returns 0 or -1. */
int tg_layernorm_layer_params(tg_layernorm_layer *layer, tg_params *out, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
