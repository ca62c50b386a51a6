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

/* Alignment of every data buffer and arena allocation (SIMD loads). */
#define TG_ALIGN 64

/* Sanitizer builds poison arena memory that is not in use and the slack
 * past persistent buffers, so that ASan sees overflows inside them. */
#if defined(__SANITIZE_ADDRESS__)
#define TG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_ASAN 1
#endif
#endif
#ifdef TG_ASAN
#include <sanitizer/asan_interface.h>
#define TG_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TG_POISON(p, n) ((void)(p), (void)(n))
#define TG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The most elements a tensor (or a view) may have, counting a size 0 as 1:
 * its byte size, strides and every byte offset into it fit int64 for every
 * dtype, empty tensors included. */
#define TG_MAX_NUMEL (INT64_MAX / 8)

/* Every failure in the library is one statement, `return` and the helper
 * that fits the function's result: tg_error (NULL) and tg_fail (-1), from
 * error.h, and for predicates and functions returning a number: */
#define TG__REJECT(...) (tg_fail(__VA_ARGS__), false)
#define TG__NAN(...) (tg_fail(__VA_ARGS__), NAN)

/* Put on the elementwise row kernels: the compiler builds each for AVX2 as
 * well as for the baseline, and the loader picks by the CPU (ifunc), so
 * their contiguous loops move 8 floats at a time where the CPU can (the
 * loader chooses, not TG_SIMD). No FMA: fusing a * b + c would round
 * differently from the baseline clone, which computes the same values. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TG__VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TG__VECTOR_CLONES
#endif

/* Elements from which loops split across OpenMP threads. A recurrent step's
 * elementwise ops on a (64, 128) state are this size, and left on one
 * thread they capped two threads at 1.4x one on the LSTM step (B=64,
 * I=H=256: 1.43x at 32768, 1.86x here; a region costs about a
 * microsecond). */
