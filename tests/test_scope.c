/* Scopes: intermediates vanish at scope end, steady loops allocate nothing,
 * a tensor used after its scope is reported, not read, and ops called
 * outside any scope leave nothing behind (the valgrind test runs this file). */
#include "support.h"
#include "../core/internal.h"

#include <pthread.h>
#include <stdio.h>

static void test_scope_rewinds(void **state)
{
    (void)state;
    size_t start = tg_arena_used();
    tg_scope *outer = tg_scope_begin();
    tg_tensor *a = tg_ones(TG_F32, 1, (int64_t[]){1000});
    assert_false(a->persistent);
    size_t mid = tg_arena_used();
    tg_scope *inner = tg_scope_begin();
    tg_ones(TG_F32, 1, (int64_t[]){100000});
    assert_true(tg_arena_used() > mid + 400000);
    assert_int_equal(tg_scope_end(inner), 0);
    assert_int_equal(tg_arena_used(), mid);
    /* a is still alive in the outer scope */
    assert_true(tg_get(a, (int64_t[]){999}) == 1.0);
    tg_tensor *kept = tg_keep(tg_mul_scalar(a, 3));
    assert_true(kept->persistent);
    assert_int_equal(tg_scope_end(outer), 0);
    assert_int_equal(tg_arena_used(), start);
    assert_true(tg_get(kept, (int64_t[]){5}) == 3.0);
    assert_false(kept->requires_grad);
    tg_free(kept);
    /* Ending a scope twice is an error, not a crash. */
    assert_int_equal(tg_scope_end(outer), -1);
    assert_error_contains("tg_scope_end: not an open scope");
}

static void test_ending_outer_closes_inner(void **state)
{
    (void)state;
    size_t start = tg_arena_used();
    tg_scope *outer = tg_scope_begin();
    tg_scope_begin();
    tg_ones(TG_F64, 1, (int64_t[]){10});
    assert_int_equal(tg_scope_end(outer), 0);
    assert_int_equal(tg_arena_used(), start);
    /* the inner scopes ended with it: ending them again is refused, with a
     * message (the sanitizer build read their poisoned headers) */
    outer = tg_scope_begin();
    tg_scope *inner = tg_scope_begin(), *innermost = tg_scope_begin();
    assert_int_equal(tg_scope_end(outer), 0);
    tg_clear_error();
    assert_int_equal(tg_scope_end(innermost), -1);
    assert_error_contains("tg_scope_end: not an open scope of this thread");
    assert_int_equal(tg_scope_end(inner), -1);
    assert_int_equal(tg_scope_end(outer), -1);
    tg_scope *again = tg_scope_begin();
    assert_int_equal(tg_scope_end(again), 0);
}

/* A scope is ended by the thread that opened it. Another thread's open
 * scope passed the checks of magic and depth when this thread had a scope
 * as deep: its end rewound this thread's arena and tape to the other
 * thread's marks, and this thread's own scope was then refused. */
typedef struct {
    tg_scope *scope;
    pthread_barrier_t *step;
    double value;
} scope_owner;

static void *open_a_scope(void *arg)
{
    scope_owner *o = arg;
    o->scope = tg_scope_begin();
    tg_tensor *x = tg_full(TG_F32, 1, (int64_t[]){1000}, 3.0);
    pthread_barrier_wait(o->step);
    pthread_barrier_wait(o->step); /* the other thread tries to end it */
    o->value = tg_get(x, (int64_t[]){999});
    o->value += tg_scope_end(o->scope); /* 0 when its own end succeeds */
    tg_release_thread_memory();
    return NULL;
}

static void test_other_threads_scope_is_refused(void **state)
{
    (void)state;
    pthread_barrier_t step;
    assert_int_equal(pthread_barrier_init(&step, NULL, 2), 0);
    scope_owner o = {NULL, &step, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, open_a_scope, &o), 0);
    pthread_barrier_wait(&step);
    size_t used = tg_arena_used();
    tg_scope *mine = tg_scope_begin();
    tg_tensor *y = tg_full(TG_F32, 1, (int64_t[]){1000}, 2.0);
    tg_clear_error();
    assert_int_equal(tg_scope_end(o.scope), -1);
    assert_error_contains("tg_scope_end: not an open scope of this thread");
    assert_true(tg_get(y, (int64_t[]){999}) == 2.0);
    assert_int_equal(tg_scope_end(mine), 0);
    assert_int_equal(tg_arena_used(), used);
    pthread_barrier_wait(&step);
    assert_int_equal(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&step);
    assert_true(o.value == 3.0);
}

