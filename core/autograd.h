/* Autograd: a tape.
 *
 * While grad mode is on and an op's input requires grad, the op appends one
 * node to the current thread's tape: its name, its backward function, its
 * inputs and what it saved. Creation order is a topological order, so
 * tg_backward walks the tape backwards from the loss's node with no graph
 * sort. Leaves add into their persistent .grad; the gradient of any other
 * tensor lives in its node only during backward.
 *
 * Backward functions are written with the ops themselves (grad mode is off
 * during backward, so nothing is recorded) and hand their results to
 * tg_accum_grad, which also sums a broadcast gradient down to the input's
 * shape. A view's backward takes tg_grad_slot(input), applies the same view
 * to it and adds into that region in place, so slicing a (B,T,K) tensor T
 * times costs O(B*T*K) in backward, not O(B*T*T*K).
 *
 * The same two calls define a custom differentiable op (PyTorch's
 * autograd.Function): compute the output with any code, then tg_record a
 * node whose backward calls tg_accum_grad for each input. */
#ifndef TG_AUTOGRAD_H
#define TG_AUTOGRAD_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Receives the gradient of node->out (same shape as out, contiguous). */
typedef void (*tg_backward_fn)(tg_node *node, tg_tensor *grad_out);

/* Hooks registered on a tensor (tg_register_hook), in registration order. */
typedef struct tg_hook tg_hook;

struct tg_node {
    const char *op;            /* "mul", "narrow", ... (graph export, errors) */
    tg_backward_fn backward;
    tg_node *prev;             /* previous node on this thread's tape */
    tg_tensor *out;
    int64_t out_version;       /* out's storage version when recorded */
    tg_tensor *grad;           /* gradient of out, accumulated during backward */
    int n_inputs;
    tg_tensor **inputs;
    int64_t *input_versions;   /* each input's storage version when recorded */
    tg_tensor *saved[4];       /* tensors the backward needs besides inputs
                                  (set with tg_save_for_backward) */
    int64_t saved_versions[4]; /* their versions (tg_save_for_backward), -1 if unchecked */
    int64_t iarg[TG_MAX_DIMS]; /* small integer arguments (dims, sizes) */
    double farg[4];            /* small float arguments (scalars, eps) */
    void *ctx;                 /* anything else, allocated in the scope */
    /* During a backward pass: the gradients of views that split out into
     * parts, each handed over whole (tg__grad_part), or NULL. */
    tg_tensor **grad_parts;
    bool released;             /* its graph was used by a backward already */
    bool base;                 /* recorded outside any scope: counted in base_reads */
    bool tombstone;            /* what stays of a freed base-level node for the
                                  output the caller holds: op and released */
    tg_hook *hooks;            /* run on out's gradient before it flows on */
    bool retains_grad;         /* copy out's final gradient into out->grad */
    /* What the backward never reads the values of (only shapes and
     * versions): bit i of unread_inputs for input i, unread_out for out.
     * Zero, the default, is always safe; a set bit lets a layer hand that
     * memory out again once the forward no longer needs it (what PyTorch's
     * ops get from saving only what their backward needs). */
    uint8_t unread_inputs;
    bool unread_out;
    /* The recording thread's tape (an address that identifies it), NULL
     * for a node on no tape: a backward keeps its bookkeeping per thread,
     * so another thread's pass refuses the node instead of walking it. */
    const void *tape;
};

/* Record a node for out = op(inputs) if grad mode is on and any input
 * requires grad; sets out->requires_grad and out->node. Returns the node so
 * the op can fill saved/iarg/farg/ctx, or NULL when nothing was recorded
 * (which is not an error). Out of memory, it records a message, returns
 * NULL and marks out so that a backward through it fails with that cause
 * (out's value is still right: the op may return it). out must be a new
 * float tensor made in the current scope (outside any scope: persistent)
 * and recorded once: NULL with a message for an out that is one of the
 * inputs, was recorded already, is int64, or is persistent while a scope
 * is open (the node would end with the scope before out). */
tg_node *tg_record(const char *op, tg_backward_fn backward, tg_tensor *out,
                   int n_inputs, tg_tensor *const *inputs);
/* Keep t in node->saved[slot] (slot 0..3) for the backward, as PyTorch's
 * ctx.save_for_backward: the backward refuses to run if t (or anything
 * sharing its storage) was modified in place since, as it does for the
 * node's inputs and output ("one of the variables needed for gradient
 * computation has been modified by an inplace operation"). Returns 0 or -1. */
int tg_save_for_backward(tg_node *node, int slot, tg_tensor *t);

/* Compute gradients of t with respect to every leaf that requires grad and
 * add them into those leaves' .grad. grad is dL/dt (t's shape); it may be
 * NULL when t has one element (then dL/dt = 1). The graph is released:
 * a second backward through it is an error, as in PyTorch. Returns 0, or -1
 * with a message when something failed (out of memory, a saved tensor
 * modified in place, ...): then no .grad has changed. The pass runs in a
 * scope of its own, so it leaves nothing behind but the leaves' .grad.
 * A graph is backpropagated on the thread that recorded it: a backward on
 * another thread, or one that reaches a tensor another thread's op made
 * (an input read across threads), fails with a message naming the op. */
