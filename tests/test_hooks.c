/* Gradients of intermediate tensors: tg_retain_grad and tg_register_hook on
 * non-leaves, views and leaves, their lifetimes, and their errors. */
#include "support.h"

#include <math.h>

static tg_tensor *scale_by(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    return tg_mul_scalar(grad, *(const double *)ctx);
}

static tg_tensor *add_one(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    return tg_add_scalar(grad, 1.0);
}

/* Sees the gradient, changes nothing: the sum of its elements and how many calls. */
typedef struct {
    int calls;
    double sum;
} seen;

static tg_tensor *observe(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    seen *s = ctx;
    s->calls++;
    s->sum = tg_item(tg_sum(grad, 0, NULL, false));
    return NULL;
}

static tg_tensor *wrong_shape(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    return tg_sum(grad, 0, NULL, false);
}

/* loss = sum(tanh(w * x)), with h = w * x: dloss/dw = x * (1 - tanh(h)^2) */
static double plain_grad(double w, double x)
{
    double t = tanh(w * x);
    return x * (1 - t * t);
}

static const double W[3] = {0.5, -1.0, 2.0}, X[3] = {1.0, 2.0, -0.5};

/* A leaf holding W that requires grad, in the current scope (or persistent). */
static tg_tensor *w_leaf(void) { return tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, W), true); }

/* A hook that scales the gradient of an intermediate tensor scales every
 * leaf gradient behind it; one that only looks sees dloss/dh and changes
 * nothing; several run in registration order. */