#define TG_PARALLEL_MIN 8192

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
 * (or with the body a function, tg__parallel_run below, as the regions of
 * a recurrent step's small ops are), so that the library sees how late its
 * helper threads start. When another process holds a core, a helper thread
 * waits for the scheduler and every region waits for it: two threads then
 * run slower than one. When regions keep starting late, regions run on the
 * calling thread alone for a while (10 ms, doubling up to 1 s while the
 * load lasts), then try threads again.
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
/* Part tid of nt of [0, n) in whole units of `unit` elements (the last
 * part ends at n): [*lo, *hi), empty when there are fewer units than
 * parts. The split OpenMP's static schedule makes of a loop when unit is
 * 1; the GEMM and the fused ops split their work with it. */
void tg__share(int64_t n, int64_t unit, int nt, int tid, int64_t *lo, int64_t *hi);
tg__parallel tg__parallel_begin(int wanted);
void tg__parallel_arrive(tg__parallel *r);
void tg__parallel_end(tg__parallel *r);
/* Forget what the calling thread has seen of the machine's load (tests). */
void tg__parallel_forget_load(void);
/* The same region with its body a function: fn(ctx) on each of r's
 * threads, arrived, whose loops are orphaned "omp for" constructs (outside
 * a region they run whole on the calling thread). On one thread it calls
 * fn directly: an OpenMP region with if (false) still sets up a team and
 * makes a futex call, 0.3 us, which the small ops of a recurrent step
 * (a fused cell, a copy, a gradient added) paid about ten times a step.
 * Inside a caller's own parallel region it runs fn in a team of one, as
 * the caller's team is not fn's.
 * The caller still brackets it with tg__parallel_begin and _end. */
void tg__parallel_run(tg__parallel *r, void (*fn)(void *), void *ctx);

/* Memory that a later node of a backward pass will read, asked for a few
 * cache lines at a time while the products between run (tg__prefetch_some,
 * called once per tile by the GEMM): a fused cell's backward names the
 * saved activations of the step before it, its rows of them on each
 * thread, which otherwise arrive from memory while that step's backward
 * waits. TG__PREFETCH_RANGES ranges per thread, taken in turn; a new
 * range 0 replaces what is left of all. Zen 4, 1
 * thread: the fused backward from 4.3% of the LSTM B=64 T=50 I=H=256
 * training step to 2.4%, the step 85.7 ms against 86.8, the B=64 T=28
 * I=28 H=128 one 9.72 against 9.86 (medians of 9 alternating runs). All
 * at once, 2,560 prefetches at the end of the cell's backward stalled on
 * the misses they made and cost what they saved. The second range, the
 * rows of the state the cell reads (fuse.c), took the fused backward from
 * 2.1% of that step's samples to 1.65% and the packing of the weight
 * gradients' operands from 1.26% to 1.07%: step 82.96 ms against 83.63
 * (medians of 7 alternating runs). The third holds the step's input
 * x_t: named by the cell's backward for its product's (fuse.c), and in
 * the forward by the layer for the next step's (layers/rnn.c). */
#define TG__PREFETCH_RANGES 3
typedef struct {
    const char *next[TG__PREFETCH_RANGES], *end[TG__PREFETCH_RANGES];
} tg__prefetch_range;
extern _Thread_local tg__prefetch_range tg__prefetching;
/* Range k (below TG__PREFETCH_RANGES) is [p, p + bytes); range 0 set
 * anew empties the others. */
static inline void tg__prefetch_later(int k, const void *p, size_t bytes)
{
    if (k == 0)
        for (int i = 1; i < TG__PREFETCH_RANGES; i++) tg__prefetching.next[i] = tg__prefetching.end[i] = NULL;
    tg__prefetching.next[k] = p;
    tg__prefetching.end[k] = bytes ? (const char *)p + bytes : (const char *)p;
}
/* Range k is rows [r0, r1) of x, 2-D with contiguous rows, unless they
 * lie more than four times their own size apart (a batch-first input's
 * step, T rows of the input between two): the lines between are not
 * worth asking for. */
void tg__prefetch_rows_later(int k, const tg_tensor *x, int64_t r0, int64_t r1);
static inline void tg__prefetch_some(int lines)
{
    for (int k = 0; k < TG__PREFETCH_RANGES && lines > 0; k++)
        for (; lines > 0 && tg__prefetching.next[k] < tg__prefetching.end[k]; lines--, tg__prefetching.next[k] += 64)
            __builtin_prefetch(tg__prefetching.next[k], 0, 2);
}

/* False for NULL (no message: NULL propagates) and for a tensor whose scope
 * has ended (message naming fn). */
bool tg__check(const char *fn, const tg_tensor *t);
/* As tg__check, and t must be F32 or F64. */
bool tg__check_float(const char *fn, const tg_tensor *t);
/* A constructor's dtype: F32 or F64, else false with "fn: what must be
 * float32 or float64, got int64" (or the value, when it is no dtype). */
bool tg__float_dtype(const char *fn, const char *what, tg_dtype dtype);
/* The first dim in which t is expanded (stride 0 over more than one
 * element: several elements share one memory location), or -1. */
int tg__expanded_dim(const tg_tensor *t);

/* Normalise a possibly negative dim against ndim; -1 with a PyTorch-style
 * message ("Dimension out of range (expected to be in range of [-2, 1], but
 * got 5)") when out of range. */
int tg__dim(const char *fn, int dim, int ndim);

/* --- memory (alloc.c, scope.c) ----------------------------------------------
 * Every allocation of the library goes through these wrappers; they return
 * NULL when out of memory without a message (the caller reports it, naming
 * the function the user called). */
void *tg__malloc(size_t nbytes);
void *tg__calloc(size_t count, size_t size);
void *tg__realloc(void *p, size_t nbytes);
/* TG_ALIGN-aligned, the size rounded up to a multiple of it. With
 * huge_pages, a block of 2 MB or more starts on a huge page and asks for
 * them: only for memory that will be used from end to end (core/alloc.c). */
void *tg__aligned_alloc(size_t nbytes, bool huge_pages);
/* True when the allocation about to be made must fail (fault injection);
 * the wrappers and every arena bump ask it. */
bool tg__alloc_refused(size_t nbytes);
/* Test seams. tg__alloc_fail_at(k): the allocation numbered k (from 0,
 * arena bumps included) after this call fails; k < 0 for none, INT64_MAX
 * to count only. tg__alloc_count and tg__alloc_refusals: allocations asked
 * for and refused since, while armed. And tg__alloc_limit(n): refuse every
 * allocation above n bytes (0: none). */
void tg__alloc_fail_at(int64_t k);
int64_t tg__alloc_count(void);
int64_t tg__alloc_refusals(void);
void tg__alloc_limit(size_t max_bytes);

/* Persistent tensor headers alive: added when made (false if the
 * bookkeeping is out of memory), removed when freed (false, in debug
 * builds, for a header that is not alive: a second tg_free). */
bool tg__live_add(const tg_tensor *t);
bool tg__live_remove(const tg_tensor *t);
int64_t tg__live_tensors(void);

/* This thread's scratch buffer `which` (below TG_SCRATCH_BUFFERS) of at least nbytes, its
 * contents not kept when it grows; NULL if out of memory. Freed by
 * tg_release_thread_memory and when the thread exits. */
/* Make sure tg__thread_memory_free runs when this thread exits (false if
 * that cannot be arranged); the arena and the scratch buffers ask it. */
bool tg__thread_holds_memory(void);
/* Free this thread's arena (whatever scopes are open), base-level tape and
 * scratch buffers. */
void tg__thread_memory_free(void);
#define TG_SCRATCH_BUFFERS 1
void *tg__thread_scratch(int which, size_t nbytes);
/* Bytes held by this thread's scratch buffers, and by every thread's. */
size_t tg__thread_scratch_bytes(void);
size_t tg__scratch_bytes(void);
void tg__thread_scratch_release(void);

/* Memory from this thread's arena, TG_ALIGN-aligned: the innermost
 * scope's, or the base level when no scope is open (tape nodes). NULL with
 * a message if out of memory. */
void *tg__arena_alloc(size_t nbytes);
/* The same without a message (the caller reports the failure). */
void *tg__arena_take(size_t nbytes);
/* True if p lies in one of this thread's arena chunks. */
bool tg__arena_owns(const void *p);

/* dst += g summed down to dst's shape (core/grad_sum.c): the sum of a
 * gradient shaped like a broadcast result into its input's gradient,
 * bit-identical for any thread count. Returns 0, or -1 with a message if
 * g does not reduce to dst's shape or dtype. */
int tg__sum_into(tg_tensor *dst, const tg_tensor *g);

/* Messages recorded on this thread so far (a backward pass compares it
 * before and after each node to notice failures inside). */
uint64_t tg__error_count(void);
/* The result of an op a layer's forward (fn) called, given the count of
 * messages before the call: when the op refused its input with a message,
 * NULL with fn's name before the op's message (the user called fn); a
 * result, or a NULL passed on without a new message (a NULL input, a
 * failure already reported), as it is. */
tg_tensor *tg__named_result(const char *fn, uint64_t errors, tg_tensor *y);

/* --- tensors ------------------------------------------------------------------
 * fn names the function the user called, for messages. */

/* False with a message naming fn when a tensor of this shape cannot exist:
 * ndim outside [0, 8], a NULL shape, a negative size, or sizes (zeros
 * counted as ones) multiplying to more than TG_MAX_NUMEL. */
bool tg__valid_shape(const char *fn, int ndim, const int64_t *shape);
/* A contiguous uninitialised tensor (scope or persistent, as tg_empty);
 * NULL with a message naming fn if the shape is invalid or too large, or
 * memory runs out. Every result of the library is made here. */
tg_tensor *tg__new(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape);
/* Always persistent (leaf gradients, optimizer state, parameters). */
tg_tensor *tg__new_persistent(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape);
/* New tensor shaped like t. */
tg_tensor *tg__new_like(const char *fn, const tg_tensor *t);
/* A header sharing t's storage with the given geometry (no node recorded). */
tg_tensor *tg__view_of(const char *fn, const tg_tensor *t, int ndim, const int64_t *shape,
                       const int64_t *stride, int64_t offset);
/* A new header with t's geometry over its storage, recorded as op with the
 * gradient passing through (dx = dy): what a function returns when its
 * result has the same values as its input (never the input itself). */
tg_tensor *tg__alias(const char *fn, const char *op, tg_tensor *t);
/* t itself if contiguous, else a recorded contiguous copy: for the
 * library's own use (tg_contiguous never returns its input). */
tg_tensor *tg__contiguous(tg_tensor *t);
/* False with a message naming fn when some value of the float tensor src
 * (NaN, infinite, beyond +-2^63) cannot be converted to int64. */
bool tg__fits_int64(const char *fn, const tg_tensor *src);
/* False with fn's message when value does not fit dtype: NaN, infinities or
 * values beyond int64's range for TG_I64, a finite value beyond float's for
 * TG_F32 (torch's checks). */
bool tg__fits_dtype(const char *fn, tg_dtype dtype, double value);
/* --- stack headers -----------------------------------------------------------
 * Headers on the stack over t's storage: nothing recorded, nothing to free,
 * no gradient. They are how kernels and backward functions look at part of a
 * tensor (a slice, a matrix of a batch, rows) or at it under another
 * geometry; every one is built by tg__header. */

/* t's storage with the given geometry. Inline, so that the header is
 * built where the caller keeps it: returned from a function, it was
 * zeroed and filled on the stack and then copied, and the copy's wide
 * loads waited on the narrow stores before them (10% of a tiny recurrent
 * step, B=1 H=8). */
static inline tg_tensor tg__header(const tg_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                                   int64_t offset)
{
    tg_tensor h = {.magic = TG_MAGIC, .ndim = ndim, .dtype = t->dtype, .offset = offset, .storage = t->storage};
    for (int d = 0; d < ndim; d++) {
        h.shape[d] = shape[d];
        h.stride[d] = stride[d];
    }
    return h;
}
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

/* tg__foreach for a reduction into operand 0 (stride 0 along the summed
 * dims): rows run in order on one thread, and when operand 0 moves along
 * the innermost dim and the space is large, pieces of that dim run on
 * threads, each over every row. Each element's sum then takes its rows in
 * the same order for any thread count. */
void tg__foreach_columns(int nops, const tg_tensor *const *ops, int ndim, const int64_t *shape, tg_row_fn fn,
                         void *ctx);

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
tg_tensor *tg__scope_newest(void);

/* A persistent header is allocated with its place in the lists of
 * core/scope.c behind it (scope headers, three cache lines, do without). */
typedef struct {
    tg_tensor t;
    tg_tensor *graph_prev, *graph_next;
    /* References from the unreleased nodes of the base-level tapes (as an
     * input, a saved tensor or the output): while there are any, tg_free
     * leaves the memory to the tape. Atomic: the tapes of several threads
     * may read one shared tensor (a data set) at once. */
    _Atomic uint32_t base_reads;
} tg__persistent_header;
#define TG__BASE_READS(t) (((tg__persistent_header *)(t))->base_reads)
#define TG__GRAPH_NONE 0
#define TG__GRAPH_PENDING 1 /* made inside the outermost bracket, on the graph list */
#define TG__GRAPH_OWNED 2   /* the graph's temporary, on the graph list, live */
#define TG__GRAPH_FREED 3   /* freed by the caller while the tape reads it, on the freed list */
#define TG__GRAPH_DYING 4   /* nothing reads it any more, on the dying list */
#define TG__GRAPH_SCOPE 5   /* freed by the caller while an open scope uses it, on the scope's list */
/* A persistent header was made (tensor.c): inside an op built from other
 * ops that records a graph outside any scope, it goes on the list that
 * tg__autoscope_keep_n sorts into the op's results and the graph's
 * temporaries. */
void tg__graph_register(tg_tensor *t);
/* tg_free of a listed header takes it off the list. */
void tg__graph_unlink(tg_tensor *t);
/* tg_free of a tensor the base-level tape reads (base_reads > 0), already
 * out of the set of live ones: freed when nothing reads it, or with the
 * tape. */
void tg__graph_free_later(tg_tensor *t);
/* A released base-level node no longer reads t: a freed tensor or a
 * graph's temporary that nothing reads any more goes on the dying list,
 * which tg__graph_sweep frees (after the pass: its leaves' gradients are
 * committed last), or leaves to the open scopes that use it. */
void tg__graph_unread(tg_tensor *t);
void tg__graph_sweep(void);
/* tg_free of a tensor no base-level node reads, already out of the set of
 * live ones, while a scope is open: true if a node recorded or a header
 * made in the open scopes uses its memory (reads it, or shares its
 * storage), and then it is freed at the end of the outermost open scope. */
bool tg__scope_frees_later(tg_tensor *t);
/* Headers on this thread's lists: held for a base-level graph or for the
 * open scopes (tests). */
int64_t tg__graph_held(void);
/* Free a persistent header, its .grad and its share of its storage, once
 * it left the set of live ones: off its list (core/scope.c), and forgotten
 * by the node that made it. */
void tg__free_header(tg_tensor *t);

/* Scope memory that nothing reads any more is handed out again (scope.c).
 * tg__scope_recycle lists a block of nbytes (at least TG__REUSE_MIN) of the
 * innermost scope or an outer one; tg__scope_reuse returns a listed block
 * of exactly nbytes, or NULL. */
#define TG__REUSE_MIN 4096
void tg__scope_recycle(void *data, int64_t nbytes);
void *tg__scope_reuse(int64_t nbytes);
/* Which storages may be recycled (tg_storage.reuse): made by a backward
 * pass at its own depth (autograd.c, tg__pass_memory_kind says at birth),
 * and already listed. */
#define TG__PASS_LIVE 1
#define TG__RECYCLED 2
uint8_t tg__pass_memory_kind(int64_t nbytes);
/* A recurrent layer's step is done: the memory of tensors made since
 * tensor_mark (the newest tensor header before the step) that no node
 * recorded since tape_mark reads in its backward, and that is not the
 * storage of one of the n_keep tensors the step hands on, is recycled. */
void tg__recycle_step(const tg_node *tape_mark, const tg_tensor *tensor_mark, uint64_t storage_mark, int n_keep,
                      tg_tensor *const *keep);
/* Storages made on this thread so far (tg_storage.serial of the newest). */
uint64_t tg__storage_serial(void);
/* tg_grad_slot, except that a buffer made now (x had no gradient yet) is
 * left unwritten and *fresh set: the caller writes every element of it
 * before anything reads it (a product stored with beta = 0 instead of
 * added onto zeros). The buffer is contiguous, of x's shape. */
tg_tensor *tg__grad_slot_unset(tg_tensor *x, bool *fresh);

/* Ops made of other ops bracket their work so that outside any scope
 * nothing but their results is left for the caller to free:
 *     tg_scope *s = tg__autoscope(1, &x);
 *     return tg__autoscope_keep(s, compute(x));
 * tg__autoscope returns
 *   - NULL inside a scope: the scope owns everything, keep passes through;
 *   - a scope of its own outside any scope when the op records nothing:
 *     keep copies the results out (persistent) and ends it, so the
 *     temporaries vanish;
 *   - a token outside any scope when the op records a graph, whose nodes
 *     must outlive the call (or when a scope cannot be had): the persistent
 *     headers made until the outermost such op's keep become the graph's
 *     (its results excepted), freed once no node of the base-level tape
 *     reads them, at the latest by tg_release_thread_memory. The results
 *     are passed through; inside that bracket tg__autoscope returns NULL.
 * Every tg__autoscope must be matched by one keep on every path. */
tg_scope *tg__autoscope(int n, tg_tensor *const *inputs);
/* Whether tg__autoscope, called now on these inputs, would bracket the
 * call: outside any scope and any other op's bracket, and, if graph_only,
 * only when the call records a graph (for ops that free the temporaries of
 * an unrecorded call themselves). */
bool tg__bracket_wanted(bool graph_only, int n, tg_tensor *const *inputs);
/* The first lines of an op that brackets itself by calling itself again
 * (`call`), which then finds itself bracketed and does the work:
 *     TG__BRACKET(false, tg_mse_loss(input, target, r), input, target); */
#define TG__BRACKET(graph_only, call, ...)                                                   \
    do {                                                                                     \
        tg_tensor *inputs_[] = {__VA_ARGS__};                                                \
        int n_ = (int)(sizeof inputs_ / sizeof inputs_[0]);                                  \
        if (tg__bracket_wanted(graph_only, n_, inputs_)) {                                   \
            tg_scope *scope_ = tg__autoscope(n_, inputs_);                                   \
            return tg__autoscope_keep(scope_, call);                                         \
        }                                                                                    \
    } while (0)
/* Ends what tg__autoscope began with the n results (NULL entries allowed):
 * 0, or -1 when a copy failed, and then every results[k] is NULL. */
int tg__autoscope_keep_n(tg_scope *s, int n, tg_tensor **results);
tg_tensor *tg__autoscope_keep(tg_scope *s, tg_tensor *result);
/* For ops with a second result (an index tensor): both or neither. */
tg_tensor *tg__autoscope_keep2(tg_scope *s, tg_tensor *result, tg_tensor **second);

/* --- ops for the layers --- */

/* Layer norm of each of the `blocks` equal blocks of x's last dim on its
 * own, with an affine of the whole last dim: x (..., C), weight and bias (C)
 * or NULL, C a multiple of blocks; y has x's shape. A recurrent layer's
 * layer norm (rnn.c) normalises each gate block of its projections and
 * scales and shifts them with one node instead of three (ops/nn.c). */
tg_tensor *tg__layer_norm_blocks(tg_tensor *x, int64_t blocks, tg_tensor *weight, tg_tensor *bias, double eps);
/* tg_linear(x, weight, bias) whose forward product reads weight_t, a
 * contiguous (in, out) copy of weight's transpose made once for many calls
 * (a recurrent layer's steps): its rows are the GEMM's B rows, read in
 * place, where weight itself would be transposed into a packed copy at
 * every call. weight_t may be NULL (then this is tg_linear). The node and
 * the backward are tg_linear's, with respect to weight (ops/linalg.c). */
tg_tensor *tg__linear_t(tg_tensor *x, tg_tensor *weight, tg_tensor *weight_t, tg_tensor *bias);
/* y = x[0] W[0]^T + ... + x[n-1] W[n-1]^T + bias as one node, for 2-D
 * x[k] (R, in_k), W[k] (out, in_k), bias (out) or NULL, weight_t NULL or
 * each entry NULL or W[k]'s contiguous transpose: a recurrent step's input
 * and state projections with one result and one pass over it (the bias
 * copied once, each product added on in cache), where two tg_linear calls
 * would copy the first's result into the second's. */
#define TG__LINEAR_SUM_MAX 4
tg_tensor *tg__linear_sum(int n, tg_tensor *const *x, tg_tensor *const *weight, tg_tensor *const *weight_t,
                          tg_tensor *bias);

/* C = A B + bias (N values) broadcast over the rows, A (M, K), B (K, N),
 * with the bits of C filled with the bias and then tg_gemm with beta 1:
 * the blocked product adds it in the kernel of the first K block, sparing
 * a pass that writes C (a layer's forward). 0, or -1 with a message. */
int tg__gemm_bias_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t rsA, int64_t csA, const float *B,
                      int64_t rsB, int64_t csB, const float *bias, float *C, int64_t rsC, int64_t csC);
