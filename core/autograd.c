/* The tape and the backward walk. */
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

tg_node *tg_record(const char *op, tg_backward_fn backward, tg_tensor *out, int n_inputs,
                   tg_tensor *const *inputs)
{
    if (n_inputs > 0 && !inputs) return tg_error("tg_record: inputs is NULL for %d inputs", n_inputs);
    if (grad_disabled || !out || !tg__any_requires_grad(n_inputs, inputs)) return NULL;
    if (!op || !backward) return tg_error("tg_record: op name and backward function are required");
    tg_node *node = tg__arena_alloc(sizeof *node);
    tg_tensor **in = node ? tg__arena_alloc(sizeof(tg_tensor *) * (size_t)(n_inputs ? n_inputs : 1)) : NULL;
    if (!in) return NULL;
    memset(node, 0, sizeof *node);
    memcpy(in, inputs, sizeof(tg_tensor *) * (size_t)n_inputs);
    node->op = op;
    node->backward = backward;
    node->out = out;
    node->n_inputs = n_inputs;
    node->inputs = in;
    node->prev = tape_tail;
    tape_tail = node;
    out->requires_grad = true;
    out->node = node;
    return node;
}

bool tg_needs_grad(const tg_tensor *x) { return x && x->requires_grad; }

/* Where x's gradient accumulates: a leaf's persistent .grad, or its node's
 * buffer during backward. */
static tg_tensor **grad_home(tg_tensor *x) { return x->node ? &x->node->grad : &x->grad; }

/* An uninitialised gradient buffer for x, marked as serving as one. */
static tg_tensor *new_grad_buffer(tg_tensor *x)
{
    /* Leaf gradients outlive the scope; intermediate ones die with it. */
    tg_tensor *buffer = x->node ? tg__new(x->dtype, x->ndim, x->shape)
                                : tg__new_persistent(x->dtype, x->ndim, x->shape);
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
        *home = copy;
    }
    return *home;
}

tg_tensor *tg_grad_slot(tg_tensor *x)
{
    if (!tg_needs_grad(x)) return NULL;
    tg_tensor **home = grad_home(x);
    if (!*home) {
        *home = new_grad_buffer(x);
        if (*home) tg_fill_(*home, 0.0);
        return *home;
    }
    return writable_home(x, home);
}

/* A first gradient for a non-leaf can become its buffer without a copy when
 * nothing else holds it: a fresh result of the backward function, or the
 * gradient of the node being processed, whose own use ended when its
 * backward began. in_grad_slot marks tensors already adopted, so one tensor
 * handed to two inputs is adopted by the first and copied by the second. */
static bool adoptable(const tg_tensor *x, const tg_tensor *g)
{
    return x->node && !g->persistent && !g->in_grad_slot && g->dtype == x->dtype && tg_is_contiguous(g);
}

/* --- the engine's one reduction ---------------------------------------------
 * A gradient g shaped like the broadcast result of x is summed down to x's
 * shape (PyTorch's sum_to_size): dst[i] += sum over the broadcast positions
 * of g. dst is walked as a view expanded to g's shape (stride 0 on the summed
 * dims), one thread, so the order of the sums never depends on threads.
 * A row that folds into one element is summed in double. */
static void sum_into_row(int64_t n, char **p, const int64_t *step, void *ctx)
{
    tg_dtype dtype = *(const tg_dtype *)ctx;
    if (step[0] == 0) {
        double total = 0;
        for (int64_t i = 0; i < n; i++) total += tg__load(p[1] + i * step[1], dtype);
        tg__store(p[0], dtype, tg__load(p[0], dtype) + total);
    } else if (dtype == TG_F32) {
        for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * step[0]) += *(const float *)(p[1] + i * step[1]);
    } else {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * step[0]) += *(const double *)(p[1] + i * step[1]);
    }
}

