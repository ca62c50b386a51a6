/* The tensor: a strided view of reference-counted storage.
 *
 * A tensor has up to 8 dims, int64 shape and strides counted in elements,
 * and an element offset into its storage. Views (transpose, narrow, expand,
 * ...) share storage and copy nothing. Tensors made inside a scope live in
 * the scope's arena and vanish with it; tensors made outside any scope are
 * persistent and freed with tg_free (see scope.h).
 *
 * Functions taking a tensor return NULL when given NULL, without a new error
 * message, so a whole expression can be checked once at the end.
 *
 * Threads may read one tensor at once (a data set shared by models trained
 * one per thread): use it as an op's input, take views of it, record graphs
 * that read it, in scopes or outside any. Writing it (in-place ops, an
 * optimizer step, a backward into its .grad) or freeing it while another
 * thread uses it is for the caller to prevent. A graph is backpropagated
 * on the thread that recorded it: a backward that reaches a result of
 * another thread's op fails (tg_backward). */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/error.h>

#define TG_MAX_DIMS 8

typedef enum { TG_F32 = 0, TG_F64 = 1, TG_I64 = 2 } tg_dtype;

typedef struct tg_storage {
    void *data;
    int64_t nbytes;
    int refcount;      /* persistent storage only; arena storage is not counted;
                          changed atomically (threads may share a tensor) */
    bool persistent;   /* malloc'd (freed at refcount 0) rather than arena-owned */
    int64_t version;   /* bumped by every in-place write (tg_copy_, tg_fill_, tg_add_,
                          tg_mul_scalar_, optimizer steps): backward refuses a tensor
                          it saved that has been modified since, as PyTorch does */
    /* The engine's own bookkeeping (core/autograd.c): whether its memory may
     * be, or has been, handed out again, how many gradient buffers hold it
     * during a backward pass, and its number in order of making. */
    uint8_t reuse;
    int32_t grad_homes;
    uint64_t serial;
} tg_storage;

typedef struct tg_node tg_node;

typedef struct tg_tensor {
    uint32_t magic;            /* cleared when the owning scope ends */
    int ndim;
    tg_dtype dtype;
    bool requires_grad;
    bool persistent;           /* header malloc'd; free with tg_free */
    bool in_grad_slot;         /* serves as some tensor's gradient buffer in backward */
    uint8_t graph_state;       /* persistent: TG__GRAPH_NONE, _PENDING, ... (core/scope.c) */
    int64_t shape[TG_MAX_DIMS];
    int64_t stride[TG_MAX_DIMS];
    int64_t offset;            /* in elements */
    tg_storage *storage;
    tg_node *node;             /* the op that made it; NULL for leaves */
    struct tg_tensor *grad;    /* leaves: gradient accumulated by tg_backward */
    struct tg_tensor *pass_grad; /* leaves during a backward pass: its gradient, added
                                    into grad only when the whole pass succeeds */
    struct tg_tensor *scope_prev; /* scope tensors: the one made before it, for scope end */
} tg_tensor;

/* --- dtypes -------------------------------------------------------------- */

/* Bytes per element: 4, 8 or 8. */
size_t tg_dtype_size(tg_dtype dtype);
/* "float32", "float64" or "int64" (PyTorch's names). */
const char *tg_dtype_name(tg_dtype dtype);

/* --- factories ------------------------------------------------------------
 * shape has ndim entries (0 <= ndim <= 8, each >= 0, multiplying to less
 * than 2^60 with zeros counted as ones: "too large" otherwise). The result is
 * contiguous, in the current scope (or persistent outside any scope). An
 * int64 tensor cannot be filled with NaN, infinities or values beyond its
 * range (an error, as in PyTorch). */
tg_tensor *tg_empty(tg_dtype dtype, int ndim, const int64_t *shape);
tg_tensor *tg_zeros(tg_dtype dtype, int ndim, const int64_t *shape);
tg_tensor *tg_ones(tg_dtype dtype, int ndim, const int64_t *shape);
tg_tensor *tg_full(tg_dtype dtype, int ndim, const int64_t *shape, double value);
/* 0-dim tensor holding value. */
tg_tensor *tg_scalar(tg_dtype dtype, double value);
/* 1-D: start, start+step, ... while < end (> end for negative step). For
 * TG_I64, start, end and step are truncated to integers first, as PyTorch
 * does (a step that truncates to 0 is an error). */