int tg__gemm_bias_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t rsA, int64_t csA, const double *B,
                      int64_t rsB, int64_t csB, const double *bias, double *C, int64_t rsC, int64_t csC);

/* --- products sharing their A (ops/kernels/gemm.c) --- */

/* One product's B (K, N) and C (M, N), float or double (the call's dtype). */
typedef struct {
    int64_t N;
    const void *B;
    int64_t rsB, csB;
    void *C;
    int64_t rsC, csC;
} tg__gemm_out;
#define TG__GEMM_OUTS_MAX 4
/* C_t = beta*C_t + A B_t for t < n (1 <= n <= TG__GEMM_OUTS_MAX), A (M,
 * K), with the bits of tg_gemm called for each in turn: where each would
 * pack A (a weight gradient g^T x: A = g^T), A is packed once for all.
 * sums (M), when not NULL, then also gets A's row sums (a bias gradient,
 * the sum of g's rows), added one column of A at a time as the engine
 * sums a gradient: sums[i] += A(i, 0), += A(i, 1), ... 1 when that was
 * done, 0 when A was not packed once and sums is untouched, -1 with a
 * message. */
int tg__gemm_shared_a_f32(int64_t M, int64_t K, const float *A, int64_t rsA, int64_t csA, int n,
                          const tg__gemm_out *out, float beta, float *sums);
