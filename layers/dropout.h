/* Dropout layer: torch.nn.Dropout. In training mode (the default, as a
 * torch module) each element is zeroed with probability p and the rest
 * scaled by 1 / (1 - p), with masks from the library generator; in
 * evaluation mode it passes x through. No parameters. */
#ifndef TG_DROPOUT_LAYER_H
#define TG_DROPOUT_LAYER_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/tensor.h>

typedef struct {
    double p;
    bool training;
} tg_dropout_layer;

/* NULL with a message unless 0 <= p <= 1. */
tg_dropout_layer *tg_dropout_layer_new(double p);
/* NULL is ignored. */
void tg_dropout_layer_free(tg_dropout_layer *layer);
/* y has x's shape. NULL with a message that names this function and quotes
 * the op's for a tensor that is not float; NULL and no new message for a
 * NULL x, as an op. */
tg_tensor *tg_dropout_layer_forward(tg_dropout_layer *layer, tg_tensor *x);
/* Training mode (dropout on) or evaluation mode (identity). */
void tg_dropout_layer_train(tg_dropout_layer *layer, bool training);

#ifdef __cplusplus
}
#endif

#endif