tg_tensor *tg_arange(tg_dtype dtype, double start, double end, double step);
/* 1-D: steps values evenly from start to end inclusive (one step: start). */
tg_tensor *tg_linspace(tg_dtype dtype, double start, double end, int64_t steps);
/* (n, n) identity. */
tg_tensor *tg_eye(tg_dtype dtype, int64_t n);
/* Uniform in [low, high), normal(mean, std) (both float dtypes only, as
 * PyTorch), integers in [low, high): all from the library's seeded
 * generator (see random.h). */
tg_tensor *tg_rand(tg_dtype dtype, int ndim, const int64_t *shape, double low, double high);
tg_tensor *tg_randn(tg_dtype dtype, int ndim, const int64_t *shape, double mean, double std);
tg_tensor *tg_randint(int ndim, const int64_t *shape, int64_t low, int64_t high);
/* Copy of a C array of numel elements of the given dtype (float, double or
 * int64_t), laid out row-major (data may be NULL when numel is 0). */
tg_tensor *tg_from_array(tg_dtype dtype, int ndim, const int64_t *shape, const void *data);
/* Same shape and dtype as t, filled with 0 or 1. */
tg_tensor *tg_zeros_like(const tg_tensor *t);
tg_tensor *tg_ones_like(const tg_tensor *t);
/* A contiguous copy of t's values (differentiable). */
tg_tensor *tg_clone(tg_tensor *t);
/* t's values converted to dtype (differentiable between float dtypes).
 * NaN, infinities and values beyond int64's range cannot become int64: an
 * error, not a garbage value. */
tg_tensor *tg_cast(tg_tensor *t, tg_dtype dtype);
/* A contiguous tensor with t's values (differentiable): a new header over
 * t's storage when t is contiguous already, else a copy. Never t itself
 * (see the ownership rule in scope.h). */
tg_tensor *tg_contiguous(tg_tensor *t);

/* --- inspection ---------------------------------------------------------- */

/* Number of elements (the product of the shape; 1 for a 0-dim tensor). */
int64_t tg_numel(const tg_tensor *t);
/* Size of dim (negative counts from the end); -1 with a message if out of range
 * (any dim of a 0-dim tensor, as in PyTorch). */
int64_t tg_size(const tg_tensor *t, int dim);
bool tg_is_contiguous(const tg_tensor *t);
/* Pointer to the first element (storage data + offset). */
void *tg_data(const tg_tensor *t);
/* The single value of a one-element tensor, as double; NAN with a message otherwise. */
double tg_item(const tg_tensor *t);
/* Element at a multi-index of t->ndim entries, as double. */
double tg_get(const tg_tensor *t, const int64_t *index);
/* Copy t's values in row-major order into out (numel elements of t's
 * dtype; out may be NULL when numel is 0). Returns 0, or -1 with a message. */
int tg_copy_to_array(const tg_tensor *t, void *out);
/* True if a and b have the same ndim and shape. */
bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);
/* Writes "[3,4]" into buf (for error messages); returns buf. */
char *tg_shape_str(const tg_tensor *t, char *buf, size_t len);

/* --- views: share storage, copy nothing, differentiable -------------------
 * dim arguments may be negative (counting from the end), as in PyTorch. */

/* New shape with the same numel; one entry may be -1. Fails if the strides
 * make a view impossible (use tg_reshape, which copies then). */
tg_tensor *tg_view(tg_tensor *t, int ndim, const int64_t *shape);
/* tg_view when possible, else a contiguous copy reshaped. */
tg_tensor *tg_reshape(tg_tensor *t, int ndim, const int64_t *shape);
tg_tensor *tg_transpose(tg_tensor *t, int dim0, int dim1);
/* Dims reordered: result dim i is t's dim perm[i]. */
tg_tensor *tg_permute(tg_tensor *t, const int *perm);
/* Elements start .. start+length-1 along dim. */
tg_tensor *tg_narrow(tg_tensor *t, int dim, int64_t start, int64_t length);
/* Index along dim, removing it. */
tg_tensor *tg_select(tg_tensor *t, int dim, int64_t index);
/* Size-1 dims broadcast to shape (stride 0); -1 keeps a size. shape may
 * have more dims than t (new leading dims). */