int tg_backward(tg_tensor *t, const tg_tensor *grad);
/* tg_backward that keeps the graph for another backward (retain_graph). */
int tg_backward_retain(tg_tensor *t, const tg_tensor *grad);

/* --- gradients of intermediate tensors: retain_grad and hooks ---------------
 *
 * A hook sees the gradient dL/dt of a tensor t during backward, once all of
 * it has been summed (every use of t has contributed), before it flows on to
 * the inputs of the op that made t (for a leaf: before it is added into
 * t->grad). It returns the gradient to use instead (t's shape and dtype; a
 * new tensor made with ops, or grad itself), or NULL for "unchanged". It
 * must not modify grad in place. Grad mode is off while it runs and its
 * results live in the scope current during backward. Several hooks on one
 * tensor run in registration order, each on the previous one's result.
 *
 *     static tg_tensor *halve(tg_tensor *t, tg_tensor *grad, void *ctx)
 *     { (void)t; (void)ctx; return tg_mul_scalar(grad, 0.5); }
 *     ...
 *     tg_register_hook(hidden, halve, NULL);   // every gradient behind hidden halves
 *
 * A hook belongs to the graph and lives in the scope open when it is
 * registered: on a tensor made by an op, register it in the scope that made
 * the tensor (not in an inner scope that ends before backward), and it ends
 * with the tensor; on a leaf (a parameter), it is recorded on the tape and
 * ends with that scope, like the graph itself (register it in each
 * iteration's scope). The tape is the registering thread's: a backward on
 * another thread does not run the hook, and a leaf whose hook is still on
 * a thread's tape is freed on that thread (or after its
 * tg_release_thread_memory), whose tape would otherwise read it. */
typedef tg_tensor *(*tg_hook_fn)(tg_tensor *t, tg_tensor *grad, void *ctx);

/* PyTorch's register_hook: run fn(t, grad, ctx) on t's gradient in every
 * later backward that reaches t. Returns 0, or -1 with a message if t does
 * not require grad, fn is NULL, no backward can reach t any more (a
 * backward without retain released the graph that made it, or its
 * recording ran out of memory), or t was made by an op outside the
 * innermost open scope or on another thread. */
int tg_register_hook(tg_tensor *t, tg_hook_fn fn, void *ctx);

/* PyTorch's retain_grad: keep the gradient of a non-leaf t in t->grad after
 * backward (the gradient after t's hooks, summed over backward calls as a
 * leaf's is, in a persistent tensor that goes with t: tg_free, or the end
 * of t's scope; NULL until a backward reaches t, as a leaf's). A no-op for
 * leaves, which keep theirs anyway. Returns 0, or -1 with a message if t
 * does not require grad or was made by an op on another thread. */
int tg_retain_grad(tg_tensor *t);

/* --- for backward functions ---------------------------------------------- */

/* True if gradients must flow into x. */
bool tg_needs_grad(const tg_tensor *x);
/* Add g into x's gradient; g may have x's shape or a shape x broadcasts to
 * (it is then summed down). Ignored if x does not need grad. The first
 * gradient of a non-leaf is adopted as its buffer without a copy, so a
 * backward function must not write to g afterwards, nor hand two inputs
 * overlapping views of g (handing the same tensor twice is fine: the second
 * is copied). */
void tg_accum_grad(tg_tensor *x, tg_tensor *g);
/* x's gradient buffer (contiguous, x's shape), zero-filled on first use,
 * for backward functions that add into a region of it in place. NULL if x
 * does not need grad. */
tg_tensor *tg_grad_slot(tg_tensor *x);

/* --- grad mode ------------------------------------------------------------ */

/* Turn recording on or off for this thread; returns the previous setting.
 * Nestable: `bool was = tg_set_grad_enabled(false); ... tg_set_grad_enabled(was);` */
bool tg_set_grad_enabled(bool enabled);
bool tg_is_grad_enabled(void);
/* PyTorch's `with torch.no_grad():` as a nestable pair:
 *     bool was = tg_no_grad_begin(); ... tg_no_grad_end(was); */
bool tg_no_grad_begin(void);
void tg_no_grad_end(bool was);

/* A tensor sharing t's storage that does not require grad and has no node. */
tg_tensor *tg_detach(tg_tensor *t);

/* Set every leaf's .grad in the array to zero (kept allocated). */
void tg_zero_grad(int n, tg_tensor *const *leaves);

/* Write the recorded graph that produced t as Graphviz DOT: one box per op
 * (name and output shape), one ellipse per leaf; an op whose graph is gone
 * (released by a backward, or not recorded for lack of memory) is a dashed
 * box with its name. Returns 0 or -1. */
int tg_graph_dot(const tg_tensor *t, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
