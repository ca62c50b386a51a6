/* Internal helpers shared by core/ and ops/ (not installed).
 *
 * Op files need four things from here: argument checking (tg__check,
 * tg__dim), result allocation (tg__new), broadcasting (tg__broadcast_shape)
 * and the strided loop driver (tg__foreach), which walks any number of
 * operands of any strides row by row and hands each row to a kernel. Ops
 * built from other ops also use tg__autoscope, below. */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

#include <math.h>

#include <tapegrad/autograd.h>
#include <tapegrad/scope.h>
#include <tapegrad/tensor.h>

#define TG_MAGIC 0x7467746eu /* "tgtn" */

/* Every failure in the library is one statement, `return` and the helper
 * that fits the function's result: tg_error (NULL) and tg_fail (-1), from
 * error.h, and for predicates and functions returning a number: */
#define TG__REJECT(...) (tg_fail(__VA_ARGS__), false)
#define TG__NAN(...) (tg_fail(__VA_ARGS__), NAN)

/* Elements above which loops split across OpenMP threads. */
#define TG_PARALLEL_MIN 32768

/* False for NULL (no message: NULL propagates) and for a tensor whose scope
 * has ended (message naming fn). */
bool tg__check(const char *fn, const tg_tensor *t);
/* As tg__check, and t must be F32 or F64. */
bool tg__check_float(const char *fn, const tg_tensor *t);

/* Normalise a possibly negative dim against ndim; -1 with a PyTorch-style
 * message ("Dimension out of range (expected to be in range of [-2, 1], but
 * got 5)") when out of range. */
int tg__dim(const char *fn, int dim, int ndim);

/* Memory from this thread's arena, 64-byte aligned: the innermost scope's,
 * or the base level when no scope is open (tape nodes). NULL with a message
 * if out of memory. */
void *tg__arena_alloc(size_t nbytes);

/* A contiguous uninitialised tensor (scope or persistent, as tg_empty). */
tg_tensor *tg__new(tg_dtype dtype, int ndim, const int64_t *shape);
/* Always persistent (leaf gradients, optimizer state). */
tg_tensor *tg__new_persistent(tg_dtype dtype, int ndim, const int64_t *shape);
/* A header sharing t's storage with the given geometry (no node recorded). */
tg_tensor *tg__view_of(const tg_tensor *t, int ndim, const int64_t *shape,
                       const int64_t *stride, int64_t offset);
/* A header on the stack over t's storage with the given geometry: nothing
 * recorded, nothing to free, no gradient. The one way kernels and backward
 * functions look at part of a tensor (a matrix of a batch, a slice, rows). */
tg_tensor tg__header(const tg_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                     int64_t offset);
/* New tensor shaped like t. */
tg_tensor *tg__new_like(const tg_tensor *t);

/* Broadcast shapes a and b into out (PyTorch's rules); -1 with a message
 * naming fn and both shapes if they do not broadcast. */
int tg__broadcast_shape(const char *fn, const tg_tensor *a, const tg_tensor *b,
                        int *ndim, int64_t *out);

/* Row kernel: n elements; ptrs[i] points at operand i's first element of the
 * row; steps[i] is its stride in bytes (0 for a broadcast operand). */
typedef void (*tg_row_fn)(int64_t n, char **ptrs, const int64_t *steps, void *ctx);

/* Call fn for every innermost row of the index space `shape` (ndim dims).
 * Operand i is ops[i], which must broadcast to shape (its trailing dims are
 * aligned with shape's). Dims that are contiguous for every operand are
 * merged, so contiguous operands make one long row. When parallel is true
 * and the space is large, rows (or pieces of one long row) run on OpenMP
 * threads: only use it when every element's result depends on that element
 * alone. At most 4 operands. */
void tg__foreach(int nops, const tg_tensor *const *ops, int ndim, const int64_t *shape,
                 tg_row_fn fn, void *ctx, bool parallel);

/* Element i of a row-major walk, converted to/from double (slow paths). */
double tg__load(const void *p, tg_dtype dtype);
void tg__store(void *p, tg_dtype dtype, double v);

/* True if any of the n tensors requires grad. */
bool tg__any_requires_grad(int n, tg_tensor *const *ts);

/* The scope depth of this thread (0: no scope open). */
int tg__scope_depth(void);

/* The newest tensor header made in a scope on this thread (a list through
 * scope_prev), so that scope end can mark them dead. */
void tg__scope_register(tg_tensor *t);

/* Ops made of other ops, called outside any scope with nothing to record,
 * run inside a scope of their own so that their temporaries vanish, and
 * return a persistent copy of their result:
 *     tg_scope *s = tg__autoscope(1, &x);
 *     return tg__autoscope_keep(s, compute(x));
 * tg__autoscope returns NULL (and keep passes the result through) inside a
 * scope, or when the op records a node, which must outlive the call. */
tg_scope *tg__autoscope(int n, tg_tensor *const *inputs);
tg_tensor *tg__autoscope_keep(tg_scope *s, tg_tensor *result);
/* For ops with a second result (an index tensor): keep both, end the scope. */
tg_tensor *tg__autoscope_keep2(tg_scope *s, tg_tensor *result, tg_tensor **second);

/* --- files (safetensors.c, safetensors_save.c) --- */

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if it is not one
 * (truncated, overlong, a surrogate, past U+10FFFF); avail > 0 bytes. */
int tg__utf8_length(const unsigned char *s, int64_t avail);
/* Writes "[3,4]" for a shape given as ndim sizes into buf; returns buf. */
char *tg__shape_text(int ndim, const int64_t *shape, char *buf, size_t len);
/* Test seam for atomic saves: the k-th I/O call (counting from 1: opening
 * the temporary file, each write, the flush, fsync, close and the rename)
 * of the saves that follow on this thread fails with errno err, once;
 * k = 0 turns it off. tg__io_calls is the number of such calls made on
 * this thread since the last tg__io_fault. */
void tg__io_fault(int64_t k, int err);
int64_t tg__io_calls(void);

/* Tape bookkeeping used by scope.c. */
tg_node *tg__tape_tail(void);
void tg__tape_rewind(tg_node *tail);

#endif