tg_tensor *tg_expand(tg_tensor *t, int ndim, const int64_t *shape);
/* Remove dim if its size is 1 (dim < -ndim..ndim-1 is an error). */
tg_tensor *tg_squeeze(tg_tensor *t, int dim);
/* Remove every size-1 dim. */
tg_tensor *tg_squeeze_all(tg_tensor *t);
/* Insert a size-1 dim at dim (-ndim-1 <= dim <= ndim). */
tg_tensor *tg_unsqueeze(tg_tensor *t, int dim);
/* Merge dims start_dim..end_dim into one. */
tg_tensor *tg_flatten(tg_tensor *t, int start_dim, int end_dim);
/* Split into pieces of split_size along dim (the last may be smaller; an
 * empty dim gives one empty piece, and may have split_size 0, as torch);
 * writes the views into out (room for max_out) and returns how many there
 * are, or -1 if they do not fit (or memory runs out: then none is made). */
int tg_split(tg_tensor *t, int64_t split_size, int dim, int max_out, tg_tensor **out);
/* Split into at most `chunks` pieces of ceil(size/chunks) along dim, as
 * torch.chunk (fewer when the size is small; `chunks` empty pieces of an
 * empty dim); writes them into out (room for max_out) and returns how many
 * there are, or -1. */
int tg_chunk(tg_tensor *t, int chunks, int dim, int max_out, tg_tensor **out);

/* --- in-place updates (no autograd; for optimizers and gradient buffers) --
 * Each fails if dst requires grad while grad mode is on. src broadcasts to
 * dst's shape. Each advances dst's storage version, so that a backward that
 * needs the old values refuses to run (see autograd.h). tg_copy_ of float
 * values into an int64 tensor fails on NaN, infinities and values beyond
 * int64's range; tg_add_ and tg_mul_scalar_ of an int64 tensor take an
 * int64 source and integer scalars only (PyTorch's rule). As in PyTorch,
 * tg_copy_, tg_add_ and tg_mul_scalar_ refuse an expanded dst (several of
 * its elements in one place) and a src that shares only part of dst's
 * memory (a shifted or transposed view of it): clone first. Return 0 or -1. */
int tg_copy_(tg_tensor *dst, const tg_tensor *src);
int tg_fill_(tg_tensor *dst, double value);
/* dst += alpha * src */
int tg_add_(tg_tensor *dst, const tg_tensor *src, double alpha);
/* dst *= value */
int tg_mul_scalar_(tg_tensor *dst, double value);

/* --- lifetime ------------------------------------------------------------ */

/* Free a persistent tensor (its storage when no other persistent tensor
 * shares it) and its .grad. A tensor that belongs to a scope is left to the
 * scope. NULL is ignored. In debug builds (NDEBUG undefined) a second
 * tg_free of the same tensor records a message instead of freeing twice.
 * A tensor that a graph recorded outside any scope reads is the caller's
 * no more, but its memory stays until that graph no longer reads it
 * (scope.h). */
void tg_free(tg_tensor *t);

/* Mark a leaf as requiring grad (float dtypes only); returns t itself (the
 * one function that hands back its argument, for chaining), or NULL. */
tg_tensor *tg_requires_grad(tg_tensor *t, bool requires_grad);

/* --- printing ------------------------------------------------------------ */

/* PyTorch's text: "tensor([[1.0000, 2.0000], ...], dtype=torch.float64)",
 * with its formats (4 decimals, "3." for integers, scientific notation for
 * wide ranges), widths and 80-column lines, summarised with "..." past 1000
 * elements. Written into buf (truncated to len); returns buf. */
char *tg_repr(const tg_tensor *t, char *buf, size_t len);
/* tg_repr to stdout with a newline. */
void tg_print(const tg_tensor *t);

#ifdef __cplusplus
}
#endif

#endif