static void test_use_after_scope_is_caught(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *t = tg_ones(TG_F32, 1, (int64_t[]){4});
    tg_scope_end(s);
    tg_scope *s2 = tg_scope_begin();
    tg_clear_error();
    assert_null(tg_exp(t));
    assert_error_contains("tg_exp: tensor used after its scope ended");
    tg_scope_end(s2);
}

/* Outside any scope every result is persistent and freed by the caller;
 * the ops' own temporaries must not outlive the call. The sanitizer build's
 * leak check and the valgrind test make this assertion bite: each result is
 * freed here, so anything left over is a leak. */
static void test_ops_outside_scopes_leave_nothing(void **state)
{
    (void)state;
    tg_manual_seed(9);
    tg_tensor *x = tg_randn(TG_F32, 2, (int64_t[]){4, 6}, 0, 1);
    tg_tensor *w = tg_randn(TG_F32, 2, (int64_t[]){3, 6}, 0, 1);
    tg_tensor *v = tg_randn(TG_F32, 1, (int64_t[]){6}, 0, 1);
    tg_tensor *idx = tg_randint(1, (int64_t[]){5}, 0, 4);
    tg_tensor *target = tg_randint(1, (int64_t[]){4}, 0, 6);
    tg_tensor *xt = tg_transpose(x, 0, 1);
    tg_tensor *pair[2] = {x, x};
    tg_tensor *gt = tg_gt(x, v), *lt = tg_lt(x, v), *w2 = tg_randn(TG_F32, 2, (int64_t[]){2, 4}, 0, 1);
    tg_tensor *wt = tg_transpose(w, 0, 1); /* a persistent view: it holds w's storage until freed */
    tg_tensor *max_idx = NULL;
    tg_tensor *results[] = {
        tg_add(x, v), tg_tanh(x), tg_where(gt, x, v), tg_masked_fill(x, lt, 1.0),
        tg_sum(x, 0, NULL, false), tg_mean(x, 1, (int[]){1}, true), tg_var(x, 0, NULL, true, false),
        tg_std(x, 1, (int[]){0}, false, false), tg_logsumexp(x, 1, (int[]){1}, false), tg_norm(x, 2, 0, NULL, false),
        tg_max(x), tg_max_dim(x, 1, false, &max_idx), tg_argmin(x, 0, false), tg_sum_to(x, 1, (int64_t[]){6}),
        tg_matmul(x, v), tg_matmul(v, v), tg_matmul(x, wt), tg_outer(v, v), tg_linear(x, w, NULL),
        tg_linear(xt, w2, NULL), tg_reshape(xt, 1, (int64_t[]){24}),
        tg_flatten(xt, 0, 1), tg_cat(2, pair, 0), tg_stack(2, pair, 1), tg_flip(x, 1, (int[]){0}),
        tg_repeat(v, 2, (int64_t[]){2, 1}), tg_pad(x, 2, (int64_t[]){1, 1}, 0.0), tg_index_select(x, 0, idx),
        tg_softmax(x, 1), tg_log_softmax(xt, 0), tg_layer_norm(x, 1, NULL, NULL, 1e-5), tg_dropout(x, 0.5, true),
        tg_mse_loss(x, x, TG_REDUCTION_MEAN), tg_cross_entropy(x, target, NULL), tg_contiguous(xt), tg_clone(x),
        tg_cast(x, TG_F64), max_idx, xt, idx, target, gt, lt, w2, wt, x, w, v,
    };
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
        assert_non_null(results[i]);
        tg_free(results[i]);
    }
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 3, .hidden_size = 4, .num_layers = 2,
                                                  .bidirectional = true});
    tg_tensor *seq = tg_randn(TG_F32, 3, (int64_t[]){5, 2, 3}, 0, 1);
    tg_rnn_output out;
    bool was = tg_set_grad_enabled(false); /* inference: nothing to record */
    assert_int_equal(tg_lstm_forward(lstm, seq, NULL, NULL, (int64_t[]){5, 3}, &out), 0);
    tg_set_grad_enabled(was);
    assert_int_equal(out.output->shape[2], 8);
    tg_free(out.output);
    tg_free(out.h_n);
    tg_free(out.c_n);
    tg_free(seq);
    tg_rnn_free(lstm);
}