int tg__gemm_shared_a_f64(int64_t M, int64_t K, const double *A, int64_t rsA, int64_t csA, int n,
                          const tg__gemm_out *out, double beta, double *sums);

/* The stack of ts[0..n) along dim (ops/shape.c) in y, which the caller
 * made with tg_stack's shape and filled (y[..., i, ...] = ts[i]): records
 * tg_stack's node, so that a sequence's outputs can be copied into place
 * as each is made, while still in cache. Returns y. */
tg_tensor *tg__stacked(int n, tg_tensor *const *ts, int dim, tg_tensor *y);

/* --- files (safetensors.c, safetensors_save.c) --- */

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if it is not one
 * (truncated, overlong, a surrogate, past U+10FFFF); avail > 0 bytes. */
int tg__utf8_length(const unsigned char *s, int64_t avail);
/* A copy of s from tg__malloc, or NULL. */
char *tg__strdup(const char *s);
/* Writes "[3,4]" for a shape given as ndim sizes into buf; returns buf. */
char *tg__shape_text(int ndim, const int64_t *shape, char *buf, size_t len);
/* Test seam for atomic saves: the k-th I/O call (counting from 1: opening
 * the temporary file, each write, the flush, fsync, close and the rename)
 * of the saves that follow on this thread fails with errno err, once;
 * k = 0 turns it off. tg__io_calls is the number of such calls made on
 * this thread since the last tg__io_fault. */
