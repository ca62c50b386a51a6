/* Allocation failure, every site in turn: a small training step (LSTM,
 * linear head, cross-entropy, backward, Adam) runs once per allocation it
 * makes, with that one allocation failing (core/alloc.c's seam counts the
 * library's mallocs and arena bumps alike). Each run must fail cleanly: an
 * error returned with a message and the parameters unchanged, or, where the
 * failure was absorbed, the parameters of a run without failures. The next
 * step after a failure must then run as if the failure never happened. */
#include "support.h"
#include "../core/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { BATCH = 2, STEPS = 3, FEATURES = 3, HIDDEN = 5, CLASSES = 4 };

typedef struct {
    tg_lstm *lstm;
    tg_linear_layer *head;
    tg_params params;
    tg_optim *adam;
    tg_tensor *x, *target;
} model;

static model model_new(void)
{
    model m = {0};
    tg_manual_seed(11);
    m.lstm = tg_lstm_new(&(tg_lstm_config){.input_size = FEATURES, .hidden_size = HIDDEN, .batch_first = true});
    m.head = tg_linear_layer_new(HIDDEN, CLASSES, true, TG_F32);
    m.params = tg_params_new();
    assert_int_equal(tg_rnn_params(m.lstm, &m.params, "lstm"), 0);
    assert_int_equal(tg_linear_layer_params(m.head, &m.params, "head"), 0);
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.05;
    m.adam = tg_adam(&m.params, 1, &adam);
    m.x = tg_randn(TG_F32, 3, (int64_t[]){BATCH, STEPS, FEATURES}, 0, 1);
    m.target = tg_randint(1, (int64_t[]){BATCH * STEPS}, 0, CLASSES);
    assert_true(m.lstm && m.head && m.adam && m.x && m.target);
    return m;
}

static void model_free(model *m)
{
    tg_optim_free(m->adam);
    tg_params_free(&m->params);
    tg_rnn_free(m->lstm);
    tg_linear_layer_free(m->head);
    tg_free(m->x);
    tg_free(m->target);
}

/* One training step, checking every result as a careful caller does. */
static int train_step(model *m)
{
    tg_scope *s = tg_scope_begin();
    if (!s) return -1;
    int status = -1;
    tg_rnn_output out;
    if (tg_lstm_forward(m->lstm, m->x, NULL, NULL, NULL, &out) == 0) {
        tg_tensor *logits = tg_linear_layer_forward(m->head, out.output); /* (B, T, C) */
        tg_tensor *loss = tg_cross_entropy(tg_reshape(logits, 2, (int64_t[]){BATCH * STEPS, CLASSES}), m->target, NULL);
        tg_optim_zero_grad(m->adam);
        if (loss && tg_backward(loss, NULL) == 0 && tg_optim_step(m->adam) == 0) status = 0;
    }
    tg_scope_end(s);
    return status;
}

/* Every parameter's values, concatenated. */
static float *snapshot(const model *m)
{
    float *values = malloc(sizeof(float) * (size_t)tg_params_numel(&m->params));
    float *at = values;
    for (int i = 0; i < m->params.count; i++) {
        const tg_tensor *p = m->params.items[i].tensor;
        memcpy(at, tg_data(p), sizeof(float) * (size_t)tg_numel(p));
        at += tg_numel(p);
    }
    return values;
}

static bool same_params(const model *m, const float *values)
{
    float *now = snapshot(m);
    bool same = memcmp(now, values, sizeof(float) * (size_t)tg_params_numel(&m->params)) == 0;
    free(now);
    return same;
}

/* Fails each allocation of step number `failing` (1: the first step, which
 * also makes the optimizer's state and the .grad buffers; 2: a steady step)
 * in turn. Returns how many allocations that step makes. */
static int64_t fail_each_allocation(int failing)
{
    /* Reference: parameters after each of three clean steps. */
    model ref = model_new();
    float *after[4] = {snapshot(&ref)};
    int64_t count = 0;
    for (int k = 1; k <= 3; k++) {
        if (k == failing) {
            tg_release_thread_memory(); /* the arena's chunks are made again */
            tg__alloc_fail_at(INT64_MAX);
        }
        assert_int_equal(train_step(&ref), 0);
        if (k == failing) count = tg__alloc_count();
        tg__alloc_fail_at(-1);
        after[k] = snapshot(&ref);
    }
    model_free(&ref);
    assert_true(count > 100);

    int64_t clean = 0, absorbed = 0;
    for (int64_t site = 0; site < count; site++) {
        model m = model_new();
        for (int k = 1; k < failing; k++) assert_int_equal(train_step(&m), 0);
        tg_clear_error();
        tg_release_thread_memory();
        tg__alloc_fail_at(site);
        int status = train_step(&m);
        tg__alloc_fail_at(-1);
        if (status < 0) {
            if (!tg_last_error()[0] || !same_params(&m, after[failing - 1]))
                fail_msg("site %lld of step %d: failed %s", (long long)site, failing,
                         tg_last_error()[0] ? "but changed the parameters" : "without a message");
            clean++;
        } else {
            if (!same_params(&m, after[failing]))
                fail_msg("site %lld of step %d: returned 0 with wrong parameters", (long long)site, failing);
            absorbed++;
        }
        /* The model is as it was before the step (or after it): go on. */
        int next = status < 0 ? failing : failing + 1;
        assert_int_equal(train_step(&m), 0);
        if (!same_params(&m, after[next])) fail_msg("site %lld of step %d: the next step went wrong", (long long)site, failing);
        model_free(&m);
    }
    for (int k = 0; k < 4; k++) free(after[k]);
    print_message("step %d: %lld allocation sites, %lld failed cleanly, %lld absorbed the failure\n", failing,
                  (long long)count, (long long)clean, (long long)absorbed);
    assert_int_equal(clean + absorbed, count);
    return count;
}