/* --- a small model trained in a loop ---------------------------------------- */

typedef struct {
    tg_tensor *w1, *b1, *w2, *b2, *x, *y;
} model;

static model model_new(void)
{
    tg_manual_seed(7);
    model m = {
        leaf_f64(2, (int64_t[]){16, 8}, -0.3, 0.3), leaf_f64(1, (int64_t[]){16}, -0.1, 0.1),
        leaf_f64(2, (int64_t[]){1, 16}, -0.3, 0.3), leaf_f64(1, (int64_t[]){1}, -0.1, 0.1),
        NULL, NULL,
    };
    tg_scope *s = tg_scope_begin();
    m.x = tg_keep(tg_randn(TG_F64, 2, (int64_t[]){4, 8}, 0, 1));
    m.y = tg_keep(tg_sin(tg_sum(m.x, 1, (int[]){1}, true)));
    tg_scope_end(s);
    return m;
}

static void model_free(model *m)
{
    tg_tensor *all[] = {m->w1, m->b1, m->w2, m->b2, m->x, m->y};
    for (int i = 0; i < 6; i++) tg_free(all[i]);
}

/* One step of forward, backward and SGD; returns the loss. */
static double train_step(model *m)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *hidden = tg_tanh(tg_linear(m->x, m->w1, m->b1));
    tg_tensor *pred = tg_linear(hidden, m->w2, m->b2);
    tg_tensor *diff = tg_sub(pred, m->y);
    tg_tensor *loss = tg_mean(tg_mul(diff, diff), 0, NULL, false);
    double value = tg_item(loss);
    tg_tensor *params[4] = {m->w1, m->b1, m->w2, m->b2};
    tg_zero_grad(4, params);
    tg_backward(loss, NULL);
    bool was = tg_set_grad_enabled(false);
    for (int i = 0; i < 4; i++) tg_add_(params[i], params[i]->grad, -0.05);
    tg_set_grad_enabled(was);
    tg_scope_end(s);
    return value;
}

static long resident_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * 4;
}

static void test_memory_loop(void **state)
{
    (void)state;
    model m = model_new();
    double first = train_step(&m);
    train_step(&m);
    size_t chunks = tg_arena_chunk_allocs();
    size_t used = tg_arena_used();
    long rss_early = resident_kb();
    double last = 0;
    for (int i = 0; i < 10000; i++) last = train_step(&m);
    /* Steady state: no new arena chunks, nothing left in the arena, flat RSS. */
    assert_int_equal(tg_arena_chunk_allocs(), chunks);
    assert_int_equal(tg_arena_used(), used);
    long rss_late = resident_kb();
    assert_true(rss_early > 0 && rss_late - rss_early < 1024);
    assert_true(last < first / 10);
    model_free(&m);
}

/* --- persistent tensors freed while a scope's graph reads them ---------------
 * A graph recorded inside a scope counts no references (a step records
 * thousands of nodes), so tg_free of a parameter it reads freed the memory
 * its backward then read. tg_free now looks through the open scopes: a
 * tensor something there uses leaves the live set at once and goes at the
 * end of the outermost scope; one that nothing there uses goes at once. */

static const double w_values[6] = {0.5, -1.25, 2.0, 3.5, -0.75, 1.5};

/* x (2, 3) requiring grad, x[i][j] = i - j / 2. */
static tg_tensor *x_leaf(void)
{
    return tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){0, -0.5, -1, 1, 0.5, 0}), true);
}