static int sum_into(tg_tensor *dst, const tg_tensor *g)
{
    int lead = g->ndim - dst->ndim;
    int64_t stride[TG_MAX_DIMS];
    bool ok = lead >= 0 && g->dtype == dst->dtype;
    for (int d = 0; ok && d < g->ndim; d++) {
        if (d < lead) stride[d] = 0;
        else if (dst->shape[d - lead] == g->shape[d]) stride[d] = dst->stride[d - lead];
        else if (dst->shape[d - lead] == 1) stride[d] = 0;
        else ok = false;
    }
    if (!ok) {
        char a[128], b[128];
        return tg_fail("tg_accum_grad: a gradient of shape %s (%s) does not reduce to shape %s (%s)",
                       tg_shape_str(g, a, sizeof a), tg_dtype_name(g->dtype),
                       tg_shape_str(dst, b, sizeof b), tg_dtype_name(dst->dtype));
    }
    tg_tensor spread = tg__header(dst, g->ndim, g->shape, stride, dst->offset);
    tg__foreach(2, (const tg_tensor *[]){&spread, g}, g->ndim, g->shape, sum_into_row, &spread.dtype, false);
    return 0;
}

void tg_accum_grad(tg_tensor *x, tg_tensor *g)
{
    if (!tg_needs_grad(x) || !g) return;
    tg_tensor **home = grad_home(x);
    if (!tg_same_shape(x, g)) {
        if (!*home && (*home = new_grad_buffer(x))) tg_fill_(*home, 0.0);
        tg_tensor *dst = *home ? writable_home(x, home) : NULL;
        if (dst) sum_into(dst, g);
        return;
    }
    if (*home) {
        if (writable_home(x, home)) tg_add_(*home, g, 1.0);
    } else if (adoptable(x, g)) {
        g->in_grad_slot = true;
        *home = g;
    } else {
        *home = new_grad_buffer(x);
        if (*home) tg_copy_(*home, g);
    }
}

/* --- hooks and retain_grad --------------------------------------------------
 * A non-leaf's hooks hang off its node. A leaf has no node, so its hooks hang
 * off a node of their own (op "hook", no backward function, out = the leaf)
 * recorded on the tape, which rewinds it with its scope, and reached by no
 * edge. Backward finds those by a walk over the tape, gives each hooked leaf
 * an empty .grad for the pass (its old one waits in saved[0]), and after the
 * sweep runs the hooks on what arrived and adds the result into the old one. */
struct tg_hook {
    tg_hook_fn fn;
    void *ctx;
    tg_hook *next;
};

static _Thread_local bool leaf_hooks_recorded; /* no tape walks before the first */

/* grad after t's hooks, added into t->grad too when t retains its gradient;
 * NULL with a message if a hook returns a gradient of the wrong shape. */
static tg_tensor *hooked_grad(tg_tensor *t, const tg_hook *hooks, bool retains, tg_tensor *grad)
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
        grad = tg_contiguous(replaced);
    }
    if (retains && !t->grad && (t->grad = tg__new(t->dtype, t->ndim, t->shape))) tg_copy_(t->grad, grad);
    else if (retains && t->grad) tg_add_(t->grad, grad, 1.0);
    return grad;
}

static tg_node *leaf_hook_node(tg_tensor *leaf)
{
    for (tg_node *n = tape_tail; n; n = n->prev)
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
    tg_node *node = t->node ? t->node : leaf_hook_node(t);
    tg_hook *hook = node ? tg__arena_alloc(sizeof *hook) : NULL;
    if (!hook) return -1;
    *hook = (tg_hook){fn, ctx, NULL};
    tg_hook **end = &node->hooks;
    while (*end) end = &(*end)->next;
    *end = hook;
    return 0;
}

int tg_retain_grad(tg_tensor *t)
{
    if (!tg__check("tg_retain_grad", t)) return -1;
    if (!t->requires_grad) return tg_fail("tg_retain_grad: can't retain_grad on Tensor that has requires_grad=False");
    if (t->node) t->node->retains_grad = true;
    return 0;
}

static void begin_leaf_hooks(void)
{
    for (tg_node *n = leaf_hooks_recorded ? tape_tail : NULL; n; n = n->prev)
        if (!n->backward) {
            n->saved[0] = n->out->grad;
            n->out->grad = NULL;
            n->iarg[0] = 1; /* swapped: a hook registered during backward has nothing to give back */
        }
}

/* Run the leaves' hooks (when run_hooks) on this pass's gradients and add
 * the results into their own .grad; 0, or -1 if a hook failed. */
