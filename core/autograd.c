/* The tape and the backward walk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static _Thread_local tg_node *tape_tail;
/* The gradient the running backward function was given: it may still read
 * it, so a buffer that adopted it is copied before anything adds into it. */
static _Thread_local tg_tensor *active_grad;
static _Thread_local bool grad_disabled; /* false: grad mode on by default */

tg_node *tg__tape_tail(void) { return tape_tail; }
void tg__tape_rewind(tg_node *tail) { tape_tail = tail; }

bool tg_set_grad_enabled(bool enabled)
{
    bool was = !grad_disabled;
    grad_disabled = !enabled;
    return was;
}

bool tg_is_grad_enabled(void) { return !grad_disabled; }
bool tg_no_grad_begin(void) { return tg_set_grad_enabled(false); }
void tg_no_grad_end(bool was) { tg_set_grad_enabled(was); }

/* The node of a result whose recording ran out of memory: a backward that
 * reaches it fails instead of dropping that path's gradient. */
static tg_node lost_node = {.op = "(not recorded: out of memory)", .released = true};
#define LOST_GRAPH "tg_backward: the graph is incomplete: recording the op that made a %s tensor ran out of memory"
#define RELEASED_NODE "tg_backward: Trying to backward through the graph a second time (node '%s' was released by an " \
                      "earlier backward)"
#define FOREIGN_NODE "%s: '%s' was recorded on another thread; a graph is backpropagated on the thread that " \
                     "recorded it"
/* A node another thread recorded: its tape, counts and scopes are that
 * thread's, and a pass here would mix them with this thread's. */
static bool foreign(const tg_node *n) { return n && n->tape && n->tape != (const void *)&tape_tail; }

/* Base-level nodes not yet released by a backward or dropped (their
 * references not given back): while there are none, nothing on the
 * base-level tape can run again, and tg__base_trim frees it. */
static _Thread_local int64_t base_live;

tg_node *tg_record(const char *op, tg_backward_fn backward, tg_tensor *out, int n_inputs,
                   tg_tensor *const *inputs)
{
    if (n_inputs > 0 && !inputs) return tg_error("tg_record: inputs is NULL for %d inputs", n_inputs);
    if (grad_disabled || !out || !tg__any_requires_grad(n_inputs, inputs)) return NULL;
    if (!op || !backward) return tg_error("tg_record: op name and backward function are required");
    /* What would tie the graph in a knot or outlive it: out is the node's
     * only way back to it, so it must be a new float tensor of this scope. */
    if (!tg__check_float("tg_record", out)) return NULL;
    if (out->node)
        return tg_error("tg_record: '%s': out was recorded already (by '%s'); record a new tensor", op,
                        out->node->op ? out->node->op : "an op");
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] == out)
            return tg_error("tg_record: '%s': out is input %d; record a new tensor (tg_clone of it)", op, i);
    if (out->persistent && tg__scope_depth() > 0)
        return tg_error("tg_record: '%s': out is persistent, but the node would end with the innermost open "
                        "scope; make out inside that scope", op);
    size_t n = (size_t)(n_inputs > 0 ? n_inputs : 1);
    tg_node *node = tg__arena_take(sizeof *node);
    char *arrays = node ? tg__arena_take((sizeof(tg_tensor *) + sizeof(int64_t)) * n) : NULL;
    if (!arrays) {
        out->requires_grad = true;
        out->node = &lost_node;
        return tg_error("tg_record: out of memory recording '%s'", op);
    }
    memset(node, 0, sizeof *node);
    tg_tensor **in = (tg_tensor **)arrays;
    int64_t *versions = (int64_t *)(arrays + sizeof(tg_tensor *) * n);
    for (int i = 0; i < n_inputs; i++) {
        in[i] = inputs[i];
        versions[i] = inputs[i] ? inputs[i]->storage->version : 0;
    }
    for (int k = 0; k < 4; k++) node->saved_versions[k] = -1;
    node->op = op;
    node->backward = backward;
    node->out = out;
    node->out_version = out->storage->version;
    node->n_inputs = n_inputs;
    node->inputs = in;
    node->input_versions = versions;
    node->prev = tape_tail;
    node->tape = &tape_tail;
    tape_tail = node;
    out->requires_grad = true;
    out->node = node;
    /* The base-level tape reads its tensors until tg_release_thread_memory:
     * a tg_free before then leaves them to it (tg__graph_free_later). */
    if (tg__scope_depth() == 0) {
        node->base = true;
        base_live++;
        if (out->persistent) TG__BASE_READS(out)++;
        for (int i = 0; i < n_inputs; i++)
            if (in[i] && in[i]->persistent) TG__BASE_READS(in[i])++;
    }
    return node;
}