void tg__io_fault(int64_t k, int err);
int64_t tg__io_calls(void);

/* Marks what n's backward never reads the values of (tg_node.unread_inputs,
 * a mask of inputs, and unread_out); n may be NULL. Returns n. */
static inline tg_node *tg__unread(tg_node *n, unsigned inputs, bool out)
{
    if (n) {
        n->unread_inputs = (uint8_t)inputs;
        n->unread_out = out;
    }
    return n;
}
/* For products of pairs (in[2k], in[2k+1]), k < pairs (mul, matmul,
 * linear: da = g b, db = a g), whose backward reads each of a pair only
 * for the other's gradient: bit 2k when in[2k+1] needs no gradient, bit
 * 2k + 1 when in[2k] needs none. As PyTorch's nodes save only what the
 * gradients asked for need, an input changed in place that no gradient
 * reads (frozen weights, data) leaves the backward alone. */
static inline unsigned tg__product_unread(int pairs, tg_tensor *const *in)
{
    unsigned mask = 0;
    for (int k = 0; k < pairs && 2 * k + 1 < 8; k++) {
        if (!tg_needs_grad(in[2 * k + 1])) mask |= 1u << (2 * k);
        if (!tg_needs_grad(in[2 * k])) mask |= 1u << (2 * k + 1);
    }
    return mask;
}
/* Whether n's backward may read the values of its input k (inputs past
 * the mask's 8 bits always count as read). */
