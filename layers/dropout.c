/* torch.nn.Dropout on the dropout op. */
#include <stdlib.h>

#include "../core/internal.h"
#include <tapegrad/dropout.h>
#include <tapegrad/nn.h>

tg_dropout_layer *tg_dropout_layer_new(double p)
{
    if (!(p >= 0 && p <= 1))
        return tg_error("tg_dropout_layer_new: dropout probability has to be between 0 and 1, but got %g", p);
    tg_dropout_layer *layer = tg__calloc(1, sizeof *layer);
    if (!layer) return tg_error("tg_dropout_layer_new: out of memory");
    *layer = (tg_dropout_layer){.p = p, .training = true};
    return layer;
}

void tg_dropout_layer_free(tg_dropout_layer *layer) { free(layer); }

tg_tensor *tg_dropout_layer_forward(tg_dropout_layer *layer, tg_tensor *x)
{
    const char *fn = "tg_dropout_layer_forward";
    if (!layer) return tg_error("%s: NULL layer", fn);
    uint64_t errors = tg__error_count();
    return tg__named_result(fn, errors, tg_dropout(x, layer->p, layer->training));
}

void tg_dropout_layer_train(tg_dropout_layer *layer, bool training)
{
    if (layer) layer->training = training;
}