/* A base-level node's references, for its release (after its backward)
 * and for tg_release_thread_memory (forget: the reference goes without
 * the tensor's release, which the tape's end does; another thread's tape
 * may still read a shared tensor, so its count is not simply zeroed). */
static void base_ref(tg_tensor *t, bool forget)
{
    if (!t || !t->persistent) return;
    if (!forget) tg__graph_unread(t);
    else if (TG__BASE_READS(t) > 0) TG__BASE_READS(t)--;
}

/* Once per node: a second call (a node both dropped and released) does
 * nothing, so that base_live counts each node once. */
static void base_unread(tg_node *n, bool forget)
{
    if (!n->base) return;
    /* Cleared first: dropping its references may come back to this node. */
    n->base = false;
    base_live--;
    base_ref(n->out, forget);
    for (int i = 0; i < n->n_inputs; i++) base_ref(n->inputs[i], forget);
    for (int k = 0; k < 4; k++) base_ref(n->saved[k], forget);
}

void tg__tape_drop(tg_node *n) { base_unread(n, false); }

static _Thread_local bool in_pass;
bool tg__in_pass(void) { return in_pass; }

int tg_save_for_backward(tg_node *node, int slot, tg_tensor *t)
{
    if (!node || slot < 0 || slot > 3)
        return tg_fail("tg_save_for_backward: expected a node and a slot in [0, 3], got %d", slot);
    if (t && !tg__check("tg_save_for_backward", t)) return -1;
    if (node->base && node->saved[slot] && node->saved[slot]->persistent) tg__graph_unread(node->saved[slot]);
    node->saved[slot] = t;
    node->saved_versions[slot] = t ? t->storage->version : -1;
    if (node->base && t && t->persistent) TG__BASE_READS(t)++;
    return 0;
}

void tg__tape_detach_outputs(void)
{
    /* A released node's inputs may be freed already (their count fell to
     * zero): only its output, which tg__graph_sweep unhooks, is read. */
    for (tg_node *n = tape_tail; n; n = n->prev) {
        if (n->out && n->out->node == n) {
            n->out->node = NULL;
            n->out->requires_grad = false;
        }
        base_unread(n, true);
    }
}

bool tg_needs_grad(const tg_tensor *x) { return x && x->requires_grad; }

/* --- leaves' gradients during a pass ------------------------------------------
 * A pass adds each leaf's gradient into leaf->pass_grad, a buffer of the
 * pass's scope, and only when every node succeeded into leaf->grad: a
 * failed pass changes no .grad. The leaves touched are listed here. */
typedef struct pass_leaf {
    tg_tensor *leaf;
    bool made_grad; /* its .grad was made by this pass's commit */
    struct pass_leaf *next;
} pass_leaf;
static _Thread_local pass_leaf *pass_leaves;

/* --- memory handed out twice --------------------------------------------------
 * A gradient buffer is dead once its node's backward has run, and so is
 * every temporary that backward made and did not hand on; without reuse a
 * pass would keep a gradient for every intermediate of the forward, beside
 * it. Blocks the pass made at its own depth that no gradient buffer holds
 * are recycled (scope.c), and the next allocation of the same size takes
 * one back (recurrent steps repeat their sizes). grad_homes counts the
 * gradient buffers (a node's, a leaf's pass gradient, a retained gradient)
 * holding a storage. */
static _Thread_local int pass_depth;

int tg__pass_depth(void) { return in_pass ? pass_depth : 0; }

static bool pass_scope_innermost(void) { return in_pass && tg__scope_depth() == pass_depth; }

uint8_t tg__pass_memory_kind(int64_t nbytes)
{
    return nbytes >= TG__REUSE_MIN && pass_scope_innermost() ? TG__PASS_LIVE : 0;
}

static void recycle(tg_storage *s)
{
    s->reuse = TG__RECYCLED;
    tg__scope_recycle(s->data, s->nbytes);
}

static void release(tg_storage *s)
{
    if (s->reuse == TG__PASS_LIVE && s->grad_homes == 0) recycle(s);
}

/* After a node's backward: its gradient g, and the tensors made since mark
 * (its temporaries), unless a gradient buffer adopted them. Their headers
 * die with their memory, so that a stray use fails tg__check. */
static void release_after_node(tg_tensor *g, tg_tensor *mark)
{
    if (!pass_scope_innermost()) return;
    tg_tensor *newest = tg__scope_newest();
    release(g->storage);
    for (tg_tensor *t = newest; t && t != mark; t = t->scope_prev) release(t->storage);
    for (tg_tensor *t = newest; t && t != mark; t = t->scope_prev)
        if (t->storage->reuse == TG__RECYCLED) t->magic = 0;
    if (g->storage->reuse == TG__RECYCLED) g->magic = 0;
}