static inline bool tg__reads_input(const tg_node *n, int k) { return k >= 8 || !(n->unread_inputs >> k & 1); }
/* Whether the backward of a product node (tg__product_unread) gives its
 * input k a gradient: k needs one now and needed one when n was recorded.
 * A factor made to require grad since gets none, as in PyTorch: its
 * partner was not kept for it and may have changed in place. */
static inline bool tg__product_grad(const tg_node *n, int k)
{
    return tg_needs_grad(n->inputs[k]) && tg__reads_input(n, k ^ 1);
}
/* Whether n's backward touches storage s: as its output, an input or a
 * saved tensor; with values_only, only where it reads the values (not an
 * output or input it marked unread, whose header alone it may use). */
static inline bool tg__node_uses(const tg_node *n, const tg_storage *s, bool values_only)
{
    if (n->out && n->out->storage == s && !(values_only && n->unread_out)) return true;
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] && n->inputs[i]->storage == s && !(values_only && !tg__reads_input(n, i))) return true;
    for (int k = 0; k < 4; k++)
        if (n->saved[k] && n->saved[k]->storage == s) return true;
    return false;
}

/* Parts of a node's output that are views with nodes of their own (a
 * fused expression's outputs, ops/fuse.c) may hand their gradients to it
 * as they are, instead of adding them into regions of one gradient of the
 * output: no pass to fill, copy and add. The backward of the view that is
 * part k (0 to TG__GRAD_PARTS - 1) of node's output calls
 * tg__grad_part(node, k, g) with its gradient g; node's backward then
 * finds it in node->grad_parts[k] (NULL for a part that received none)
 * and the grad_out it is called with is one of the parts. The engine lets
 * go of them after node's backward. Returns 0, or -1 with a message. */