static void test_hook_scales_leaf_gradients(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_tensor *b = tg_requires_grad(tg_zeros(TG_F64, 1, (int64_t[]){3}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_from_array(TG_F64, 1, (int64_t[]){3}, X);
    tg_tensor *h = tg_add(tg_mul(w, x), b);
    double three = 3.0;
    seen before = {0, 0}, after = {0, 0};
    assert_int_equal(tg_register_hook(h, observe, &before), 0);
    assert_int_equal(tg_register_hook(h, scale_by, &three), 0);
    assert_int_equal(tg_register_hook(h, observe, &after), 0);
    assert_int_equal(tg_backward(tg_sum(tg_tanh(h), 0, NULL, false), NULL), 0);
    double dh_sum = 0;
    for (int i = 0; i < 3; i++) {
        double t = tanh(W[i] * X[i]);
        dh_sum += 1 - t * t;
        assert_near(tg_get(w->grad, (int64_t[]){i}), 3 * plain_grad(W[i], X[i]), 1e-14);
        assert_near(tg_get(b->grad, (int64_t[]){i}), 3 * (1 - t * t), 1e-14);
    }
    assert_int_equal(before.calls, 1);
    assert_near(before.sum, dh_sum, 1e-14);
    assert_near(after.sum, 3 * dh_sum, 1e-14);
    assert_null(h->grad); /* no retain_grad: an intermediate keeps nothing */

    /* (g + 1) * 2, not g * 2 + 1: registration order. */
    tg_zero_grad(1, &b);
    tg_tensor *h2 = tg_add(tg_mul(w, x), b);
    double two = 2.0;
    tg_register_hook(h2, add_one, NULL);
    tg_register_hook(h2, scale_by, &two);
    assert_int_equal(tg_backward(tg_sum(tg_tanh(h2), 0, NULL, false), NULL), 0);
    double t0 = tanh(W[0] * X[0]);
    assert_near(tg_get(b->grad, (int64_t[]){0}), (1 - t0 * t0 + 1) * 2, 1e-14);
    tg_scope_end(s);
    tg_free(w);
    tg_free(b);
}

/* A hook that returns zeros stops the gradient exactly as detaching would:
 * in a recurrence, zeroing dL/dh_1 leaves only the direct paths. */
static tg_tensor *zero(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    return tg_zeros_like(grad);
}

static void test_zero_hook_equals_detach(void **state)
{
    (void)state;
    tg_manual_seed(3);
    tg_tensor *w = leaf_f64(2, (int64_t[]){4, 4}, -1, 1);
    tg_tensor *x = leaf_f64(2, (int64_t[]){2, 4}, -1, 1);
    double hooked[16], detached[16];
    for (int pass = 0; pass < 2; pass++) {
        tg_zero_grad(1, &w);
        tg_scope *s = tg_scope_begin();
        tg_tensor *h = tg_tanh(tg_matmul(x, w)); /* h_1 */
        tg_tensor *carried = h;
        if (pass == 0) assert_int_equal(tg_register_hook(h, zero, NULL), 0);
        else carried = tg_detach(h);
        tg_tensor *h2 = tg_tanh(tg_add(tg_matmul(carried, w), x)); /* h_2 */
        assert_int_equal(tg_backward(tg_sum(h2, 0, NULL, false), NULL), 0);
        tg_copy_to_array(w->grad, pass == 0 ? hooked : detached);
        tg_scope_end(s);
    }
    for (int i = 0; i < 16; i++) assert_near(hooked[i], detached[i], 1e-15);
    assert_true(fabs(detached[0]) > 1e-3);
    tg_free(w);
    tg_free(x);
}

/* retain_grad keeps dL/dt of an intermediate tensor and of a view, summed
 * over backward calls; on a leaf it changes nothing. */
static void test_retain_grad(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_scope *s = tg_scope_begin();
    tg_tensor *h = tg_mul_scalar(w, 2.0);        /* (3) */
    tg_tensor *v = tg_narrow(h, 0, 1, 2);        /* a view: h[1:3] */
    tg_tensor *loss = tg_sum(tg_mul(v, v), 0, NULL, false);
    assert_int_equal(tg_retain_grad(h), 0);
    assert_int_equal(tg_retain_grad(v), 0);
    assert_int_equal(tg_retain_grad(loss), 0);
    assert_int_equal(tg_retain_grad(w), 0);
    assert_int_equal(tg_backward_retain(loss, NULL), 0);
    assert_near(tg_item(loss->grad), 1.0, 0);
    for (int i = 0; i < 2; i++) assert_near(tg_get(v->grad, (int64_t[]){i}), 2 * 2 * W[i + 1], 1e-15);
    assert_near(tg_get(h->grad, (int64_t[]){0}), 0.0, 0); /* outside the view */
    assert_near(tg_get(h->grad, (int64_t[]){2}), 2 * 2 * W[2], 1e-15);
    assert_near(tg_get(w->grad, (int64_t[]){2}), 2 * 2 * 2 * W[2], 1e-15);
    /* A second backward adds, as for leaves. */
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_near(tg_get(v->grad, (int64_t[]){1}), 2 * 2 * 2 * W[2], 1e-15);
    assert_near(tg_get(w->grad, (int64_t[]){2}), 2 * 2 * 2 * 2 * W[2], 1e-15);
    tg_scope_end(s);
    tg_free(w);
}

/* s = w + 2w: the add hands its gradient on unchanged to both inputs, and w
 * gets more through the other one. The gradient retained on s stays
 * dloss/ds = 1 (as torch's), not w's sum of 3. */
static void test_retained_gradient_passed_on_to_a_leaf(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_scope *sc = tg_scope_begin();
    tg_tensor *s = tg_add(w, tg_mul_scalar(w, 2.0));
    assert_int_equal(tg_retain_grad(s), 0);
    assert_int_equal(tg_backward_retain(tg_sum(s, 0, NULL, false), NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_near(tg_get(s->grad, (int64_t[]){i}), 1.0, 0);
        assert_near(tg_get(w->grad, (int64_t[]){i}), 3.0, 0);
    }
    /* A second backward adds into both as before. */
    assert_int_equal(tg_backward(tg_sum(s, 0, NULL, false), NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_near(tg_get(s->grad, (int64_t[]){i}), 2.0, 0);
        assert_near(tg_get(w->grad, (int64_t[]){i}), 6.0, 0);
    }
    tg_scope_end(sc);
    tg_free(w);
}

/* A retained tensor that outlives the scope its backward runs in (a view
 * made outside any scope, a tensor of an outer scope) keeps its .grad past
 * that scope's end: the sum over backwards in scopes of their own, freed
 * with the tensor. */
static void test_retained_gradient_outlives_the_backward_scope(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_tensor *persistent = tg_mul_scalar(w, 2.0); /* outside any scope */
    tg_scope *outer = tg_scope_begin();
    tg_tensor *scoped = tg_mul_scalar(w, 3.0);
    assert_int_equal(tg_retain_grad(persistent), 0);
    assert_int_equal(tg_retain_grad(scoped), 0);
    for (int k = 0; k < 2; k++) {
        tg_scope *inner = tg_scope_begin();
        tg_tensor *loss = tg_sum(tg_add(tg_mul(persistent, persistent), scoped), 0, NULL, false);
        assert_int_equal(tg_backward_retain(loss, NULL), 0); /* the graph behind the two is kept */
        assert_int_equal(tg_scope_end(inner), 0);
    }
    /* Each pass adds 2 * persistent and 1s: two passes, read after them. */
    for (int i = 0; i < 3; i++) {
        assert_near(tg_get(persistent->grad, (int64_t[]){i}), 2 * 2 * 2 * W[i], 1e-15);
        assert_near(tg_get(scoped->grad, (int64_t[]){i}), 2.0, 0);
        assert_near(tg_get(w->grad, (int64_t[]){i}), 2 * (2 * 2 * 2 * W[i] + 3), 1e-14);
    }
    tg_scope_end(outer);
    tg_free(persistent);
    tg_free(w);
}

/* A retained tensor that a backward does not reach keeps a NULL .grad, as
 * torch's stays None and a leaf's does; one reached later gets it then. */
static void test_retained_gradient_not_reached(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_scope *sc = tg_scope_begin();
    tg_tensor *a = tg_mul_scalar(w, 2.0), *b = tg_mul_scalar(w, 3.0);
    assert_int_equal(tg_retain_grad(a), 0);
    assert_int_equal(tg_retain_grad(b), 0);
    assert_int_equal(tg_backward(tg_sum(b, 0, NULL, false), NULL), 0);
    assert_null(a->grad);
    assert_near(tg_get(b->grad, (int64_t[]){0}), 1.0, 0);
    assert_int_equal(tg_backward(tg_sum(a, 0, NULL, false), NULL), 0);
    assert_near(tg_get(a->grad, (int64_t[]){0}), 1.0, 0);
    assert_near(tg_get(w->grad, (int64_t[]){0}), 5.0, 0);
    tg_scope_end(sc);
    tg_free(w);
}

/* Replaces the gradient with a tensor sharing the caller's memory. */
static tg_tensor *replace_with(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)grad;
    return tg_contiguous(ctx);
}

/* A hook on s = w + 2w returns a new header over a tensor the caller holds;
 * w takes that gradient and more through the other input, and the caller's
 * tensor keeps its values, as torch leaves a hook's result alone. */
static void test_hook_result_sharing_memory_is_left_alone(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_scope *sc = tg_scope_begin();
    tg_tensor *fixed = tg_ones(TG_F64, 1, (int64_t[]){3});
    tg_tensor *s = tg_add(w, tg_mul_scalar(w, 2.0));
    assert_int_equal(tg_register_hook(s, replace_with, fixed), 0);
    assert_int_equal(tg_backward(tg_sum(s, 0, NULL, false), NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_near(tg_get(fixed, (int64_t[]){i}), 1.0, 0);
        assert_near(tg_get(w->grad, (int64_t[]){i}), 3.0, 0);
    }
    tg_scope_end(sc);
    tg_free(w);
}

/* A hook on a view changes what reaches the region of its base; the base's
 * retained gradient is taken after its own hooks. */
static void test_hook_on_view(void **state)
{
    (void)state;
    tg_tensor *w = tg_requires_grad(tg_ones(TG_F32, 2, (int64_t[]){2, 3}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *h = tg_mul_scalar(w, 1.0);
    tg_tensor *row = tg_select(h, 0, 1);         /* (3), a view of row 1 */
    double ten = 10.0, half = 0.5;
    tg_register_hook(row, scale_by, &ten);
    tg_register_hook(h, scale_by, &half);
    tg_retain_grad(h);
    assert_int_equal(tg_backward(tg_sum(tg_add(h, tg_unsqueeze(row, 0)), 0, NULL, false), NULL), 0);
    /* row broadcasts over h's 2 rows, so dloss/drow = 2, made 20 by its
     * hook; dloss/dh = 1 everywhere plus 20 on row 1, then halved. */
    assert_near(tg_get(h->grad, (int64_t[]){0, 0}), 0.5, 0);
    assert_near(tg_get(h->grad, (int64_t[]){1, 2}), 0.5 * 21, 0);
    assert_near(tg_get(w->grad, (int64_t[]){1, 0}), 0.5 * 21, 0);
    tg_scope_end(s);
    tg_free(w);
}

/* A hook on a leaf sees the gradient of one backward pass, summed over every
 * use, before it is added into .grad; what .grad held before is left alone.
 * The hook ends with the scope it was registered in. */
static void test_leaf_hook(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_tensor *x = tg_from_array(TG_F64, 1, (int64_t[]){3}, X);
    tg_tensor *scalar = tg_requires_grad(tg_scalar(TG_F64, 4.0), true);
    tg_scope *outer = tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(tg_tanh(tg_mul(w, x)), 0, NULL, false), NULL), 0); /* .grad = g */
    tg_scope *s = tg_scope_begin();
    double half = 0.5;
    seen pass = {0, 0};
    assert_int_equal(tg_register_hook(w, observe, &pass), 0);
    assert_int_equal(tg_register_hook(w, scale_by, &half), 0);
    /* w used twice: the hook runs once, on the sum of both uses. */
    tg_tensor *y = tg_add(tg_sum(tg_tanh(tg_mul(w, x)), 0, NULL, false), tg_sum(w, 0, NULL, false));
    assert_int_equal(tg_backward(y, NULL), 0);
    assert_int_equal(pass.calls, 1);
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        double g = plain_grad(W[i], X[i]);
        sum += g + 1;
        assert_near(tg_get(w->grad, (int64_t[]){i}), g + 0.5 * (g + 1), 1e-14);
    }
    assert_near(pass.sum, sum, 1e-14);
    /* A leaf that is the loss itself goes through its hooks too. */
    tg_register_hook(scalar, scale_by, &half);
    assert_int_equal(tg_backward(scalar, NULL), 0);
    assert_near(tg_item(scalar->grad), 0.5, 0);
    tg_scope_end(s);
    /* The hooks ended with their scope. */
    tg_zero_grad(1, &w);
    assert_int_equal(tg_backward(tg_sum(w, 0, NULL, false), NULL), 0);
    assert_near(tg_get(w->grad, (int64_t[]){0}), 1.0, 0);
    assert_int_equal(pass.calls, 1);
    tg_scope_end(outer);
    tg_free(scalar);
    tg_free(w);
    tg_free(x);
}

/* A leaf hooked outside any scope and then freed: later passes and the
 * release of the thread's memory do not touch it (the sanitizer build
 * reports any read of the freed header). */
static void test_freed_hooked_leaf(void **state)
{
    (void)state;
    double half = 0.5;
    tg_tensor *gone = w_leaf();
    assert_int_equal(tg_register_hook(gone, scale_by, &half), 0);
    tg_free(gone);
    tg_tensor *w = w_leaf();
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_register_hook(w, scale_by, &half), 0);
    assert_int_equal(tg_backward(tg_sum(w, 0, NULL, false), NULL), 0);
    assert_near(tg_get(w->grad, (int64_t[]){2}), 0.5, 0);
    tg_scope_end(s);
    tg_release_thread_memory();
    assert_int_equal(tg_backward(tg_sum(w, 0, NULL, false), NULL), 0);
    assert_near(tg_get(w->grad, (int64_t[]){2}), 1.5, 0);
    tg_free(w);
}

/* A hooked leaf freed while a graph recorded outside any scope still
 * reads it goes with that graph, and its hook's node forgets it then:
 * tg_release_thread_memory read the freed header (the sanitizer build
 * reports such a read). */
static void test_hooked_leaf_freed_with_its_graph(void **state)
{
    (void)state;
    double half = 0.5;
    tg_tensor *w = w_leaf();
    assert_int_equal(tg_register_hook(w, scale_by, &half), 0);
    tg_tensor *y = tg_mul(w, w);
    tg_free(w); /* y's graph still reads w */
    assert_near(tg_get(y, (int64_t[]){1}), W[1] * W[1], 0);
    tg_free(y);
    tg_release_thread_memory();
    /* the thread goes on */
    tg_tensor *v = w_leaf();
    assert_int_equal(tg_backward(tg_sum(v, 0, NULL, false), NULL), 0);
    assert_near(tg_get(v->grad, (int64_t[]){0}), 1, 0);
    tg_free(v);
}

/* A leaf made and hooked inside a scope, with a gradient: ending the scope
 * frees that gradient while the scope's tape is already gone, so the
 * hooked leaf's node is not looked for in the freed memory (the sanitizer
 * build reports such a read). */
static void test_hooked_leaf_of_a_scope(void **state)
{
    (void)state;
    double half = 0.5;
    tg_scope *s = tg_scope_begin();
    tg_tensor *w = w_leaf();
    assert_int_equal(tg_register_hook(w, scale_by, &half), 0);
    assert_int_equal(tg_backward(tg_sum(w, 0, NULL, false), NULL), 0);
    assert_near(tg_get(w->grad, (int64_t[]){2}), 0.5, 0);
    assert_int_equal(tg_scope_end(s), 0);
    /* the memory is used again, and a later pass with a hooked leaf runs */
    tg_tensor *v = w_leaf();
    s = tg_scope_begin();
    assert_int_equal(tg_register_hook(v, scale_by, &half), 0);
    assert_int_equal(tg_backward(tg_sum(tg_mul(v, v), 0, NULL, false), NULL), 0);
    assert_near(tg_get(v->grad, (int64_t[]){0}), W[0], 1e-15);
    tg_scope_end(s);
    tg_free(v);
}

/* A leaf hooked outside any scope and hooked again in a scope: the
 * scope's hook runs after the older one while the scope is open, and ends
 * with the scope; a hook registered after it joins the older one. */
static void test_leaf_hooked_again_in_a_scope(void **state)
{
    (void)state;
    double three = 3;
    tg_tensor *w = w_leaf();
    assert_int_equal(tg_register_hook(w, scale_by, &three), 0);
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_register_hook(w, add_one, NULL), 0);
    assert_int_equal(tg_backward(tg_sum(w, 0, NULL, false), NULL), 0);
    assert_near(tg_get(w->grad, (int64_t[]){0}), 1 * 3 + 1, 0); /* (1 + 1) * 3 in the other order */
    assert_int_equal(tg_scope_end(s), 0);
    assert_int_equal(tg_register_hook(w, add_one, NULL), 0);
    tg_tensor *loss = tg_sum(w, 0, NULL, false);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_near(tg_get(w->grad, (int64_t[]){0}), 4 + (1 * 3 + 1), 0); /* the scope's hook is gone */
    tg_free(loss);
    tg_free(w);
    /* a tensor made by an op in an outer scope takes no hook in an inner one */
    tg_scope *outer = tg_scope_begin();
    tg_tensor *v = w_leaf(), *h = tg_mul(v, v);
    s = tg_scope_begin();
    assert_int_equal(tg_register_hook(h, add_one, NULL), -1);
    assert_error_contains("tg_register_hook: the tensor was made outside the innermost open scope");
    assert_int_equal(tg_register_hook(v, add_one, NULL), 0); /* a leaf's ends with this scope */
    assert_int_equal(tg_scope_end(s), 0);
    assert_int_equal(tg_register_hook(h, scale_by, &three), 0);
    assert_int_equal(tg_backward(tg_sum(h, 0, NULL, false), NULL), 0);
    assert_near(tg_get(v->grad, (int64_t[]){1}), 3 * 2 * W[1], 1e-15);
    tg_scope_end(outer);
}

/* No hook on a tensor whose graph a backward released: it could never
 * run. Outside any scope, a node made before the base level's floor (a
 * leaf's hook raises it) stays after the backward while the arena above
 * the floor is reused: a hook registered there afterwards walked the
 * older hooks' reused memory (a hang, once). */
static void test_hook_after_release(void **state)
{
    (void)state;
    seen first = {0};
    tg_tensor *w = w_leaf(), *v = w_leaf();
    tg_tensor *h = tg_mul(w, w);
    assert_int_equal(tg_register_hook(v, add_one, NULL), 0); /* the floor, past h's node */
    assert_int_equal(tg_register_hook(h, observe, &first), 0);
    tg_tensor *loss = tg_sum(h, 0, NULL, false);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_int_equal(first.calls, 1);
    assert_near(tg_get(w->grad, (int64_t[]){2}), 2 * W[2], 0);
    tg_tensor *again = tg_mul(v, v); /* the arena above the floor, used again */
    assert_int_equal(tg_register_hook(h, observe, &first), -1);
    assert_error_contains("tg_register_hook: the graph that made this tensor is gone (released by an earlier backward)");
    assert_int_equal(tg_backward(tg_sum(again, 0, NULL, false), NULL), 0);
    assert_near(tg_get(v->grad, (int64_t[]){1}), 2 * W[1] + 1, 0);
    assert_int_equal(first.calls, 1);
    tg_free(again);
    tg_free(loss);
    tg_free(h);
    tg_free(w);
    tg_free(v);
    tg_release_thread_memory();
    /* in a scope too; kept by a retaining backward, it takes hooks */
    tg_scope *s = tg_scope_begin();
    w = w_leaf();
    h = tg_exp(w);
    assert_int_equal(tg_backward_retain(tg_sum(h, 0, NULL, false), NULL), 0);
    assert_int_equal(tg_register_hook(h, observe, &first), 0);
    assert_int_equal(tg_backward(tg_sum(h, 0, NULL, false), NULL), 0);
    assert_int_equal(first.calls, 2);
    assert_int_equal(tg_register_hook(h, observe, &first), -1);
    assert_error_contains("released by an earlier backward");
    tg_scope_end(s);
}

static void test_hook_errors(void **state)
{
    (void)state;
    tg_tensor *w = w_leaf();
    tg_scope *s = tg_scope_begin();
    tg_tensor *plain = tg_ones(TG_F64, 1, (int64_t[]){3});
    assert_int_equal(tg_register_hook(plain, observe, NULL), -1);
    assert_error_contains("tg_register_hook: cannot register a hook on a tensor that doesn't require gradient");
    assert_int_equal(tg_retain_grad(plain), -1);
    assert_error_contains("tg_retain_grad: can't retain_grad on Tensor that has requires_grad=False");
    assert_int_equal(tg_register_hook(w, NULL, NULL), -1);
    assert_error_contains("tg_register_hook: fn is NULL");
    assert_int_equal(tg_register_hook(NULL, observe, NULL), -1);
    assert_int_equal(tg_retain_grad(NULL), -1);

    /* A hook returning the wrong shape fails backward with both shapes. */
    tg_tensor *h = tg_exp(w);
    tg_register_hook(h, wrong_shape, NULL);
    assert_int_equal(tg_backward(tg_sum(h, 0, NULL, false), NULL), -1);
    assert_error_contains(
        "tg_backward: a hook on a tensor of shape [3] (float64) returned a gradient of shape [] (float64)");
    assert_null(w->grad);

    /* On a leaf: the error is reported and .grad keeps what it had. */
    assert_int_equal(tg_backward(tg_sum(w, 0, NULL, false), NULL), 0);
    tg_register_hook(w, wrong_shape, NULL);
    assert_int_equal(tg_backward(tg_sum(tg_mul_scalar(w, 5.0), 0, NULL, false), NULL), -1);
    assert_error_contains("returned a gradient of shape []");
    assert_near(tg_get(w->grad, (int64_t[]){1}), 1.0, 0);
    tg_scope_end(s);
    tg_free(w);
}

/* A hook that ends the scope its backward runs in (and so the pass's own
 * scope, inner to it) is refused: the pass went on in memory the end had
 * handed back, and wrote to it. The pass fails, as for any failed call in
 * a hook, and the scope ends afterwards as usual. */
static tg_scope *scope_to_end;
static int end_status = 1;
static tg_tensor *end_scope(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    end_status = tg_scope_end(scope_to_end);
    return grad;
}

static void test_hook_ending_the_pass_scope(void **state)
{
    (void)state;
    tg_tensor *w = tg_requires_grad(tg_zeros(TG_F64, 1, (int64_t[]){3}), true);
    scope_to_end = tg_scope_begin();
    tg_tensor *h = tg_exp(w);
    assert_int_equal(tg_register_hook(h, end_scope, NULL), 0);
    assert_int_equal(tg_backward(tg_sum(tg_mul(h, h), 0, NULL, false), NULL), -1);
    assert_int_equal(end_status, -1);
    assert_error_contains("tg_scope_end: a backward pass is running in this scope");
    assert_null(w->grad);
    /* The scope and its graph are intact: d/dw sum(exp(w)^2) = 2 exp(2w) = 2. */
    h = tg_exp(w);
    assert_int_equal(tg_backward(tg_sum(tg_mul(h, h), 0, NULL, false), NULL), 0);
    assert_true(tg_get(w->grad, (int64_t[]){2}) == 2.0);
    assert_int_equal(tg_scope_end(scope_to_end), 0);
    tg_free(w);
}

/* A retained intermediate freed before any backward reached it, outside
 * any scope, while a leaf's hook keeps the base-level tape: a later
 * backward of another graph walks past its node, whose output is gone,
 * and must neither read it nor give it a gradient. */
static void test_retained_intermediate_freed_unreached(void **state)
{
    (void)state;
    double half = 0.5;
    tg_tensor *w = w_leaf(), *v = w_leaf();
    tg_tensor *h = tg_mul(w, w);
    assert_int_equal(tg_retain_grad(h), 0);
    assert_int_equal(tg_register_hook(w, scale_by, &half), 0);
    tg_free(h);
    tg_tensor *tripled = tg_mul_scalar(v, 3), *loss = tg_sum(tripled, 0, NULL, false);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_near(tg_get(v->grad, (int64_t[]){1}), 3, 0);
    assert_null(w->grad);
    tg_free(loss);
    tg_free(tripled);
    tg_free(w);
    tg_free(v);
    tg_release_thread_memory();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_scales_leaf_gradients),
        cmocka_unit_test(test_zero_hook_equals_detach),
        cmocka_unit_test(test_retain_grad),
        cmocka_unit_test(test_retained_gradient_passed_on_to_a_leaf),
        cmocka_unit_test(test_hook_result_sharing_memory_is_left_alone),
        cmocka_unit_test(test_retained_gradient_not_reached),
        cmocka_unit_test(test_retained_gradient_outlives_the_backward_scope),
        cmocka_unit_test(test_hook_on_view),
        cmocka_unit_test(test_leaf_hook),
        cmocka_unit_test(test_freed_hooked_leaf),
        cmocka_unit_test(test_hooked_leaf_of_a_scope),
        cmocka_unit_test(test_hooked_leaf_freed_with_its_graph),
        cmocka_unit_test(test_leaf_hooked_again_in_a_scope),
        cmocka_unit_test(test_hook_after_release),
        cmocka_unit_test(test_hook_errors),
        cmocka_unit_test(test_hook_ending_the_pass_scope),
        cmocka_unit_test(test_retained_intermediate_freed_unreached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
