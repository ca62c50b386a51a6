/* Scopes: intermediates vanish at scope end, steady loops allocate nothing,
 * and a tensor used after its scope is reported, not read.
 *
 * `test_scope memory_loop` runs only the 10,000-iteration training loop
 * (the valgrind test uses that). */
#include "support.h"

#include <stdio.h>
#include <string.h>

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
    tg_zero_grad(params, 4);
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_rewinds),
        cmocka_unit_test(test_ending_outer_closes_inner),
        cmocka_unit_test(test_use_after_scope_is_caught),
        cmocka_unit_test(test_memory_loop),
    };
    if (argc > 1 && strcmp(argv[1], "memory_loop") == 0) {
        const struct CMUnitTest loop[] = {cmocka_unit_test(test_memory_loop)};
        int failed = cmocka_run_group_tests(loop, NULL, NULL);
        tg_release_thread_memory();
        return failed;
    }
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tg_release_thread_memory();
    return failed;
}