static void test_first_step(void **state)
{
    (void)state;
    fail_each_allocation(1);
}

static void test_steady_step(void **state)
{
    (void)state;
    fail_each_allocation(2);
}

/* One step of a cell layer (an LSTM cell: its states viewed, its two
 * biases summed) with each of its allocations failing in turn: NULL with a
 * message and no new states, or the step of a run without failures. A
 * failed view of a state ran the step from zeros, a failed sum of the
 * biases without them, and returned that. */
static void test_cell_layer_step(void **state)
{
    (void)state;
    tg_manual_seed(3);
    tg_cell_layer *cell = tg_cell_layer_new(&tg_cell_lstm, FEATURES, HIDDEN, true, TG_F32);
    tg_tensor *x = tg_randn(TG_F32, 2, (int64_t[]){BATCH, FEATURES}, 0, 1);
    tg_tensor *states[2] = {tg_randn(TG_F32, 2, (int64_t[]){BATCH, HIDDEN}, 0, 1),
                            tg_randn(TG_F32, 2, (int64_t[]){BATCH, HIDDEN}, 0, 1)};
    assert_true(cell && x && states[0] && states[1]);
    tg_tensor *want[2] = {NULL, NULL};
    int64_t count = 0, failed = 0;
    for (int64_t k = -1; k < count; k++) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *next[2];
        tg_clear_error();
        tg__alloc_fail_at(k < 0 ? INT64_MAX : k);
        tg_tensor *hidden = tg_cell_layer_forward(cell, x, 2, states, next);
        if (k < 0) count = tg__alloc_count();
        tg__alloc_fail_at(-1);
        if (k < 0) {
            want[0] = tg_keep(hidden);
            want[1] = tg_keep(next[1]);
        } else if (hidden) {
            assert_close(hidden, want[0], 0, 0, "h'");
            assert_close(next[1], want[1], 0, 0, "c'");
        } else {
            assert_true(tg_last_error()[0] != '\0');
            assert_null(next[0]);
            assert_null(next[1]);
            failed++;
        }
        tg_scope_end(s);
    }
    assert_true(count > 10 && failed > 0);
    for (int i = 0; i < 2; i++) tg_free(want[i]), tg_free(states[i]);
    tg_free(x);
    tg_cell_layer_free(cell);
}

/* tg_gradcheck with each of its allocations failing in turn: an error
 * (-1, with a message) or the verdict of a run without failures, never 1.
 * A failed evaluation of the loss read as NaN, so a memory failure was
 * reported as gradients that do not match. */
static tg_tensor *tanh_of_input(int n, tg_tensor **inputs, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_tanh(inputs[0]);
}

static void test_gradcheck(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0.5, -1, 2}), true);
    tg__alloc_fail_at(INT64_MAX);
    assert_int_equal(tg_gradcheck(tanh_of_input, 1, &x, NULL, 1e-6, 1e-5, 1e-3, NULL), 0);
    int64_t count = tg__alloc_count(), errors = 0;
    for (int64_t k = 0; k < count; k++) {
        tg_clear_error();
        tg__alloc_fail_at(k);
        int status = tg_gradcheck(tanh_of_input, 1, &x, NULL, 1e-6, 1e-5, 1e-3, NULL);
        tg__alloc_fail_at(-1);
        if (status != 0) {
            assert_int_equal(status, -1);
            assert_true(tg_last_error()[0] != '\0');
            errors++;
        }
        assert_null(x->grad);
    }
    assert_true(errors > count / 2);
    tg_free(x);
}

/* The bytes of the file at path (malloc'd), and their count. */
static char *file_bytes(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    rewind(f);
    char *bytes = malloc((size_t)*size + 1);
    assert_int_equal(fread(bytes, 1, (size_t)*size, f), (size_t)*size);
    fclose(f);
    return bytes;
}

/* tg_checkpoint_save over an older checkpoint with each of its
 * allocations failing in turn: the old file stays as it was and the
 * message says what failed; a counter that could not be made was
 * reported as "tg_params_add: NULL collection, name or tensor". */