/* x->grad == w, element by element: d/dx sum(x * w). */
static void assert_grad_is_w(const tg_tensor *x)
{
    assert_non_null(x->grad);
    for (int k = 0; k < 6; k++) assert_true(tg_get(x->grad, (int64_t[]){k / 3, k % 3}) == w_values[k]);
}

static void test_free_of_a_tensor_a_scope_reads(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors(), held = tg__graph_held();
    tg_tensor *x = x_leaf();
    tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *l = tg_sum(tg_mul(x, w), 0, NULL, false);
    tg_free(w);
    assert_int_equal(tg__live_tensors() - live, 1); /* out of the live set at once */
    assert_int_equal(tg__graph_held(), held + 1);   /* its memory waits for the scope */
    assert_int_equal(tg_backward(l, NULL), 0);
    assert_grad_is_w(x);
    assert_true(tg_item(l) == 0 * 0.5 + -0.5 * -1.25 + -1 * 2.0 + 1 * 3.5 + 0.5 * -0.75 + 0 * 1.5);
    /* Still a second tg_free, reported as one. */
    tg_clear_error();
    tg_free(w);
    assert_error_contains("tg_free");
    assert_error_contains("is not a live persistent tensor (freed twice?)");
    assert_int_equal(tg_scope_end(s), 0);
    assert_int_equal(tg__graph_held(), held);
    tg_free(x);
    assert_int_equal(tg__live_tensors(), live);
}

/* A view of w made in the scope (no node reads w: w requires no grad)
 * shares w's storage without holding it. */
static void test_free_of_a_tensor_a_scope_views(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors(), held = tg__graph_held();
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F64, 2, (int64_t[]){4, 3}), true);
    tg_tensor *w = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values);
    tg_scope *s = tg_scope_begin();
    tg_tensor *wt = tg_transpose(w, 0, 1); /* (3, 2) */
    tg_free(w);
    assert_int_equal(tg__graph_held(), held + 1);
    assert_true(tg_get(wt, (int64_t[]){2, 1}) == w_values[5]);
    /* l = sum(x wt): dl/dx[i][j] = sum_k w[k][j] */
    tg_tensor *l = tg_sum(tg_matmul(x, wt), 0, NULL, false);
    assert_int_equal(tg_backward(l, NULL), 0);
    for (int j = 0; j < 3; j++) assert_true(tg_get(x->grad, (int64_t[]){3, j}) == w_values[j] + w_values[3 + j]);
    assert_int_equal(tg_scope_end(s), 0);
    assert_int_equal(tg__graph_held(), held);
    tg_free(x);
    assert_int_equal(tg__live_tensors(), live);
}

/* Freed in an inner scope while the outer scope's graph reads it: it
 * outlives the inner scope and goes with the outer one. */
static void test_free_in_an_inner_scope(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors(), held = tg__graph_held();
    tg_tensor *x = x_leaf();
    tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values), true);
    tg_scope *outer = tg_scope_begin();
    tg_tensor *l = tg_sum(tg_mul(x, w), 0, NULL, false);
    tg_scope *inner = tg_scope_begin();
    tg_exp(x);
    tg_free(w);
    assert_int_equal(tg_scope_end(inner), 0);
    assert_int_equal(tg__graph_held(), held + 1);
    assert_int_equal(tg_backward(l, NULL), 0);
    assert_grad_is_w(x);
    assert_int_equal(tg_scope_end(outer), 0);
    assert_int_equal(tg__graph_held(), held);
    tg_free(x);
    assert_int_equal(tg__live_tensors(), live);
}

/* What nothing in the open scopes uses goes at once: a tensor made before
 * them, and one kept out of the scope (a copy). */
static void test_free_of_a_tensor_no_scope_reads(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors(), held = tg__graph_held();
    tg_tensor *x = x_leaf();
    tg_tensor *unused = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values);
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = tg_mul_scalar(x, 2.0);
    tg_tensor *kept = tg_keep(y);
    tg_free(unused);
    tg_free(kept);
    assert_int_equal(tg__graph_held(), held);
    assert_int_equal(tg__live_tensors() - live, 1);
    assert_int_equal(tg_backward(tg_sum(y, 0, NULL, false), NULL), 0);
    assert_true(tg_get(x->grad, (int64_t[]){1, 2}) == 2.0);
    assert_int_equal(tg_scope_end(s), 0);
    tg_free(x);
    assert_int_equal(tg__live_tensors(), live);
}