/* The storage of tensors made since storage_mark that a node recorded
 * after tape_mark reads: any use but an input, or the output, its node
 * marked unread. */
static bool read_by_backward(const tg_storage *s, const tg_node *tape_mark)
{
    for (const tg_node *n = tape_tail; n && n != tape_mark; n = n->prev)
        if (tg__node_uses(n, s, true)) return true;
    return false;
}

void tg__recycle_step(const tg_node *tape_mark, const tg_tensor *tensor_mark, uint64_t storage_mark, int n_keep,
                      tg_tensor *const *keep)
{
    if (in_pass) return;
    for (tg_tensor *t = tg__scope_newest(); t && t != tensor_mark; t = t->scope_prev) {
        tg_storage *s = t->storage;
        if (s->serial <= storage_mark || s->persistent || s->reuse || s->nbytes < TG__REUSE_MIN) continue;
        bool kept = false;
        for (int k = 0; k < n_keep && !kept; k++) kept = keep[k] && keep[k]->storage == s;
        if (!kept && !read_by_backward(s, tape_mark)) recycle(s);
    }
}

/* *home = t, keeping the count of buffers holding each storage. */
static void set_home(tg_tensor **home, tg_tensor *t)
{
    if (*home) (*home)->storage->grad_homes--;
    if (t) t->storage->grad_homes++;
    *home = t;
}

/* Where x's gradient accumulates: a non-leaf's node buffer, a leaf's pass
 * buffer (its persistent .grad outside a pass). NULL with a message if x's
 * node was lost or the leaf cannot be listed. */
static tg_tensor **grad_home(tg_tensor *x)
{
    if (x->node == &lost_node) return tg_error(LOST_GRAPH, tg_dtype_name(x->dtype));
    if (x->node && x->node->tombstone) return tg_error(RELEASED_NODE, x->node->op);
    if (foreign(x->node)) return tg_error(FOREIGN_NODE, "tg_backward", x->node->op);
    if (x->node) return &x->node->grad;
    if (!in_pass) return &x->grad;
    if (!x->pass_grad) {
        pass_leaf *entry = tg__arena_alloc(sizeof *entry);
        if (!entry) return NULL;
        *entry = (pass_leaf){x, false, pass_leaves};
        pass_leaves = entry;
    }
    return &x->pass_grad;
}

/* An uninitialised gradient buffer for x, marked as serving as one: in the
 * pass's scope, or persistent for a leaf's .grad outside a pass. */
static tg_tensor *new_grad_buffer(tg_tensor *x)
{
    tg_tensor *buffer = x->node || in_pass ? tg__new("tg_backward", x->dtype, x->ndim, x->shape)
                                           : tg__new_persistent("tg_backward", x->dtype, x->ndim, x->shape);
    if (buffer) buffer->in_grad_slot = true;
    return buffer;
}

/* x's existing buffer, ready to be written: a private copy when it is the
 * memory of the gradient the running backward function may still read
 * (as in addcmul(c, c, x), where c adopts g and then g is read again). */
static tg_tensor *writable_home(tg_tensor *x, tg_tensor **home)
{
    if (active_grad && (*home)->storage == active_grad->storage) {
        tg_tensor *copy = new_grad_buffer(x);
        if (!copy) return NULL;
        tg_copy_(copy, *home);
        set_home(home, copy);
    }
    return *home;
}

tg_tensor *tg__grad_slot_unset(tg_tensor *x, bool *fresh)
{
    *fresh = false;
    if (!tg_needs_grad(x)) return NULL;
    tg_tensor **home = grad_home(x);
    if (!home) return NULL;
    if (!*home) {
        set_home(home, new_grad_buffer(x));
        *fresh = *home != NULL;
        return *home;
    }
    return writable_home(x, home);
}

tg_tensor *tg_grad_slot(tg_tensor *x)
{
    bool fresh;
    tg_tensor *slot = tg__grad_slot_unset(x, &fresh);
    if (fresh) tg_fill_(slot, 0.0);
    return slot;
}

/* A first gradient can become x's buffer without a copy when nothing else
 * holds it: a fresh result of the backward function, or the gradient of the
 * node being processed, whose own use ended when its backward began.
 * in_grad_slot marks tensors already adopted, so one tensor handed to two
 * inputs is adopted by the first and copied by the second. A leaf adopts
 * only within a pass (its buffer is the pass's). */