static int end_leaf_hooks(bool run_hooks)
{
    int status = 0;
    for (tg_node *n = leaf_hooks_recorded ? tape_tail : NULL; n; n = n->prev) {
        if (n->backward || !n->iarg[0]) continue;
        tg_tensor *leaf = n->out, *pass = leaf->grad, *kept = n->saved[0];
        tg_tensor *grad = pass && run_hooks ? hooked_grad(leaf, n->hooks, false, pass) : pass;
        leaf->grad = kept;
        n->iarg[0] = 0;
        if (pass && !grad) status = -1;
        if (grad && grad != pass) tg_copy_(pass, grad);
        if (grad && !kept) leaf->grad = pass;
        else if (grad) tg_add_(kept, pass, 1.0);
        if (pass && leaf->grad != pass) tg_free(pass);
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
    if (t->node && t->node->released)
        return tg_fail("tg_backward: Trying to backward through the graph a second time (the graph from '%s' "
                       "was released by an earlier backward; use tg_backward_retain the first time)", t->node->op);
    bool was = tg_set_grad_enabled(false);
    /* A copy of the caller's gradient, since buffers get adopted and added into. */
    tg_tensor *seed = tg__new(t->dtype, t->ndim, t->shape);
    if (!seed) {
        tg_set_grad_enabled(was);
        return -1;
    }
    if (grad) tg_copy_(seed, grad);
    else tg_fill_(seed, 1.0);
    if (t->node) t->node->grad = NULL;
    begin_leaf_hooks();
    tg_accum_grad(t, seed);
    int status = 0;
    /* Creation order is a topological order: every node that contributes to
     * a node's gradient was made after it, so one backward sweep suffices. */
    for (tg_node *n = t->node; n; n = n->prev) {
        tg_tensor *g = n->grad;
        if (!g) continue;
        n->grad = NULL;
        g->in_grad_slot = false; /* out's gradient is final: its inputs may adopt it */
        if (n->released) {
            tg_error("tg_backward: Trying to backward through the graph a second time (node '%s' "
                     "was released by an earlier backward)", n->op);
            status = -1;
            break;
        }
        if ((n->hooks || n->retains_grad) && !(g = hooked_grad(n->out, n->hooks, n->retains_grad, g))) {
            status = -1;
            break;
        }
        active_grad = g;
        n->backward(n, g);
        active_grad = NULL;
        if (!retain) n->released = true;
    }
    if (end_leaf_hooks(status == 0) < 0) status = -1;
    tg_set_grad_enabled(was);
    return status;
}

int tg_backward(tg_tensor *t, const tg_tensor *grad) { return run_backward(t, grad, false); }
int tg_backward_retain(tg_tensor *t, const tg_tensor *grad) { return run_backward(t, grad, true); }

tg_tensor *tg_detach(tg_tensor *t)
{
    if (!tg__check("tg_detach", t)) return NULL;
    return tg__view_of(t, t->ndim, t->shape, t->stride, t->offset);
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
     * reached from t (a list: graphs drawn for people are small). */
    size_t cap = 0;
    for (tg_node *n = t->node; n; n = n->prev) cap++;
    tg_node **reach = tg__arena_alloc(sizeof(tg_node *) * cap);
    if (!reach) return -1;
    size_t nreach = 0;
    reach[nreach++] = t->node;
    for (tg_node *n = t->node; n; n = n->prev) {
        bool reached = false;
        for (size_t i = 0; i < nreach && !reached; i++) reached = reach[i] == n;
        if (!reached) continue;
        fprintf(out, "  n%p [shape=box, style=filled, fillcolor=\"#dde8f6\", label=\"%s\\n%s\"];\n",
                (void *)n, n->op, tg_shape_str(n->out, s, sizeof s));
        for (int i = 0; i < n->n_inputs; i++) {
            tg_tensor *in = n->inputs[i];
            if (!in || !in->requires_grad) continue;
            if (in->node) {
                bool known = false;
                for (size_t k = 0; k < nreach && !known; k++) known = reach[k] == in->node;
                if (!known) reach[nreach++] = in->node;
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
    fprintf(out, "}\n");
    return 0;
}
