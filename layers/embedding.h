/* Embedding layer: torch.nn.Embedding, a lookup table of num_embeddings
 * rows of embedding_dim.
 *
 * Parameter "weight" (num, dim) starts normal(0, 1) from the library
 * generator, with the padding row (if any) zero; that row gets no gradient,
 * so it stays zero during training. */
#ifndef TG_EMBEDDING_LAYER_H
#define TG_EMBEDDING_LAYER_H

#include <tapegrad/params.h>
#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t num_embeddings, embedding_dim;
    int64_t padding_idx; /* -1 for none */
    tg_tensor *weight;   /* (num, dim) */
} tg_embedding_layer;

/* A table with a persistent weight of dtype (TG_F32 or TG_F64). padding_idx
 * is -1 for none or a row in [0, num). NULL with a message for sizes < 1,
 * a padding_idx out of range or a bad dtype. */
tg_embedding_layer *tg_embedding_layer_new(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx,
                                           tg_dtype dtype);
/* Free the layer and its weight. NULL is ignored. */
void tg_embedding_layer_free(tg_embedding_layer *layer);
/* indices I64 (...) with values in [0, num) -> (..., dim). NULL with a
 * message that names this function and quotes the op's for a non-I64
 * tensor or an index out of range; NULL and no new message for NULL
 * indices, as an op. */
tg_tensor *tg_embedding_layer_forward(tg_embedding_layer *layer, tg_tensor *indices);
/* List "weight" under prefix. Returns 0 or -1. */
int tg_embedding_layer_params(tg_embedding_layer *layer, tg_params *out, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