static bool adoptable(const tg_tensor *x, const tg_tensor *g)
{
    return (x->node || in_pass) && !g->persistent && !g->in_grad_slot && g->dtype == x->dtype &&
           tg_is_contiguous(g);
}

void tg_accum_grad(tg_tensor *x, tg_tensor *g)
{
    if (!tg_needs_grad(x) || !g) return;
    tg_tensor **home = grad_home(x);
    if (!home) return;
    if (!tg_same_shape(x, g)) {
        if (!*home) {
            set_home(home, new_grad_buffer(x));
            if (*home) tg_fill_(*home, 0.0);
        }
        tg_tensor *dst = *home ? writable_home(x, home) : NULL;
        if (dst) tg__sum_into(dst, g);
        return;
    }
    if (*home) {
        if (writable_home(x, home)) tg_add_(*home, g, 1.0);
    } else if (adoptable(x, g)) {
        g->in_grad_slot = true;
        set_home(home, g);
    } else {
        set_home(home, new_grad_buffer(x));
        if (*home) tg_copy_(*home, g);
    }
}

int tg__grad_part(tg_node *node, int k, tg_tensor *g)
{
    if (!node || k < 0 || k >= TG__GRAD_PARTS || !in_pass)
        return tg_fail("tg_backward: gradient part %d handed outside a pass or out of range", k);
    if (!node->grad_parts) {
        node->grad_parts = tg__arena_alloc(sizeof(tg_tensor *) * TG__GRAD_PARTS);
        if (!node->grad_parts) return -1;
        memset(node->grad_parts, 0, sizeof(tg_tensor *) * TG__GRAD_PARTS);
    }
    if (node->grad_parts[k]) return tg_fail("tg_backward: gradient part %d of '%s' handed twice", k, node->op);
    /* Held as it is: nothing may adopt it and write into it. */
    g->in_grad_slot = true;
    set_home(&node->grad_parts[k], g);
    /* A node runs in the sweep when it has a gradient. */
    if (!node->grad) set_home(&node->grad, g);
    return 0;
}

/* After node's backward: its parts are dead, as its gradient is. */
static void drop_parts(tg_node *n, bool release_them)
{
    for (int k = 0; n->grad_parts && k < TG__GRAD_PARTS; k++) {
        tg_tensor *part = n->grad_parts[k];
        set_home(&n->grad_parts[k], NULL);
        if (part && release_them && pass_scope_innermost()) release(part->storage);
    }
    n->grad_parts = NULL;
}

/* False with PyTorch's message if an input, a saved tensor or the output of
 * n has been modified in place since n was recorded, unless n's backward
 * never reads its values (tg_node.unread_inputs, unread_out): as PyTorch
 * checks only what a node saved, so that y.add_(1) after z = y + 1 leaves
 * z's gradient alone. */
static bool unmodified(const tg_node *n)
{
    for (int k = -1; k < n->n_inputs + 4; k++) {
        bool input = k >= 0 && k < n->n_inputs;
        const tg_tensor *t = k < 0 ? n->out : input ? n->inputs[k] : n->saved[k - n->n_inputs];
        int64_t expected = k < 0 ? n->out_version : input ? n->input_versions[k] : n->saved_versions[k - n->n_inputs];
        bool unread = k < 0 ? n->unread_out : input && !tg__reads_input(n, k);
        if (!t || expected < 0 || unread || t->storage->version == expected) continue;
        char s[128], which[64];
        if (k < 0) snprintf(which, sizeof which, "the output");
        else snprintf(which, sizeof which, "%s %d", input ? "input" : "saved tensor", input ? k : k - n->n_inputs);
        return TG__REJECT("tg_backward: one of the variables needed for gradient computation has been modified by an "
                          "inplace operation: [%s %s], which is %s of '%s', is at version %lld; expected version "
                          "%lld instead", tg_dtype_name(t->dtype), tg_shape_str(t, s, sizeof s), which, n->op,
                          (long long)t->storage->version, (long long)expected);
    }
    return true;
}

/* Add every leaf's pass gradient into its .grad, making the missing .grad
 * buffers first so that running out of memory changes nothing. */
static int commit_leaf_grads(void)
{
    for (pass_leaf *e = pass_leaves; e; e = e->next) {
        tg_tensor *x = e->leaf;
        if (!x->pass_grad || x->grad) continue;
        if (!(x->grad = tg__new_persistent("tg_backward", x->dtype, x->ndim, x->shape))) {
            for (pass_leaf *made = pass_leaves; made != e; made = made->next)
                if (made->made_grad) {
                    tg_free(made->leaf->grad);
                    made->leaf->grad = NULL;
                }
            return -1;
        }
        e->made_grad = true;
    }
    for (pass_leaf *e = pass_leaves; e; e = e->next) {
        tg_tensor *x = e->leaf;
        if (!x->pass_grad) continue;
        if (e->made_grad) tg_copy_(x->grad, x->pass_grad);
        else tg_add_(x->grad, x->pass_grad, 1.0);
    }
    return 0;
}

