/* torch.nn.Embedding on the embedding op. */
#include <stdlib.h>

#include "../core/internal.h"
#include <tapegrad/autograd.h>
#include <tapegrad/embedding.h>
#include <tapegrad/shape.h>

tg_embedding_layer *tg_embedding_layer_new(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx,
                                           tg_dtype dtype)
{
    const char *fn = "tg_embedding_layer_new";
    if (num_embeddings < 1 || embedding_dim < 1)
        return tg_error("%s: num_embeddings and embedding_dim must be positive, got %lld and %lld", fn,
                        (long long)num_embeddings, (long long)embedding_dim);
    if (padding_idx < -1 || padding_idx >= num_embeddings)
        return tg_error("%s: padding_idx must be -1 (none) or within num_embeddings %lld, got %lld", fn,
                        (long long)num_embeddings, (long long)padding_idx);
    if (!tg__float_dtype(fn, "dtype", dtype)) return NULL;
    tg_embedding_layer *layer = tg__calloc(1, sizeof *layer);
    if (!layer) return tg_error("%s: out of memory", fn);
    *layer = (tg_embedding_layer){.num_embeddings = num_embeddings, .embedding_dim = embedding_dim,
                                  .padding_idx = padding_idx};
    layer->weight = tg_param_normal(dtype, 2, (int64_t[]){num_embeddings, embedding_dim}, 0.0, 1.0);
    if (!layer->weight) {
        free(layer);
        return tg_error("%s: %s", fn, tg_last_error());
    }
    if (padding_idx >= 0) {
        /* A header on the stack: nothing to allocate, nothing to fail. */
        tg_tensor *w = layer->weight;
        tg_tensor row = tg__header(w, 1, &w->shape[1], &w->stride[1], w->offset + padding_idx * w->stride[0]);
        bool was = tg_set_grad_enabled(false);
        tg_fill_(&row, 0.0);
        tg_set_grad_enabled(was);
    }
    return layer;
}

void tg_embedding_layer_free(tg_embedding_layer *layer)
{
    if (!layer) return;
    tg_free(layer->weight);
    free(layer);
}

tg_tensor *tg_embedding_layer_forward(tg_embedding_layer *layer, tg_tensor *indices)
{
    const char *fn = "tg_embedding_layer_forward";
    if (!layer) return tg_error("%s: NULL layer", fn);
    uint64_t errors = tg__error_count();
    return tg__named_result(fn, errors, tg_embedding(layer->weight, indices, layer->padding_idx));
}

int tg_embedding_layer_params(tg_embedding_layer *layer, tg_params *out, const char *prefix)
{
    if (!layer || !out) return tg_fail("tg_embedding_layer_params: NULL layer or collection");
    return tg_params_add(out, prefix, "weight", layer->weight);
}
