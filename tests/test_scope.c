/* Scopes: intermediates vanish at scope end, steady loops allocate nothing,
 * a tensor used after its scope is reported, not read, and ops called
 * outside any scope leave nothing behind (the valgrind test runs this file). */
#include "support.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_rewinds),
        cmocka_unit_test(test_ending_outer_closes_inner),
        cmocka_unit_test(test_use_after_scope_is_caught),
        cmocka_unit_test(test_other_threads_scope_is_refused),
        cmocka_unit_test(test_memory_loop),
        cmocka_unit_test(test_ops_outside_scopes_leave_nothing),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tg_release_thread_memory();
    return failed;
}