/* --- hooks and retain_grad --------------------------------------------------
 * A non-leaf's hooks hang off its node and run in the sweep, on its summed
 * gradient, before its backward function. A leaf has no node, so its hooks
 * hang off a node of their own (op "hook", no backward function, out = the
 * leaf) recorded on the tape, which rewinds it with its scope, and reached by
 * no edge; they run on the leaf's pass gradient before the commit. A retained
 * gradient is added into t->grad at the commit too, so a failed pass changes
 * no retained gradient either; its buffer is made before the pass, in the
 * caller's scope, which the pass's own scope would otherwise take with it. */
struct tg_hook {
    tg_hook_fn fn;
    void *ctx;
    tg_hook *next;
};

static _Thread_local bool leaf_hooks_recorded; /* no tape walks before the first */
static _Thread_local bool retains_recorded;

/* A non-leaf's gradient after its hooks, waiting for the commit. */
typedef struct pass_retained {
    tg_tensor *t, *grad;
    bool made_grad;
    struct pass_retained *next;
} pass_retained;
static _Thread_local pass_retained *pass_retains;

/* grad after t's hooks; NULL with a message if a hook returns a gradient of
 * the wrong shape. */
static tg_tensor *hooked_grad(tg_tensor *t, const tg_hook *hooks, tg_tensor *grad)
{
    for (; hooks; hooks = hooks->next) {
        tg_tensor *replaced = hooks->fn(t, grad, hooks->ctx);
        if (!replaced) continue;
        if (!tg__check("tg_backward", replaced) || !tg_same_shape(replaced, t) || replaced->dtype != t->dtype) {
            char s1[128], s2[128];
            return tg_error("tg_backward: a hook on a tensor of shape %s (%s) returned a gradient of shape %s (%s)",
                            tg_shape_str(t, s1, sizeof s1), tg_dtype_name(t->dtype),
                            tg_shape_str(replaced, s2, sizeof s2), tg_dtype_name(replaced->dtype));
        }
        grad = tg__contiguous(replaced);
    }
    return grad;
}

/* The leaf's hook node of the innermost open scope, made if it has none:
 * a hook registered in a scope ends with it, so it cannot join a node of
 * an outer scope (whose list would keep it after its memory went). */
static tg_node *leaf_hook_node(tg_tensor *leaf)
{
    tg_node *mark = tg__scope_tape_mark();
    for (tg_node *n = tape_tail; n && n != mark; n = n->prev)
        if (!n->backward && n->out == leaf) return n;
    tg_node *node = tg__arena_alloc(sizeof *node);
    if (!node) return NULL;
    *node = (tg_node){.op = "hook", .out = leaf, .prev = tape_tail};
    tape_tail = node;
    leaf_hooks_recorded = true;
    return node;
}

int tg_register_hook(tg_tensor *t, tg_hook_fn fn, void *ctx)
{
    if (!tg__check("tg_register_hook", t)) return -1;
    if (!t->requires_grad)
        return tg_fail("tg_register_hook: cannot register a hook on a tensor that doesn't require gradient");
    if (!fn) return tg_fail("tg_register_hook: fn is NULL");
    if (foreign(t->node)) return tg_fail(FOREIGN_NODE, "tg_register_hook", t->node->op);
    /* A released node's hooks could never run, and outside scopes they
     * would not outlive it: one made before the base level's floor stays
     * while the arena above the floor, where they would be, is reused. */
    if (t->node && t->node->released)
        return tg_fail("tg_register_hook: the graph that made this tensor is gone (%s); no backward can reach it",
                       t->node == &lost_node ? "its recording ran out of memory" : "released by an earlier backward");
    /* The hook lives in the innermost scope's memory, so it cannot hang off
     * a node an outer scope made: that node would keep it past its end. */
    tg_node *mark = tg__scope_tape_mark(), *n = tape_tail;
    if (t->node && mark) {
        while (n && n != mark && n != t->node) n = n->prev;
        if (n != t->node || n == mark)
            return tg_fail("tg_register_hook: the tensor was made outside the innermost open scope, whose end "
                           "would take the hook with it; register the hook in the scope that made the tensor");
    }
    tg_node *node = t->node ? t->node : leaf_hook_node(t);
    tg_hook *hook = node ? tg__arena_alloc(sizeof *hook) : NULL;
    if (!hook) return tg_fail("tg_register_hook: out of memory");
    *hook = (tg_hook){fn, ctx, NULL};
    tg_hook **end = &node->hooks;
    while (*end) end = &(*end)->next;
    *end = hook;
    /* A leaf's hooks outlive the graphs recorded around them. */
    if (!t->node) tg__base_floor_raise();
    return 0;
}