/* A result of a graph recorded outside any scope, read by a scope's graph
 * and freed in the scope: its node, which nothing else reads, let go of
 * its inputs (nobody could send it a gradient, it judged), and the scope's
 * backward then ran it on a freed w. The node waits for the scope; with no
 * backward, the scope's end lets it go and the base-level tape is given
 * back. */
static void test_free_of_a_base_result_a_scope_reads(void **state)
{
    (void)state;
    for (int backward = 1; backward >= 0; backward--) {
        tg_release_thread_memory(); /* earlier tests' base-level tapes */
        int64_t live = tg__live_tensors(), held = tg__graph_held();
        tg_tensor *x = x_leaf();
        tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values), true);
        tg_tensor *r = tg_mul_scalar(w, 2.0); /* base level: reads w */
        tg_scope *s = tg_scope_begin();
        tg_tensor *l = tg_sum(tg_mul(x, r), 0, NULL, false);
        tg_free(r);
        tg_free(w);
        if (backward) {
            assert_int_equal(tg_backward(l, NULL), 0);
            for (int k = 0; k < 6; k++) assert_true(tg_get(x->grad, (int64_t[]){k / 3, k % 3}) == 2 * w_values[k]);
        }
        assert_int_equal(tg_scope_end(s), 0);
        assert_int_equal(tg__graph_held(), held);
        assert_int_equal(tg_arena_used(), 0);
        tg_free(x);
        assert_int_equal(tg__live_tensors(), live);
    }
}

/* After the backward that released the graph, nothing can read w again:
 * it goes at once, as in a loop that carries a state from one step to the
 * next. */
static void test_free_after_the_backward(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors(), held = tg__graph_held();
    tg_tensor *x = x_leaf();
    tg_tensor *w = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values);
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(tg_mul(x, w), 0, NULL, false), NULL), 0);
    tg_free(w);
    assert_int_equal(tg__graph_held(), held);
    assert_grad_is_w(x);
    assert_int_equal(tg_scope_end(s), 0);
    tg_free(x);
    assert_int_equal(tg__live_tensors(), live);
}

/* A hook frees w during the backward, after the node that reads it has
 * sent w its gradient: the pass still adds it into w's .grad at its end. */
static tg_tensor *freed_by_hook;
static tg_tensor *free_in_hook(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)grad;
    (void)ctx;
    tg_free(freed_by_hook);
    return NULL;
}

static void test_free_in_a_hook(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors(), held = tg__graph_held();
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}), true);
    tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, w_values), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *square = tg_mul(x, x);
    assert_int_equal(tg_register_hook(square, free_in_hook, NULL), 0);
    freed_by_hook = w;
    assert_int_equal(tg_backward(tg_sum(tg_mul(square, w), 0, NULL, false), NULL), 0);
    assert_int_equal(tg__graph_held(), held + 1);
    /* d/dx sum(x^2 w) = 2 x w */
    assert_true(tg_get(x->grad, (int64_t[]){0}) == 1.0 && tg_get(x->grad, (int64_t[]){1}) == -5.0 &&
                tg_get(x->grad, (int64_t[]){2}) == 12.0);
    assert_int_equal(tg_scope_end(s), 0);
    assert_int_equal(tg__graph_held(), held);
    tg_free(x);
    assert_int_equal(tg__live_tensors(), live);
}

/* A hook's view of w lives in the pass's scope: w freed in the hook stays
 * until the pass ends, for the view the hook reads after the tg_free,
 * inside a scope or outside any. */
static tg_tensor *viewed_by_hook;
static double hook_view_sum;
static tg_tensor *free_under_a_view(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    tg_tensor *wt = tg_transpose(viewed_by_hook, 0, 1);
    tg_free(viewed_by_hook);
    hook_view_sum = tg_item(tg_sum(wt, 0, NULL, false));
    return grad;
}

