/* Memory: scopes, an autorelease pool backed by an arena.
 *
 *     tg_scope *s = tg_scope_begin();
 *     ... forward, loss, tg_backward, optimizer step ...
 *     tg_scope_end(s);   // every tensor and tape node made inside is gone
 *
 * Everything an op creates inside a scope (tensor headers, data, tape
 * nodes, saved buffers) is bump-allocated from this thread's arena, 64-byte
 * aligned. Ending a scope rewinds the arena but keeps its chunks, so a steady
 * training loop makes no malloc calls. Scopes nest and must end in reverse
 * order. Tensors made outside any scope are persistent (tg_free them);
 * tg_keep copies a result out of a scope. Ending a scope marks every tensor
 * made in it as dead (a walk over their headers, not their data, so it costs
 * nothing that matters), and any tg_ function later given one of them
 * reports "used after its scope ended" instead of computing garbage, as long
 * as the memory has not been handed out again by a later scope.
 *
 * Outside any scope each op's result is persistent and the caller frees it;
 * ops built from other ops run their temporaries in a scope of their own,
 * so nothing else is left behind. Tape nodes recorded outside any scope go
 * to the thread's base arena, and the temporaries their backward reads (an
 * LSTM's step tensors, a dropout mask) belong to that graph. Such a graph
 * keeps what it reads, as PyTorch's holds its own references: tg_free of a
 * tensor one of its nodes reads (an intermediate, a leaf) returns it to
 * the caller at once, and its memory goes when a backward has released the
 * last node that reads it or no backward can reach that node any more.
 * Once no node of the base-level tape can take part in a backward (a
 * backward released each one, or the caller freed the results that led to
 * it), the tape and the arena are given back, so a training loop outside
 * scopes that frees what it made reuses the same memory every iteration.
 * A result the caller still holds then keeps its op's name, and a second
 * backward through it is refused, as before. A graph kept alive (results
 * held and never backpropagated, tg_backward_retain) holds the whole
 * base-level tape until it goes, or until tg_release_thread_memory (or
 * the thread's exit) frees the whole tape; that detaches the persistent
 * results of live nodes from their graph: they keep their values and no
 * longer require grad.
 *
 * A leaf made inside a scope gets its .grad (persistent, as every .grad)
 * freed with it when the scope ends.
 *
 * A graph recorded inside a scope keeps the persistent tensors it reads
 * (parameters, results made outside any scope) too, without counting them:
 * tg_free of one while a scope is open looks through this thread's open
 * scopes, and if a node recorded there that a backward can still run reads
 * it (as an input, a saved tensor) or a tensor made there shares its
 * memory (a view of it), the tensor is no longer the caller's at once (a
 * second tg_free is still reported) and its memory, with its .grad, goes
 * when the outermost open scope ends, or the thread exits (a backward in
 * the scope then gives the other leaves their gradients; the freed one's
 * is lost). A tensor nothing in the open scopes uses is freed at once (a
 * parameter freed after the backward that released its graph); that look
 * costs a walk over the scopes' nodes and tensors, paid only by a tg_free
 * of a persistent tensor inside a scope.
 *
 * Ownership, the one rule every public function follows: a function that
 * returns a tensor returns a new tensor header, never one of its arguments
 * (tg_requires_grad, which marks its argument and returns it for chaining,
 * is the one exception). Outside any scope the caller owns that header and
 * frees it with tg_free; inside a scope the scope does. When the result has
 * the same values as an input (tg_contiguous of a contiguous tensor,
 * tg_dropout in eval mode or with p = 0, tg_sum_to with nothing to sum, a
 * view) the new header shares the input's storage, which lives until its
 * last persistent header is freed, so freeing both the input and the result
 * is always right and never a double free. Debug builds (NDEBUG undefined)
 * report a second tg_free of the same tensor instead of freeing twice.
 *
 * Sanitizer builds poison every byte of the arena that is not handed out
 * (padding, ended scopes), so AddressSanitizer reports overflows and uses
 * after scope inside the arena as it does for malloc'd memory. */
#ifndef TG_SCOPE_H
#define TG_SCOPE_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_scope tg_scope;

/* Open a nested scope on this thread. Returns NULL only if out of memory. */
tg_scope *tg_scope_begin(void);
/* Free everything made since s began (including inner scopes still open).
 * Returns 0, or -1 if s is not an open scope of this thread or a backward
 * pass runs in it (a call from a hook or a backward function). */
int tg_scope_end(tg_scope *s);

/* A persistent, contiguous copy of t that does not require grad (the
 * hidden state carried between batches in truncated BPTT). Free with tg_free. */
tg_tensor *tg_keep(const tg_tensor *t);

/* Brackets for a function built from ops (a user's activation, loss or
 * block), so that outside any scope it leaves nothing behind but its
 * result, as the library's own do:
 *     tg_tensor *my_op(tg_tensor *x)
 *     {
 *         tg_scope *s = tg_op_begin(1, &x);
 *         return tg_op_end(s, tg_mul(x, tg_tanh(tg_softplus(x, 1, 20))));
 *     }
 * Inside a scope both do nothing. Outside any scope with nothing to record
 * (no input requiring grad, or grad mode off) the work runs in a scope of
 * its own and tg_op_end returns a persistent copy of the result; with a
 * graph to record, the temporaries its backward reads belong to the graph
 * and go with tg_release_thread_memory, and the result is handed back as it
 * is. The n inputs are every tensor the function reads (their
 * requires_grad decides; one left out that requires grad makes tg_op_end
 * fail rather than cut the graph). Every tg_op_begin is matched by one
 * tg_op_end on every path, and a NULL result passes through (a failure). */
tg_scope *tg_op_begin(int n, tg_tensor *const *inputs);
tg_tensor *tg_op_end(tg_scope *s, tg_tensor *result);

/* Bytes handed out by this thread's arena since it was created or last
 * released (grows monotonically within scopes, rewinds at scope end, and
 * outside scopes when the base-level tape is given back). */
size_t tg_arena_used(void);
/* Bytes the arena holds from the system (its chunks). */
size_t tg_arena_reserved(void);
/* Number of chunk allocations the arena has made so far (a steady loop
 * makes none). */
size_t tg_arena_chunk_allocs(void);

/* Release this thread's arena chunks, base-level tape with the temporaries
 * its graph kept, and GEMM packing buffers; every scope must have ended. A
 * thread's exit does the same. */
void tg_release_thread_memory(void);

#ifdef __cplusplus
}
#endif

#endif