int tg_retain_grad(tg_tensor *t)
{
    if (!tg__check("tg_retain_grad", t)) return -1;
    if (!t->requires_grad) return tg_fail("tg_retain_grad: can't retain_grad on Tensor that has requires_grad=False");
    if (foreign(t->node)) return tg_fail(FOREIGN_NODE, "tg_retain_grad", t->node->op);
    if (t->node) {
        t->node->retains_grad = true;
        retains_recorded = true;
    }
    return 0;
}

/* Before the pass, in the caller's scope: an entry for every retaining
 * tensor behind t, and a zeroed .grad for those that have none yet. The
 * .grad is persistent, as a leaf's is: the tensor may outlive the scope the
 * backward runs in (made outside any scope, or in an outer one), and its
 * .grad goes with it (tg_free, or its scope's end). */
static int prepare_retained(tg_tensor *t)
{
    pass_retains = NULL;
    for (tg_node *n = retains_recorded ? t->node : NULL; n; n = n->prev) {
        /* A node whose output the caller freed has no .grad to keep. */
        if (!n->retains_grad || !n->out) continue;
        pass_retained *r = tg__arena_alloc(sizeof *r);
        if (!r) return -1;
        *r = (pass_retained){n->out, NULL, !n->out->grad, pass_retains};
        pass_retains = r;
        if (r->made_grad &&
            !(n->out->grad = tg__new_persistent("tg_backward", n->out->dtype, n->out->ndim, n->out->shape)))
            return -1;
        if (r->made_grad) tg_fill_(n->out->grad, 0.0);
    }
    return 0;
}

/* After the pass: add the retained gradients (status 0), or free the
 * buffers made for a pass that failed or for tensors it did not reach,
 * whose .grad stays NULL as a leaf's does. */
static void finish_retained(int status)
{
    for (pass_retained *r = pass_retains; r; r = r->next) {
        if (status == 0 && r->grad) tg_add_(r->t->grad, r->grad, 1.0);
        else if (r->made_grad) {
            tg_free(r->t->grad);
            r->t->grad = NULL;
        }
    }
    pass_retains = NULL;
}

void tg__tape_forget_leaf(const tg_tensor *leaf)
{
    for (tg_node *n = leaf_hooks_recorded ? tape_tail : NULL; n; n = n->prev)
        if (!n->backward && n->out == leaf) n->out = NULL;
}

/* Run each hooked leaf's hooks on its pass gradient; 0 or -1. A leaf has
 * a hook node for each scope that registered hooks on it, so the nodes run
 * oldest first: registration order. */
static int run_leaf_hooks(void)
{
    int64_t count = 0;
    for (tg_node *n = leaf_hooks_recorded ? tape_tail : NULL; n; n = n->prev)
        count += !n->backward && n->hooks && n->out && n->out->pass_grad;
    if (count == 0) return 0;
    tg_node **nodes = tg__arena_take(sizeof *nodes * (size_t)count); /* the pass's scope's */
    if (!nodes) return tg_fail("tg_backward: out of memory");
    int64_t k = count;
    for (tg_node *n = tape_tail; n; n = n->prev)
        if (!n->backward && n->hooks && n->out && n->out->pass_grad) nodes[--k] = n;
    /* A hook whose op failed hands back NULL, "unchanged", and the op's
     * message stands: the pass fails, as it does for a non-leaf's hooks. */
    uint64_t errors = tg__error_count();
    int status = 0;
    for (k = 0; k < count && status == 0; k++) {
        tg_tensor *grad = hooked_grad(nodes[k]->out, nodes[k]->hooks, nodes[k]->out->pass_grad);
        if (grad && tg__error_count() == errors) nodes[k]->out->pass_grad = grad;
        else status = -1;
    }
    return status;
}