static void test_free_in_a_hook_under_its_view(void **state)
{
    (void)state;
    for (int in_scope = 0; in_scope < 2; in_scope++) {
        int64_t live = tg__live_tensors(), held = tg__graph_held();
        tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}), true);
        viewed_by_hook = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values);
        tg_scope *s = in_scope ? tg_scope_begin() : NULL;
        tg_tensor *y = tg_mul_scalar(x, 2.0);
        assert_int_equal(tg_register_hook(y, free_under_a_view, NULL), 0);
        tg_tensor *l = tg_sum(y, 0, NULL, false);
        hook_view_sum = 0;
        assert_int_equal(tg_backward(l, NULL), 0);
        assert_true(hook_view_sum == 0.5 - 1.25 + 2.0 + 3.5 - 0.75 + 1.5);
        assert_true(tg_get(x->grad, (int64_t[]){2}) == 2.0);
        if (s) assert_int_equal(tg_scope_end(s), 0);
        else tg_free(l), tg_free(y);
        assert_int_equal(tg__graph_held(), held);
        tg_free(x);
        assert_int_equal(tg__live_tensors(), live);
    }
}

/* A thread that exits with its scope open frees what waited for it. */
static void *exit_in_a_scope(void *arg)
{
    int64_t *held = arg;
    tg_tensor *x = x_leaf();
    tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values), true);
    tg_scope_begin();
    tg_sum(tg_mul(x, w), 0, NULL, false);
    tg_free(w);
    tg_free(x);
    *held = tg__graph_held();
    return NULL;
}

static void test_free_in_a_scope_then_thread_exit(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors(), held = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, exit_in_a_scope, &held), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(held, 2);
    assert_int_equal(tg__live_tensors(), live);
}

/* Read by a graph recorded outside any scope and by a scope's graph: the
 * base-level tape lets go of it inside the scope (its backward runs there,
 * or its result is freed there), and the scope still has it. */
static void test_free_of_a_tensor_both_graphs_read(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        int64_t live = tg__live_tensors(), held = tg__graph_held();
        tg_tensor *x = x_leaf();
        tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, w_values), true);
        tg_tensor *base_loss = tg_sum(w, 0, NULL, false);
        assert_int_equal(TG__BASE_READS(w), 1);
        tg_scope *s = tg_scope_begin();
        tg_tensor *l = tg_sum(tg_mul(x, w), 0, NULL, false);
        tg_free(w);
        assert_int_equal(tg__graph_held(), held + 1);
        if (variant == 0) assert_int_equal(tg_backward(base_loss, NULL), 0);
        tg_free(base_loss);
        assert_int_equal(tg__graph_held(), held + 1);
        assert_int_equal(tg_backward(l, NULL), 0);
        assert_grad_is_w(x);
        assert_int_equal(tg_scope_end(s), 0);
        assert_int_equal(tg__graph_held(), held);
        tg_free(x);
        assert_int_equal(tg__live_tensors(), live);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_rewinds),
        cmocka_unit_test(test_ending_outer_closes_inner),
        cmocka_unit_test(test_use_after_scope_is_caught),
        cmocka_unit_test(test_other_threads_scope_is_refused),
        cmocka_unit_test(test_memory_loop),
        cmocka_unit_test(test_ops_outside_scopes_leave_nothing),
        cmocka_unit_test(test_free_of_a_tensor_a_scope_reads),
        cmocka_unit_test(test_free_of_a_tensor_a_scope_views),
        cmocka_unit_test(test_free_in_an_inner_scope),
        cmocka_unit_test(test_free_of_a_tensor_no_scope_reads),
        cmocka_unit_test(test_free_of_a_tensor_both_graphs_read),
        cmocka_unit_test(test_free_of_a_base_result_a_scope_reads),
        cmocka_unit_test(test_free_after_the_backward),
        cmocka_unit_test(test_free_in_a_hook),
        cmocka_unit_test(test_free_in_a_hook_under_its_view),
        cmocka_unit_test(test_free_in_a_scope_then_thread_exit),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tg_release_thread_memory();
    return failed;
}