static void test_checkpoint_save(void **state)
{
    (void)state;
    char dir[] = "/tmp/tapegrad-faults-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    model m = model_new();
    tg_checkpoint ck = {.params = &m.params, .optim = m.adam, .step = 1};
    assert_int_equal(tg_checkpoint_save(path, &ck), 0);
    long old_size;
    char *old = file_bytes(path, &old_size);
    ck.step = 2;
    tg__alloc_fail_at(INT64_MAX);
    assert_int_equal(tg_checkpoint_save(path, &ck), 0);
    int64_t count = tg__alloc_count();
    tg__alloc_fail_at(-1);
    int64_t failed = 0;
    ck.step = 1;
    assert_int_equal(tg_checkpoint_save(path, &ck), 0);
    for (int64_t k = 0; k < count; k++) {
        ck.step = 2;
        tg_clear_error();
        tg__alloc_fail_at(k);
        int status = tg_checkpoint_save(path, &ck);
        tg__alloc_fail_at(-1);
        ck.step = 1;
        if (status == 0) {
            assert_int_equal(tg_checkpoint_save(path, &ck), 0);
            continue;
        }
        failed++;
        assert_null(strstr(tg_last_error(), "NULL"));
        long size;
        char *now = file_bytes(path, &size);
        assert_true(size == old_size && memcmp(now, old, (size_t)size) == 0);
        free(now);
    }
    assert_true(failed > 0);
    free(old);
    model_free(&m);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* A backward, or a gradcheck, whose first allocation (its scope) fails
 * names itself: the message named tg_scope_begin, which the caller never
 * called. */
static void test_scope_of_a_pass(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F64, 1, (int64_t[]){3}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *loss = tg_sum(tg_tanh(x), 0, NULL, false);
    tg_clear_error();
    tg__alloc_fail_at(0);
    assert_int_equal(tg_backward(loss, NULL), -1);
    tg__alloc_fail_at(-1);
    assert_string_equal(tg_last_error(), "tg_backward: out of memory");
    assert_null(x->grad);
    tg_scope_end(s);
    tg__alloc_fail_at(0);
    assert_int_equal(tg_gradcheck(tanh_of_input, 1, &x, NULL, 1e-6, 1e-5, 1e-3, NULL), -1);
    tg__alloc_fail_at(-1);
    assert_string_equal(tg_last_error(), "tg_gradcheck: out of memory");
    tg_free(x);
}

/* An op built from other ops, outside any scope and recording nothing,
 * works in a scope of its own; when that scope cannot begin it goes on
 * without one and succeeds. It left tg_scope_begin's message behind and
 * called the error handler (which may abort) for a call that succeeded. */
static void count_message(const char *message, void *user)
{
    (void)message;
    (*(int *)user)++;
}

static void test_op_without_its_scope(void **state)
{
    (void)state;
    tg_tensor *x = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 4, -1, 0, 5});
    tg_tensor *want = tg_var(x, 1, (int[]){1}, true, false);
    int messages = 0;
    tg_error_handler previous = tg_set_error_handler(count_message, &messages);
    tg_clear_error();
    tg__alloc_fail_at(0); /* the op's scope */
    tg_tensor *got = tg_var(x, 1, (int[]){1}, true, false);
    int64_t refused = tg__alloc_refusals();
    tg__alloc_fail_at(-1);
    tg_set_error_handler(previous, NULL);
    assert_int_equal(refused, 1);
    assert_non_null(got);
    assert_close(got, want, 0, 0, "var");
    assert_int_equal(messages, 0);
    assert_string_equal(tg_last_error(), "");
    tg_free(got);
    tg_free(want);
    tg_free(x);
}

/* A hook whose op runs out of memory hands back NULL, "unchanged", with
 * the op's message: the backward fails and changes no .grad, for a leaf's
 * hook as for a non-leaf's. */
static tg_tensor *halve_out_of_memory(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    tg__alloc_fail_at(0); /* the hook's first allocation */
    tg_tensor *half = tg_mul_scalar(grad, 0.5);
    tg__alloc_fail_at(-1);
    return half;
}

static void test_hook_out_of_memory(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F32, 1, (int64_t[]){3}), true);
    for (int on_leaf = 1; on_leaf >= 0; on_leaf--) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *hooked = on_leaf ? x : tg_mul_scalar(x, 3);
        assert_int_equal(tg_register_hook(hooked, halve_out_of_memory, NULL), 0);
        tg_tensor *loss = tg_sum(tg_square(hooked), 0, NULL, false);
        tg_clear_error();
        assert_int_equal(tg_backward(loss, NULL), -1);
        assert_error_contains("tg_mul_scalar: can't allocate memory");
        assert_null(x->grad);
        tg_scope_end(s);
    }
    tg_free(x);
}

int main(void)
{
    tg_set_num_threads(1); /* one allocation order */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_step),
        cmocka_unit_test(test_steady_step),
        cmocka_unit_test(test_hook_out_of_memory),
        cmocka_unit_test(test_cell_layer_step),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_checkpoint_save),
        cmocka_unit_test(test_scope_of_a_pass),
        cmocka_unit_test(test_op_without_its_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