static int run_backward(tg_tensor *t, const tg_tensor *grad, bool retain)
{
    if (!tg__check("tg_backward", t)) return -1;
    if (grad && !tg__check("tg_backward", grad)) return -1;
    char s1[128], s2[128];
    if (!t->requires_grad)
        return tg_fail("tg_backward: element 0 of tensors does not require grad and does not have a grad_fn");
    if (!grad && tg_numel(t) != 1)
        return tg_fail("tg_backward: grad can be implicitly created only for scalar outputs (got shape %s)",
                       tg_shape_str(t, s1, sizeof s1));
    if (grad && (!tg_same_shape(grad, t) || grad->dtype == TG_I64))
        return tg_fail("tg_backward: grad of shape %s and dtype %s does not match output of shape %s",
                       tg_shape_str(grad, s1, sizeof s1), tg_dtype_name(grad->dtype), tg_shape_str(t, s2, sizeof s2));
    if (t->node == &lost_node) return tg_fail(LOST_GRAPH, tg_dtype_name(t->dtype));
    if (foreign(t->node)) return tg_fail(FOREIGN_NODE, "tg_backward", t->node->op);
    if (t->node && t->node->released)
        return tg_fail("tg_backward: Trying to backward through the graph a second time (the graph from '%s' "
                       "was released by an earlier backward; use tg_backward_retain the first time)", t->node->op);
    if (in_pass) return tg_fail("tg_backward: called from inside a backward function");
    if (prepare_retained(t) < 0) {
        finish_retained(-1);
        return tg_fail("tg_backward: out of memory for retained gradients");
    }
    /* Everything the pass makes but the leaves' and retained .grad lives in
     * this scope. */
    tg_scope *pass = tg_scope_begin();
    if (!pass) {
        finish_retained(-1);
        return tg_fail("tg_backward: out of memory");
    }
    bool was = tg_set_grad_enabled(false);
    in_pass = true;
    pass_depth = tg__scope_depth();
    pass_leaves = NULL;
    uint64_t errors = tg__error_count();
    /* A copy of the caller's gradient, since buffers get adopted and added into. */
    tg_tensor *seed = tg__new("tg_backward", t->dtype, t->ndim, t->shape);
    if (seed) {
        if (grad) tg_copy_(seed, grad);
        else tg_fill_(seed, 1.0);
        if (t->node) t->node->grad = NULL;
        tg_accum_grad(t, seed);
    }
    /* Creation order is a topological order: every node that contributes to
     * a node's gradient was made after it, so one backward sweep suffices. */
    for (tg_node *n = t->node; n && tg__error_count() == errors; n = n->prev) {
        tg_tensor *g = n->grad;
        if (!g) continue;
        set_home(&n->grad, NULL);
        g->in_grad_slot = false; /* out's gradient is final: its inputs may adopt it */
        if (n->released) {
            tg_error(RELEASED_NODE, n->op);
            break;
        }
        if (!unmodified(n)) break;
        if (n->hooks) {
            tg_tensor *shown = g;
            if (!(g = hooked_grad(n->out, n->hooks, g))) break;
            /* A hook's own result may share the caller's memory (tg_contiguous
             * or a view of a tensor it holds): the inputs copy it rather than
             * adopt it and add into it. */
            if (g != shown) g->in_grad_slot = true;
        }
        for (pass_retained *r = n->retains_grad ? pass_retains : NULL; r; r = r->next)
            if (r->t == n->out) set_home(&r->grad, g);
        /* A retained gradient is held as it is: the inputs copy it rather
         * than adopt it and add into it (a leaf input that gets more). */
        if (n->retains_grad) g->in_grad_slot = true;
        tg_tensor *mark = tg__scope_newest();
        active_grad = g;
        n->backward(n, g);
        active_grad = NULL;
        drop_parts(n, !n->hooks && tg__error_count() == errors);
        if (!retain) n->released = true;
        if (!retain) base_unread(n, false);
        /* A hook may keep the gradient it was shown: then it stays. */
        if (!n->hooks && tg__error_count() == errors) release_after_node(g, mark);
    }
    int status = tg__error_count() == errors && run_leaf_hooks() == 0 ? commit_leaf_grads() : -1;
    finish_retained(status);
    /* After a failure, gradients left on the unvisited nodes die with the
     * pass's scope: forget them. */
    if (status < 0)
        for (tg_node *n = t->node; n; n = n->prev) n->grad = NULL, n->grad_parts = NULL;
    for (pass_leaf *e = pass_leaves; e; e = e->next) e->leaf->pass_grad = NULL;
    pass_leaves = NULL;
    in_pass = false;
    tg_set_grad_enabled(was);
    tg_scope_end(pass);
    tg__graph_sweep();
    tg__base_trim();
    return status;
}

/* A node about to be freed whose output the caller still holds leaves
 * that output a tombstone of its own, freed with it: the op's name for
 * printing and errors, and released, so that a second backward through
 * it is refused as before (PyTorch's grad_fn outlives its buffers too). */
