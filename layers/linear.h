/* Linear layer: torch.nn.Linear. y = x W^T + b over the last dim.
 *
 * Parameters "weight" (out, in) and "bias" (out), both initialised as
 * PyTorch's kaiming_uniform(a = sqrt(5)): uniform in [-1/sqrt(in),
 * 1/sqrt(in)) from the library generator (tg_manual_seed). */
#ifndef TG_LINEAR_LAYER_H
#define TG_LINEAR_LAYER_H

#include <tapegrad/params.h>
#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t in_features, out_features;
    tg_tensor *weight; /* (out, in) */
    tg_tensor *bias;   /* (out), or NULL without bias */
} tg_linear_layer;

/* A layer with persistent parameters of dtype (TG_F32 or TG_F64). NULL with
 * a message for sizes < 1 or a bad dtype. */
tg_linear_layer *tg_linear_layer_new(int64_t in_features, int64_t out_features, bool bias, tg_dtype dtype);
/* Free the layer and its parameters. NULL is ignored. */
void tg_linear_layer_free(tg_linear_layer *layer);
/* x (..., in) -> (..., out). NULL with a message that names this function
 * and quotes the op's on a wrong feature size or dtype ("...: tg_linear:
 * mat1 and mat2 shapes cannot be multiplied ..."); NULL and no new message
 * for a NULL x, as an op. */
tg_tensor *tg_linear_layer_forward(tg_linear_layer *layer, tg_tensor *x);
/* List "weight" and "bias" under prefix. Returns 0 or -1. */
int tg_linear_layer_params(tg_linear_layer *layer, tg_params *out, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