#define TG__GRAD_PARTS 4
int tg__grad_part(tg_node *node, int k, tg_tensor *g);

/* A leaf being freed: the node its hooks hang off (which outlives it when
 * made outside any scope) forgets it. */
void tg__tape_forget_leaf(const tg_tensor *leaf);

/* Tape bookkeeping used by scope.c. */
tg_node *tg__tape_tail(void);
void tg__tape_rewind(tg_node *tail);
/* Detach every tensor that base-level nodes (recorded outside any scope)
 * made from its node, before tg_release_thread_memory frees those nodes. */
void tg__tape_detach_outputs(void);
/* A base-level node no backward can reach any more lets go of what it
 * reads (core/scope.c decides when). */
void tg__tape_drop(tg_node *n);
/* A backward pass is running on this thread. */
bool tg__in_pass(void);
/* The depth of the running pass's own scope (0: no pass runs). */
int tg__pass_depth(void);

/* The base level's memory (core/scope.c): the floor is raised past what
 * outlives graphs made outside any scope (a leaf's hook); when no
 * base-level node can run again, tg__base_trim (core/autograd.c) cuts the
 * tape back to the floor's node, leaving each output the caller holds a
 * tombstone, and the arena goes back to the floor. */
void tg__base_floor_raise(void);
tg_node *tg__base_floor_tape(void);
/* The tape's tail when the innermost open scope began (NULL outside any
 * scope): the nodes after it end with that scope. */
tg_node *tg__scope_tape_mark(void);
bool tg__base_can_rewind(void);
void tg__base_rewind(void);
void tg__base_trim(void);

#endif