static void entomb(tg_node *n)
{
    tg_node *stone = malloc(sizeof *stone);
    if (!stone) {
        n->out->node = &lost_node;
        return;
    }
    *stone = (tg_node){.op = n->op, .released = true, .tombstone = true};
    n->out->node = stone;
}

void tg__base_trim(void)
{
    if (base_live > 0 || in_pass) return;
    tg_node *floor = tg__base_floor_tape();
    if (tape_tail == floor || !tg__base_can_rewind()) return;
    for (tg_node *n = tape_tail; n && n != floor; n = n->prev)
        if (n->out && n->out->node == n) entomb(n);
    tape_tail = floor;
    tg__base_rewind();
}

int tg_backward(tg_tensor *t, const tg_tensor *grad) { return run_backward(t, grad, false); }
int tg_backward_retain(tg_tensor *t, const tg_tensor *grad) { return run_backward(t, grad, true); }

tg_tensor *tg_detach(tg_tensor *t)
{
    if (!tg__check("tg_detach", t)) return NULL;
    return tg__view_of("tg_detach", t, t->ndim, t->shape, t->stride, t->offset);
}

void tg_zero_grad(int n, tg_tensor *const *leaves)
{
    if (!leaves) return;
    bool was = tg_set_grad_enabled(false);
    for (int i = 0; i < n; i++)
        if (leaves[i] && leaves[i]->grad) tg_fill_(leaves[i]->grad, 0.0);
    tg_set_grad_enabled(was);
}

/* --- Graphviz export ------------------------------------------------------ */

static void dot_tensor_id(FILE *out, const tg_tensor *t)
{
    if (t->node) fprintf(out, "n%p", (void *)t->node);
    else fprintf(out, "t%p", (const void *)t);
}

int tg_graph_dot(const tg_tensor *t, FILE *out)
{
    if (!tg__check("tg_graph_dot", t)) return -1;
    if (!out) return tg_fail("tg_graph_dot: out is NULL");
    fprintf(out, "digraph tapegrad {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    char s[128];
    if (!t->node) {
        fprintf(out, "  ");
        dot_tensor_id(out, t);
        fprintf(out, " [shape=ellipse, label=\"leaf %s\"];\n}\n", tg_shape_str(t, s, sizeof s));
        return 0;
    }
    /* Sweep the tape backwards as backward does, keeping the set of nodes
     * reached from t (a list: graphs drawn for people are small). A node
     * reached is t's or an input's of a node on the tape, and need not be
     * on the tape itself (a released graph's tombstone, a recording that
     * ran out of memory): the list has room for every input, and what the
     * sweep does not pass is drawn after it. */
    size_t cap = 1;
    for (tg_node *n = t->node; n; n = n->prev) cap += (size_t)n->n_inputs;
    tg_node **reach = tg__arena_take((sizeof(tg_node *) + sizeof(bool)) * cap);
    if (!reach) return tg_fail("tg_graph_dot: out of memory");
    bool *drawn = (bool *)(reach + cap);
    size_t nreach = 0;
    drawn[nreach] = false;
    reach[nreach++] = t->node;
    for (tg_node *n = t->node; n; n = n->prev) {
        size_t at = 0;
        while (at < nreach && reach[at] != n) at++;
        /* A released node is left to the dashed boxes, its inputs unread:
         * the caller may have freed them once the backward was done. */
        if (at == nreach || n->released) continue;
        drawn[at] = true;
        fprintf(out, "  n%p [shape=box, style=filled, fillcolor=\"#dde8f6\", label=\"%s\\n%s\"];\n",
                (void *)n, n->op, tg_shape_str(n->out ? n->out : t, s, sizeof s));
        for (int i = 0; i < n->n_inputs; i++) {
            tg_tensor *in = n->inputs[i];
            if (!in || !in->requires_grad) continue;
            if (in->node) {
                bool known = false;
                for (size_t k = 0; k < nreach && !known; k++) known = reach[k] == in->node;
                if (!known) {
                    drawn[nreach] = false;
                    reach[nreach++] = in->node;
                }
            } else {
                fprintf(out, "  ");
                dot_tensor_id(out, in);
                fprintf(out, " [shape=ellipse, label=\"leaf %s\"];\n", tg_shape_str(in, s, sizeof s));
            }
            fprintf(out, "  ");
            dot_tensor_id(out, in);
            fprintf(out, " -> n%p;\n", (void *)n);
        }
    }
    for (size_t i = 0; i < nreach; i++)
        if (!drawn[i]) fprintf(out, "  n%p [shape=box, style=dashed, label=\"%s\"];\n", (void *)reach[i], reach[i]->op);
    fprintf(out, "}\n");
    return 0;
}
