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
#include <tapegrad/threads.h>

#define TG_MAGIC 0x7467746eu /* "tgtn" */

/* Every failure in the library is one statement, `return` and the helper
 * that fits the function's result: tg_error (NULL) and tg_fail (-1), from
 * error.h, and for predicates and functions returning a number: */
#define TG__REJECT(...) (tg_fail(__VA_ARGS__), false)
#define TG__NAN(...) (tg_fail(__VA_ARGS__), NAN)

/* Elements above which loops split across OpenMP threads. */
#define TG_PARALLEL_MIN 32768

/* --- parallel regions that give way on a busy machine ------------------------
 * Every parallel region of the library is written
 *
 *     tg__parallel region = tg__parallel_begin(tg__threads_for(work, TG_PARALLEL_MIN));
 *     #pragma omp parallel num_threads(region.threads) if (region.threads > 1)
 *     {
 *         tg__parallel_arrive(&region);
 *         #pragma omp for schedule(static)
 *         for (...) ...
 *     }
 *     tg__parallel_end(&region);
 *
 * so that the library sees how late its helper threads start. When another
 * process holds a core, a helper thread waits for the scheduler and every
 * region waits for it: two threads then run slower than one. When regions
 * keep starting late, regions run on the calling thread alone for a while
 * (10 ms, doubling up to 1 s while the load lasts), then try threads again.
 * Every parallel loop of the library gives bit-identical results for any
 * thread count, so this changes time, never values. */
#define TG__PARALLEL_SLOTS 64
typedef struct {
    int threads;
    double start;
    double arrive[TG__PARALLEL_SLOTS]; /* when helper thread i began (seconds) */
} tg__parallel;
/* The threads wanted for work units, parallel from min_work on. */
int tg__threads_for(int64_t work, int64_t min_work);
tg__parallel tg__parallel_begin(int wanted);
void tg__parallel_arrive(tg__parallel *r);
void tg__parallel_end(tg__parallel *r);

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
/* --- stack headers -----------------------------------------------------------
 * Headers on the stack over t's storage: nothing recorded, nothing to free,
 * no gradient. They are how kernels and backward functions look at part of a
 * tensor (a slice, a matrix of a batch, rows) or at it under another
 * geometry; every one is built by tg__header. */

/* t's storage with the given geometry. */
tg_tensor tg__header(const tg_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                     int64_t offset);
/* t restricted to [start, start + len) along dim. */
tg_tensor tg__slice(const tg_tensor *t, int dim, int64_t start, int64_t len);
/* t restricted to [start[d], start[d] + len[d]) along every dim. */
tg_tensor tg__region(const tg_tensor *t, const int64_t *start, const int64_t *len);
/* t at index along dim, that dim removed. */
tg_tensor tg__selected(const tg_tensor *t, int dim, int64_t index);
/* t seen with the shape it broadcasts to (ndim >= t->ndim dims, trailing
 * dims aligned): new leading dims and size-1 dims that grow get stride 0. */
tg_tensor tg__spread(const tg_tensor *t, int ndim, const int64_t *shape);
/* A 2-D t with its dims swapped. */
tg_tensor tg__transposed(const tg_tensor *t);
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

/* Tape bookkeeping used by scope.c. */
tg_node *tg__tape_tail(void);
void tg__tape_rewind(tg_node *tail);

#endif
