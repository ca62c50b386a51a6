/* Optimizers and gradient clipping: 50-step trajectories against torch.optim
 * (tests/golden/gen_optim.py), bit-exact resume through state export and
 * import, clipping edge cases, bad input, and an exploding-gradient RNN that
 * only trains with clipping. */
#include "support.h"

#include <math.h>
#include <string.h>

#include <tapegrad/clip.h>
#include <tapegrad/optim.h>

#define FIXTURE "optim.txt"
#define STEPS 50

/* --- the trajectory problem: LSTM cell (3 -> 5) over 3 steps, Linear(5, 2), MSE */

static const char *const param_names[6] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "fc.weight", "fc.bias"};

typedef struct {
    tg_tensor *w[6]; /* in param_names order */
    tg_params params;
} model;

/* A persistent copy of a fixture tensor (tg_free it). */
static tg_tensor *keep_golden(const char *name, tg_dtype dtype)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *t = tg_keep(golden(FIXTURE, name, dtype));
    tg_scope_end(s);
    return t;
}

/* Persistent leaves with the fixture's initial weights; biases in group 1. */
static void model_init(model *m, tg_dtype dtype)
{
    m->params = tg_params_new();
    for (int k = 0; k < 6; k++) {
        char name[64];
        snprintf(name, sizeof name, "init.%s", param_names[k]);
        m->w[k] = tg_requires_grad(keep_golden(name, dtype), true);
        assert_int_equal(tg_params_add(&m->params, NULL, param_names[k], m->w[k]), 0);
    }
    m->params.items[2].group = m->params.items[3].group = m->params.items[5].group = 1;
}

static void model_free(model *m)
{
    for (int k = 0; k < 6; k++) tg_free(m->w[k]);
    tg_params_free(&m->params);
}

/* x (T,B,3), y (B,2) -> 0-dim loss, written with the ops gen_optim.py uses. */
static tg_tensor *model_loss(model *m, tg_tensor *x, tg_tensor *y)
{
    const int64_t batch = x->shape[1], hidden = m->w[1]->shape[1];
    tg_tensor *h = tg_zeros(x->dtype, 2, (int64_t[]){batch, hidden});
    tg_tensor *c = tg_zeros(x->dtype, 2, (int64_t[]){batch, hidden});
    for (int64_t t = 0; t < x->shape[0]; t++) {
        tg_tensor *gates = tg_add(tg_linear(tg_select(x, 0, t), m->w[0], m->w[2]), tg_linear(h, m->w[1], m->w[3]));
        tg_tensor *g4[4];
        assert_int_equal(tg_chunk(gates, 4, 1, 4, g4), 4);
        tg_tensor *in = tg_sigmoid(g4[0]), *forget = tg_sigmoid(g4[1]);
        tg_tensor *cand = tg_tanh(g4[2]), *out = tg_sigmoid(g4[3]);
        c = tg_add(tg_mul(forget, c), tg_mul(in, cand));
        h = tg_mul(out, tg_tanh(c));
    }
    tg_tensor *diff = tg_sub(tg_linear(h, m->w[4], m->w[5]), y);
    return tg_mean(tg_mul(diff, diff), 0, NULL, false);
}

/* One training step; returns the loss before it. */
static double train_step(model *m, tg_optim *o, tg_tensor *x, tg_tensor *y)
{
    tg_scope *s = tg_scope_begin();
    tg_optim_zero_grad(o);
    tg_tensor *loss = model_loss(m, x, y);
    assert_non_null(loss);
    double value = tg_item(loss);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_int_equal(tg_optim_step(o), 0);
    tg_scope_end(s);
    return value;
}

/* The configurations of gen_optim.py: group 0 (weights), group 1 (biases). */
static tg_optim *make_config(const char *name, const tg_params *p)
{
    if (strncmp(name, "sgd", 3) == 0) {
        tg_sgd_config c = tg_sgd_defaults(0.1);
        if (!strcmp(name, "sgd_momentum")) c = (tg_sgd_config){.lr = 0.05, .momentum = 0.9};
        if (!strcmp(name, "sgd_dampening_wd"))
            c = (tg_sgd_config){.lr = 0.05, .momentum = 0.9, .dampening = 0.5, .weight_decay = 0.01};
        if (!strcmp(name, "sgd_nesterov"))
            c = (tg_sgd_config){.lr = 0.05, .momentum = 0.8, .nesterov = true, .weight_decay = 0.01};
        tg_sgd_config g[2] = {c, c};
        if (!strcmp(name, "sgd_momentum")) g[1].lr = 0.02;
        if (!strcmp(name, "sgd_dampening_wd")) g[1].weight_decay = 0;
        return tg_sgd(p, 2, g);
    }
    if (strncmp(name, "adam", 4) == 0) {
        const bool w = name[4] == 'w';
        tg_adam_config c = w ? tg_adamw_defaults() : tg_adam_defaults();
        if (!strcmp(name, "adam")) c.lr = 0.01;
        if (!strcmp(name, "adam_amsgrad_wd"))
            c = (tg_adam_config){.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.01, .amsgrad = true};
        if (!strcmp(name, "adamw")) c.lr = 0.01, c.weight_decay = 0.1;
        if (!strcmp(name, "adamw_amsgrad")) c.lr = 0.02, c.beta1 = 0.85, c.beta2 = 0.95, c.eps = 1e-6, c.amsgrad = true;
        tg_adam_config g[2] = {c, c};
        if (!strcmp(name, "adam_amsgrad_wd")) g[1].weight_decay = 0, g[1].lr = 0.005;
        if (!strcmp(name, "adamw")) g[1].weight_decay = 0;
        return w ? tg_adamw(p, 2, g) : tg_adam(p, 2, g);
    }
    if (strncmp(name, "rmsprop", 7) == 0) {
        tg_rmsprop_config c = tg_rmsprop_defaults();
        if (!strcmp(name, "rmsprop_centered_momentum"))
            c.lr = 0.005, c.alpha = 0.9, c.momentum = 0.5, c.centered = true, c.weight_decay = 0.01;
        if (!strcmp(name, "rmsprop_centered")) c.lr = 0.002, c.centered = true;
        tg_rmsprop_config g[2] = {c, c};
        if (!strcmp(name, "rmsprop_centered_momentum")) g[1].weight_decay = 0;
        return tg_rmsprop(p, 2, g);
    }
    tg_adagrad_config c = tg_adagrad_defaults();
    c.lr = 0.1;
    if (!strcmp(name, "adagrad_decay")) c.lr_decay = 0.01, c.initial_accumulator_value = 0.1, c.weight_decay = 0.01;
    tg_adagrad_config g[2] = {c, c};
    if (!strcmp(name, "adagrad_decay")) g[1].lr = 0.05;
    return tg_adagrad(p, 2, g);
}

static const char *const configs[] = {
    "sgd", "sgd_momentum", "sgd_dampening_wd", "sgd_nesterov", "adam", "adam_amsgrad_wd", "adamw",
    "adamw_amsgrad", "rmsprop", "rmsprop_centered_momentum", "rmsprop_centered", "adagrad", "adagrad_decay",
};
#define N_CONFIGS (int)(sizeof configs / sizeof *configs)

static void compare_params(model *m, const char *config, const char *tag, int step, double rtol, double atol)
{
    for (int k = 0; k < 6; k++) {
        char name[128];
        snprintf(name, sizeof name, "%s.%s.step%d.%s", config, tag, step, param_names[k]);
        tg_scope *s = tg_scope_begin();
        assert_close(m->w[k], golden(FIXTURE, name, m->w[k]->dtype), rtol, atol, name);
        tg_scope_end(s);
    }
}

/* Losses of steps first..last (1-based) against the fixture's. */
static void compare_losses(const double *losses, const char *config, const char *tag, int first, int last,
                           double rtol, double atol)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s.losses", config, tag);
    tg_scope *s = tg_scope_begin();
    tg_tensor *expected = tg_narrow(golden(FIXTURE, name, TG_F64), 0, first - 1, last - first + 1);
    tg_tensor *actual = tg_from_array(TG_F64, 1, (int64_t[]){last - first + 1}, losses + first - 1);
    assert_close(actual, expected, rtol, atol, name);
    tg_scope_end(s);
}

/* The adaptive configurations whose float32 trajectory past step 10 is
 * rounding noise at the 1e-5 level: which of them drift past it depends on
 * the SIMD level's summation order (with AVX-512 or AVX2: adagrad 1.6e-5 and
 * centered RMSprop with momentum 3.9e-5; with the scalar kernels: RMSprop
 * 3.3e-5, the other two under 0.3e-5). PyTorch's own F32 run departs from
 * its F64 run by 1.2e-5 and 2.1e-5 for the first two, so agreeing more
 * closely would be agreeing on noise. The other ten configurations stay
 * under 0.3e-5 on every level. */
static bool ill_conditioned_in_f32(const char *config)
{
    return !strcmp(config, "adagrad") || !strcmp(config, "rmsprop") || !strcmp(config, "rmsprop_centered_momentum");
}

/* 50 steps of every configuration against PyTorch's: the losses before
 * every step and the parameters after steps 1, 10 and 50 at rtol/atol up to
 * step `exact_steps` (all 50 where exact_steps is 0), and at the looser
 * far_rtol/far_atol beyond it. */
static void run_trajectories(tg_dtype dtype, double rtol, double atol, int exact_steps, double far_rtol,
                             double far_atol)
{
    const char *tag = dtype == TG_F64 ? "f64" : "f32";
    const int limit = exact_steps;
    for (int ci = 0; ci < N_CONFIGS; ci++) {
        exact_steps = limit && ill_conditioned_in_f32(configs[ci]) ? limit : STEPS;
        model m;
        model_init(&m, dtype);
        tg_optim *o = make_config(configs[ci], &m.params);
        assert_non_null(o);
        tg_tensor *x = keep_golden("x", dtype), *y = keep_golden("y", dtype);
        double losses[STEPS];
        for (int step = 1; step <= STEPS; step++) {
            losses[step - 1] = train_step(&m, o, x, y);
            if (step == 1 || step == 10 || step == STEPS) {
                const bool near = step <= exact_steps;
                compare_params(&m, configs[ci], tag, step, near ? rtol : far_rtol, near ? atol : far_atol);
            }
        }
        compare_losses(losses, configs[ci], tag, 1, exact_steps, rtol, atol);
        if (exact_steps < STEPS) compare_losses(losses, configs[ci], tag, exact_steps + 1, STEPS, far_rtol, far_atol);
        tg_free(x);
        tg_free(y);
        tg_optim_free(o);
        model_free(&m);
    }
}

static void test_trajectories_f64(void **state)
{
    (void)state;
    run_trajectories(TG_F64, 1e-10, 1e-13, 0, 0, 0);
}

/* F32 rounding differs between this library's kernels and PyTorch's (GEMM
 * summation order, transcendental functions) by an ulp or so per op. All
 * 50 steps match at rel 1e-5 (atol 1e-6 for values near zero), except the
 * three configurations above: 1e-5 for 10 steps, 1e-3 after. */
static void test_trajectories_f32(void **state)
{
    (void)state;
    run_trajectories(TG_F32, 1e-5, 1e-6, 10, 1e-3, 1e-5);
}

/* --- state export / import ----------------------------------------------------- */

/* A checkpoint: persistent copies of exported entries (as a file would hold). */
static tg_params checkpoint_of(const tg_params *exported)
{
    tg_params ck = tg_params_new();
    for (int i = 0; i < exported->count; i++)
        assert_int_equal(tg_params_add(&ck, NULL, exported->items[i].name, tg_keep(exported->items[i].tensor)), 0);
    return ck;
}

static void checkpoint_free(tg_params *ck)
{
    for (int i = 0; i < ck->count; i++) tg_free(ck->items[i].tensor);
    tg_params_free(ck);
}

/* 10 steps, export, import into a fresh optimizer over a copy of the
 * parameters, 10 more steps: bit-identical to 20 uninterrupted steps. */
static void run_resume(tg_dtype dtype)
{
    for (int ci = 0; ci < N_CONFIGS; ci++) {
        model straight, first, resumed;
        model_init(&straight, dtype);
        model_init(&first, dtype);
        model_init(&resumed, dtype);
        tg_tensor *x = keep_golden("x", dtype), *y = keep_golden("y", dtype);
        tg_optim *o_straight = make_config(configs[ci], &straight.params);
        tg_optim *o_first = make_config(configs[ci], &first.params);
        tg_optim *o_resumed = make_config(configs[ci], &resumed.params);
        for (int step = 0; step < 20; step++) train_step(&straight, o_straight, x, y);
        for (int step = 0; step < 10; step++) train_step(&first, o_first, x, y);
        tg_params exported = tg_params_new();
        assert_int_equal(tg_optim_state_export(o_first, &exported), 0);
        tg_params ck = checkpoint_of(&exported);
        bool was = tg_set_grad_enabled(false);
        for (int k = 0; k < 6; k++) assert_int_equal(tg_copy_(resumed.w[k], first.w[k]), 0);
        tg_set_grad_enabled(was);
        assert_int_equal(tg_optim_state_import(o_resumed, &ck), 0);
        for (int step = 0; step < 10; step++) train_step(&resumed, o_resumed, x, y);
        for (int k = 0; k < 6; k++)
            assert_memory_equal(tg_data(resumed.w[k]), tg_data(straight.w[k]),
                                (size_t)tg_numel(straight.w[k]) * tg_dtype_size(dtype));
        tg_params_free(&exported);
        checkpoint_free(&ck);
        tg_optim_free(o_straight);
        tg_optim_free(o_first);
        tg_optim_free(o_resumed);
        tg_free(x);
        tg_free(y);
        model_free(&straight);
        model_free(&first);
        model_free(&resumed);
    }
}

static void test_resume_is_bit_exact(void **state)
{
    (void)state;
    run_resume(TG_F64);
    run_resume(TG_F32);
}

static int entry_index(const tg_params *p, const char *name)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0) return i;
    return -1;
}

/* PyTorch's names, only for parameters that have state; bad imports change nothing. */
static void test_export_names_and_bad_imports(void **state)
{
    (void)state;
    model m;
    model_init(&m, TG_F64);
    tg_tensor *x = keep_golden("x", TG_F64), *y = keep_golden("y", TG_F64);
    tg_adam_config cfg[2] = {tg_adam_defaults(), tg_adam_defaults()};
    cfg[0].amsgrad = true;
    tg_optim *o = tg_adam(&m.params, 2, cfg);
    tg_params ex = tg_params_new();
    assert_int_equal(tg_optim_state_export(o, &ex), 0);
    assert_int_equal(ex.count, 2); /* only param_groups.{0,1}.lr before any step */
    assert_true(tg_item(tg_params_find(&ex, "param_groups.1.lr")) == 1e-3);
    tg_params_free(&ex);
    for (int step = 0; step < 3; step++) train_step(&m, o, x, y);
    ex = tg_params_new();
    assert_int_equal(tg_optim_state_export(o, &ex), 0);
    /* groups, then per parameter: step, exp_avg, exp_avg_sq (+ max_exp_avg_sq in group 0) */
    assert_int_equal(ex.count, 2 + 3 * 4 + 3 * 3);
    assert_int_equal(tg_item(tg_params_find(&ex, "state.0.step")), 3);
    /* numbered group by group, as PyTorch: group 0 (amsgrad) holds
     * parameters 0, 1 and 4, numbered 0 to 2; group 1's are 3 to 5 */
    assert_non_null(tg_params_find(&ex, "state.2.max_exp_avg_sq"));
    assert_null(tg_params_find(&ex, "state.3.max_exp_avg_sq"));
    assert_true(tg_same_shape(tg_params_find(&ex, "state.1.exp_avg"), m.w[1]));
    assert_true(tg_same_shape(tg_params_find(&ex, "state.2.exp_avg"), m.w[4]));
    assert_true(tg_same_shape(tg_params_find(&ex, "state.3.exp_avg"), m.w[2]));
    /* A second export into the same collection collides. */
    assert_int_equal(tg_optim_state_export(o, &ex), -1);
    assert_error_contains("duplicate");
    assert_int_equal(ex.count, 2 + 21);

    tg_params ck = checkpoint_of(&ex);
    tg_tensor *saved_exp_avg = tg_keep(tg_params_find(&ex, "state.0.exp_avg"));
    tg_tensor *wrong = tg_zeros(TG_F64, 2, (int64_t[]){3, 20});
    tg_tensor *keep = ck.items[entry_index(&ck, "state.0.exp_avg")].tensor;
    /* wrong shape */
    ck.items[entry_index(&ck, "state.0.exp_avg")].tensor = wrong;
    tg_fill_(tg_params_find(&ex, "state.0.exp_avg"), 7.0);
    assert_int_equal(tg_optim_state_import(o, &ck), -1);
    assert_error_contains("'state.0.exp_avg' is float64 [3,20] but parameter 0 ('weight_ih') is float64 [20,3]");
    assert_true(tg_get(tg_params_find(&ex, "state.0.exp_avg"), (int64_t[]){0, 0}) == 7.0); /* untouched */
    ck.items[entry_index(&ck, "state.0.exp_avg")].tensor = keep;
    /* unknown names, out-of-range indices, options the group does not have */
    const char *bad[][2] = {
        {"state.0.momentum_buffer", "unexpected entry 'state.0.momentum_buffer'"},
        {"state.9.step", "parameter 9 is out of range (the optimizer has 6)"},
        {"param_groups.2.lr", "group 2 is out of range"},
        {"state.x.step", "unexpected entry 'state.x.step'"},
        {"state.5.max_exp_avg_sq", "unexpected entry"},
        {"epoch", "unexpected entry 'epoch'"},
    };
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        tg_params extra = tg_params_new();
        tg_params_extend(&extra, NULL, &ck);
        tg_tensor *t = tg_zeros_like(m.w[5]);
        assert_int_equal(tg_params_add(&extra, NULL, bad[b][0], t), 0);
        assert_int_equal(tg_optim_state_import(o, &extra), -1);
        assert_error_contains(bad[b][1]);
        tg_free(t);
        tg_params_free(&extra);
    }
    /* an incomplete parameter */
    tg_params partial = tg_params_new();
    for (int i = 0; i < ck.count; i++)
        if (strcmp(ck.items[i].name, "state.2.exp_avg_sq") != 0)
            tg_params_add(&partial, NULL, ck.items[i].name, ck.items[i].tensor);
    assert_int_equal(tg_optim_state_import(o, &partial), -1);
    assert_error_contains("parameter 2 ('fc.weight') has state but no 'state.2.exp_avg_sq' entry");
    tg_params_free(&partial);
    /* A good import restores the values. */
    assert_int_equal(tg_optim_state_import(o, &ck), 0);
    assert_memory_equal(tg_data(tg_params_find(&ex, "state.0.exp_avg")), tg_data(saved_exp_avg), 60 * sizeof(double));
    /* Importing the optimizer's own tensors changes nothing. */
    assert_int_equal(tg_optim_state_import(o, &ex), 0);
    assert_memory_equal(tg_data(tg_params_find(&ex, "state.0.exp_avg")), tg_data(saved_exp_avg), 60 * sizeof(double));
    assert_int_equal(tg_optim_param_steps(o, 0), 3);
    /* Importing only the groups clears every parameter's state. */
    tg_params groups_only = tg_params_new();
    tg_params_add(&groups_only, NULL, "param_groups.0.lr", tg_params_find(&ck, "param_groups.0.lr"));
    assert_int_equal(tg_optim_state_import(o, &groups_only), 0);
    assert_int_equal(tg_optim_param_steps(o, 0), 0);
    tg_params_free(&groups_only);
    tg_params_free(&ex);
    ex = tg_params_new();
    assert_int_equal(tg_optim_state_export(o, &ex), 0);
    assert_int_equal(ex.count, 2);
    tg_params_free(&ex);

    tg_free(wrong);
    tg_free(saved_exp_avg);
    checkpoint_free(&ck);
    tg_optim_free(o);
    tg_free(x);
    tg_free(y);
    model_free(&m);
}

/* --- missing gradients and bad input ---------------------------------------------- */

/* A persistent F64 leaf of n elements all equal to value. */
static tg_tensor *leaf_full(int64_t n, double value)
{
    return tg_param_full(TG_F64, 1, &n, value);
}

/* A parameter whose gradient was never computed is skipped: no update, no
 * state, no step count (PyTorch skips p.grad is None). */
static void test_missing_grad_is_skipped(void **state)
{
    (void)state;
    tg_tensor *a = leaf_full(3, 1.0), *b = leaf_full(2, 5.0);
    tg_params p = tg_params_new();
    tg_params_add(&p, NULL, "a", a);
    tg_params_add(&p, NULL, "b", b);
    tg_sgd_config sgd = {.lr = 0.5, .momentum = 0.9};
    tg_optim *o_sgd = tg_sgd(&p, 1, &sgd);
    tg_adam_config adam = tg_adam_defaults();
    tg_optim *o_adam = tg_adam(&p, 1, &adam);
    for (int step = 0; step < 2; step++) {
        tg_scope *s = tg_scope_begin();
        tg_optim_zero_grad(o_adam);
        tg_backward(tg_sum(tg_mul(a, a), 0, NULL, false), NULL); /* grad 2a, none for b */
        assert_null(b->grad);
        assert_int_equal(tg_optim_step(o_adam), 0);
        tg_scope_end(s);
    }
    assert_int_equal(tg_optim_param_steps(o_adam, 0), 2);
    assert_int_equal(tg_optim_param_steps(o_adam, 1), 0);
    assert_true(tg_get(b, (int64_t[]){0}) == 5.0);
    assert_true(tg_get(a, (int64_t[]){0}) < 1.0);
    tg_params ex = tg_params_new();
    assert_int_equal(tg_optim_state_export(o_adam, &ex), 0);
    assert_non_null(tg_params_find(&ex, "state.0.exp_avg"));
    assert_null(tg_params_find(&ex, "state.1.step"));
    tg_params_free(&ex);
    /* SGD: the momentum buffer starts as a copy of the first gradient. */
    double a0 = tg_get(a, (int64_t[]){1});
    assert_int_equal(tg_optim_step(o_sgd), 0);
    ex = tg_params_new();
    tg_optim_state_export(o_sgd, &ex);
    assert_int_equal(ex.count, 2); /* param_groups.0.lr and state.0.momentum_buffer */
    tg_tensor *buf = tg_params_find(&ex, "state.0.momentum_buffer");
    assert_memory_equal(tg_data(buf), tg_data(a->grad), 3 * sizeof(double));
    assert_true(tg_get(a, (int64_t[]){1}) == a0 - 0.5 * tg_get(a->grad, (int64_t[]){1}));
    assert_int_equal(tg_optim_param_steps(o_sgd, 0), 0); /* SGD keeps no step count */
    tg_params_free(&ex);
    /* zero_grad zeroes what exists and leaves NULL gradients alone. */
    tg_optim_zero_grad(o_sgd);
    assert_true(tg_get(a->grad, (int64_t[]){2}) == 0.0);
    assert_null(b->grad);
    tg_optim_free(o_sgd);
    tg_optim_free(o_adam);
    tg_params_free(&p);
    tg_free(a);
    tg_free(b);
}

static void test_bad_hyper_parameters(void **state)
{
    (void)state;
    tg_tensor *w = leaf_full(4, 1.0), *bias = leaf_full(2, 0.0);
    tg_params p = tg_params_new();
    tg_params_add(&p, NULL, "weight", w);
    tg_params_add(&p, NULL, "bias", bias);

    tg_sgd_config sgd = tg_sgd_defaults(-0.1);
    assert_null(tg_sgd(&p, 1, &sgd));
    assert_error_contains("tg_sgd: group 0: Invalid learning rate: -0.1");
    sgd = (tg_sgd_config){.lr = 0.1, .nesterov = true};
    assert_null(tg_sgd(&p, 1, &sgd));
    assert_error_contains("Nesterov momentum requires a momentum and zero dampening");
    sgd = (tg_sgd_config){.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true};
    assert_null(tg_sgd(&p, 1, &sgd));
    assert_error_contains("Nesterov momentum requires a momentum and zero dampening");
    sgd = (tg_sgd_config){.lr = 0.1, .momentum = -0.5};
    assert_null(tg_sgd(&p, 1, &sgd));
    assert_error_contains("Invalid momentum value: -0.5");

    tg_adam_config adam[2] = {tg_adam_defaults(), tg_adam_defaults()};
    adam[1].beta1 = 1.0;
    assert_null(tg_adam(&p, 2, adam));
    assert_error_contains("tg_adam: group 1: Invalid beta parameter at index 0: 1");
    adam[1].beta1 = 0.9;
    adam[1].beta2 = -0.1;
    assert_null(tg_adamw(&p, 2, adam));
    assert_error_contains("tg_adamw: group 1: Invalid beta parameter at index 1: -0.1");
    adam[1] = tg_adam_defaults();
    adam[0].lr = NAN;
    assert_null(tg_adam(&p, 2, adam));
    assert_error_contains("Invalid learning rate: nan");
    adam[0] = tg_adam_defaults();
    adam[0].eps = -1;
    assert_null(tg_adam(&p, 2, adam));
    assert_error_contains("Invalid epsilon value: -1");
    adam[0] = tg_adam_defaults();

    tg_rmsprop_config rms = tg_rmsprop_defaults();
    rms.alpha = -0.5;
    assert_null(tg_rmsprop(&p, 1, &rms));
    assert_error_contains("Invalid alpha value: -0.5");
    tg_adagrad_config ada = tg_adagrad_defaults();
    ada.initial_accumulator_value = -1;
    assert_null(tg_adagrad(&p, 1, &ada));
    assert_error_contains("Invalid initial_accumulator_value value: -1");
    ada = tg_adagrad_defaults();
    ada.lr_decay = -1;
    assert_null(tg_adagrad(&p, 1, &ada));
    assert_error_contains("Invalid lr_decay value: -1");

    /* Collections: empty, a group without a config, a repeated tensor. */
    tg_params empty = tg_params_new();
    assert_null(tg_adam(&empty, 1, adam));
    assert_error_contains("tg_adam: optimizer got an empty parameter list");
    assert_int_equal(tg_params_set_group(&p, "bias", 1), 1);
    assert_null(tg_adam(&p, 1, adam));
    assert_error_contains("parameter 'bias' is in group 1 but 1 group config was given");
    tg_params_add(&p, NULL, "weight_again", w);
    assert_null(tg_adam(&p, 2, adam));
    assert_error_contains("parameter 'weight_again' appears more than once (also as 'weight')");
    p.count = 2;
    assert_null(tg_adam(NULL, 1, adam));
    assert_null(tg_adam(&p, 0, adam));
    assert_error_contains("n_groups must be at least 1");

    /* Parameters that are not persistent float leaves. */
    tg_scope *s = tg_scope_begin();
    tg_params bad = tg_params_new();
    tg_params_add(&bad, NULL, "product", tg_mul(w, w));
    assert_null(tg_adam(&bad, 1, adam));
    assert_error_contains("parameter 'product' is not a leaf");
    bad.items[0].tensor = tg_zeros(TG_F64, 1, (int64_t[]){3});
    assert_null(tg_adam(&bad, 1, adam));
    assert_error_contains("parameter 'product' belongs to a scope");
    bad.items[0].tensor = tg_zeros(TG_I64, 1, (int64_t[]){3});
    assert_null(tg_adam(&bad, 1, adam));
    assert_error_contains("int64");
    tg_params_free(&bad);
    tg_scope_end(s);

    /* A gradient of the wrong shape fails the step and updates nothing. */
    tg_optim *o = tg_adam(&p, 2, adam);
    assert_non_null(o);
    w->grad = tg_ones(TG_F64, 1, (int64_t[]){4});
    bias->grad = tg_ones(TG_F64, 1, (int64_t[]){3});
    assert_int_equal(tg_optim_step(o), -1);
    assert_error_contains("gradient of parameter 'bias' is float64 [3] but the parameter is float64 [2]");
    assert_true(tg_get(w, (int64_t[]){0}) == 1.0);
    assert_int_equal(tg_optim_param_steps(o, 0), 0);
    /* Learning rates by group. */
    assert_int_equal(tg_optim_num_groups(o), 2);
    assert_int_equal(tg_optim_set_lr(o, 1, 0.5), 0);
    assert_true(tg_optim_get_lr(o, 1) == 0.5);
    assert_int_equal(tg_optim_set_lr(o, 0, -1), -1);
    assert_error_contains("Invalid learning rate: -1");
    assert_int_equal(tg_optim_set_lr(o, 2, 0.1), -1);
    assert_error_contains("group 2 is out of range (the optimizer has 2)");
    assert_true(isnan(tg_optim_get_lr(o, -1)));
    assert_int_equal(tg_optim_step(NULL), -1);
    tg_optim_free(o);
    tg_optim_free(NULL);
    tg_params_free(&p);
    tg_free(w);
    tg_free(bias);
}

/* --- clipping ---------------------------------------------------------------------- */

/* Three persistent leaves whose gradients are the fixture's clip.grad0..2. */
typedef struct {
    tg_tensor *leaf[3];
    tg_params params;
} clip_set;

static void clip_set_init(clip_set *c, tg_dtype dtype)
{
    c->params = tg_params_new();
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "clip.grad%d", i);
        tg_scope *s = tg_scope_begin();
        tg_tensor *g = golden(FIXTURE, name, dtype);
        c->leaf[i] = tg_requires_grad(tg_keep(tg_zeros_like(g)), true);
        c->leaf[i]->grad = tg_keep(g);
        tg_scope_end(s);
        tg_params_add(&c->params, NULL, name + 5, c->leaf[i]);
    }
}

static void clip_set_free(clip_set *c)
{
    for (int i = 0; i < 3; i++) tg_free(c->leaf[i]);
    tg_params_free(&c->params);
}

/* Totals and clipped gradients against clip_grad_norm_ for p = 2, 1, inf, 3, 0. */
static void test_clip_grad_norm_golden(void **state)
{
    (void)state;
    const struct { const char *tag; double p, max_norm; } cases[] = {
        {"l2", 2, 1.0}, {"l1", 1, 2.5}, {"inf", INFINITY, 0.5}, {"l3", 3, 1.5}, {"l0", 0, 2.0}, {"l2big", 2, 100.0},
    };
    for (int d = 0; d < 2; d++) {
        const tg_dtype dtype = d ? TG_F32 : TG_F64;
        const double rtol = d ? 1e-6 : 1e-12, atol = d ? 1e-7 : 1e-14;
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            clip_set c;
            clip_set_init(&c, dtype);
            double total = -1;
            assert_int_equal(tg_clip_grad_norm(&c.params, cases[k].max_norm, cases[k].p, &total), 0);
            char name[64];
            tg_scope *s = tg_scope_begin();
            snprintf(name, sizeof name, "clip.%s.total", cases[k].tag);
            assert_close(tg_scalar(TG_F64, total), golden(FIXTURE, name, TG_F64), rtol, atol, name);
            for (int i = 0; i < 3; i++) {
                snprintf(name, sizeof name, "clip.%s.grad%d", cases[k].tag, i);
                assert_close(c.leaf[i]->grad, golden(FIXTURE, name, dtype), rtol, atol, name);
            }
            tg_scope_end(s);
            clip_set_free(&c);
        }
    }
}

/* The coefficient rounded as torch rounds it (a reciprocal, then a
 * product, in the gradients' dtype): the clipped gradients equal torch's
 * to the bit, for max_norms where one rounding would be an ulp off. */
static void test_clip_grad_norm_rounded(void **state)
{
    (void)state;
    const int numerators[] = {1, 4, 7, 14, 28}; /* CLIP_ROUNDED in gen_optim.py */
    for (int d = 0; d < 2; d++) {
        const tg_dtype dtype = d ? TG_F32 : TG_F64;
        for (size_t k = 0; k < sizeof numerators / sizeof *numerators; k++) {
            tg_params p = tg_params_new();
            tg_tensor *a = tg_requires_grad(tg_zeros(dtype, 1, (int64_t[]){2}), true);
            tg_tensor *b = tg_requires_grad(tg_zeros(dtype, 1, (int64_t[]){2}), true);
            a->grad = tg_zeros(dtype, 1, (int64_t[]){2});
            b->grad = tg_zeros(dtype, 1, (int64_t[]){2});
            tg_scope *made = tg_scope_begin();
            assert_int_equal(tg_copy_(a->grad, tg_from_array(TG_F64, 1, (int64_t[]){2}, (double[]){3, 4})), 0);
            assert_int_equal(tg_copy_(b->grad, tg_from_array(TG_F64, 1, (int64_t[]){2}, (double[]){0, 12})), 0);
            tg_scope_end(made);
            tg_params_add(&p, NULL, "a", a);
            tg_params_add(&p, NULL, "b", b);
            double total = 0;
            assert_int_equal(tg_clip_grad_norm(&p, numerators[k] / 37.0, 2, &total), 0);
            assert_true(total == 13);
            char name[64];
            snprintf(name, sizeof name, "clip_rounded.%s.%d", d ? "f32" : "f64", numerators[k]);
            tg_scope *s = tg_scope_begin();
            assert_close(tg_cat(2, (tg_tensor *[]){a->grad, b->grad}, 0), golden(FIXTURE, name, dtype), 0, 0, name);
            tg_scope_end(s);
            tg_free(a), tg_free(b);
            tg_params_free(&p);
        }
    }
}

/* A leaf of n elements whose gradient is all `value`, added to p. */
static tg_tensor *leaf_with_grad(tg_params *p, tg_dtype dtype, int64_t n, double value)
{
    tg_tensor *leaf = tg_param_full(dtype, 1, &n, 0.0);
    leaf->grad = tg_full(dtype, 1, &n, value);
    char name[32];
    snprintf(name, sizeof name, "p%d", p->count);
    tg_params_add(p, NULL, name, leaf);
    return leaf;
}

static void test_clip_grad_norm_edges(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        const tg_dtype dtype = d ? TG_F32 : TG_F64;
        /* zero gradients: norm 0, nothing changes (the 1e-6 keeps 1/0 away) */
        tg_params p = tg_params_new();
        tg_tensor *a = leaf_with_grad(&p, dtype, 4, 0.0);
        double total = -1;
        assert_int_equal(tg_clip_grad_norm(&p, 1.0, 2, &total), 0);
        assert_true(total == 0.0);
        assert_true(tg_get(a->grad, (int64_t[]){0}) == 0.0);
        tg_free(a);
        /* tiny gradients stay as they are */
        p.count = 0;
        a = leaf_with_grad(&p, dtype, 4, 1e-30);
        assert_int_equal(tg_clip_grad_norm(&p, 1.0, 2, &total), 0);
        assert_near(total, 2e-30, 2e-30 * 1e-6);
        assert_true(tg_get(a->grad, (int64_t[]){3}) == (d ? (double)1e-30f : 1e-30));
        tg_free(a);
        /* huge gradients (past float's sqrt(max) in F32) come down to max_norm */
        p.count = 0;
        const double huge = d ? 1e30 : 1e200;
        a = leaf_with_grad(&p, dtype, 4, huge);
        tg_tensor *b = leaf_with_grad(&p, dtype, 5, 0.5);
        tg_tensor *skipped = tg_param_full(dtype, 1, (int64_t[]){2}, 0.0);
        tg_params_add(&p, NULL, "no_grad", skipped);
        assert_int_equal(tg_clip_grad_norm(&p, 3.0, 2, &total), 0);
        const double h = d ? (double)1e30f : huge; /* the total is h * sqrt(4 + 1.25 / h^2) = 2h */
        const double expected_total = 2 * h;
        assert_near(total / expected_total, 1.0, 1e-12);
        assert_near(tg_get(a->grad, (int64_t[]){0}), 1.5, 1e-6);
        assert_true(tg_get(b->grad, (int64_t[]){0}) < 1e-20);
        assert_null(skipped->grad);
        /* a total past float's range in F32 (6e38): the coefficient is a
         * float denormal, not 0 */
        tg_fill_(a->grad, d ? 3e38 : 1e300);
        tg_fill_(b->grad, 0.0);
        assert_int_equal(tg_clip_grad_norm(&p, 3.0, 2, &total), 0);
        assert_near(tg_get(a->grad, (int64_t[]){0}), 1.5, 1e-5);
        /* inf and NaN gradients: status 1, the total reported, nothing touched */
        const double bad[2] = {INFINITY, NAN};
        const double orders[3] = {2, 1, INFINITY};
        for (int k = 0; k < 2; k++)
            for (int o = 0; o < 3; o++) {
                tg_fill_(a->grad, 1.0);
                tg_fill_(b->grad, 1.0);
                if (d) ((float *)tg_data(b->grad))[2] = (float)bad[k];
                else ((double *)tg_data(b->grad))[2] = bad[k];
                assert_int_equal(tg_clip_grad_norm(&p, 1.0, orders[o], &total), 1);
                assert_error_contains("non-finite");
                assert_true(k == 0 ? isinf(total) : isnan(total));
                assert_true(tg_get(a->grad, (int64_t[]){0}) == 1.0);
                assert_true(tg_get(b->grad, (int64_t[]){1}) == 1.0);
            }
        /* bad arguments */
        assert_int_equal(tg_clip_grad_norm(NULL, 1.0, 2, &total), -1);
        assert_int_equal(tg_clip_grad_norm(&p, -1.0, 2, &total), -1);
        assert_error_contains("max_norm (-1) and norm_type (2) must be >= 0");
        assert_int_equal(tg_clip_grad_norm(&p, 1.0, NAN, &total), -1);
        tg_free(a);
        tg_free(b);
        tg_free(skipped);
        /* no gradients at all: total 0 */
        tg_params none = tg_params_new();
        assert_int_equal(tg_clip_grad_norm(&none, 1.0, 2, &total), 0);
        assert_true(total == 0.0);
        tg_params_free(&none);
        tg_params_free(&p);
    }
}

static void test_clip_grad_value(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        const tg_dtype dtype = d ? TG_F32 : TG_F64;
        tg_params p = tg_params_new();
        tg_tensor *a = leaf_with_grad(&p, dtype, 5, 0.0);
        const double values[5] = {-3.0, -0.25, 0.5, 2.0, NAN};
        for (int64_t i = 0; i < 5; i++) {
            if (d) ((float *)tg_data(a->grad))[i] = (float)values[i];
            else ((double *)tg_data(a->grad))[i] = values[i];
        }
        assert_int_equal(tg_clip_grad_value(&p, 1.0), 0);
        const double expected[4] = {-1.0, -0.25, 0.5, 1.0};
        for (int64_t i = 0; i < 4; i++) assert_true(tg_get(a->grad, &i) == expected[i]);
        assert_true(isnan(tg_get(a->grad, (int64_t[]){4})));
        assert_int_equal(tg_clip_grad_value(&p, -1.0), -1);
        assert_error_contains("tg_clip_grad_value: clip_value must be >= 0 (got -1)");
        assert_int_equal(tg_clip_grad_value(NULL, 1.0), -1);
        /* an integer gradient is refused by both, before anything changes */
        tg_tensor *ints = tg_param_full(dtype, 1, (int64_t[]){2}, 0.0);
        ints->grad = tg_zeros(TG_I64, 1, (int64_t[]){2});
        tg_params_add(&p, NULL, "ints", ints);
        assert_int_equal(tg_clip_grad_value(&p, 0.1), -1);
        assert_error_contains("tg_clip_grad_value");
        assert_error_contains("int64");
        assert_true(tg_get(a->grad, (int64_t[]){3}) == 1.0);
        assert_int_equal(tg_clip_grad_norm(&p, 1.0, 2, NULL), -1);
        assert_error_contains("tg_clip_grad_norm");
        tg_free(ints);
        tg_free(a);
        tg_params_free(&p);
    }
}

/* --- exploding gradients ---------------------------------------------------------- */

/* h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T + b) over T = 50 steps, from a
 * large initialisation (W_hh ~ N(0, 3/sqrt(H))), read out by a Linear layer
 * and trained to output the mean of its input sequence. Returns the loss
 * after `steps` SGD steps, each clipped to norm 1 when clip is set. */
static double train_rnn(bool clip, int steps, double *first_loss, double *max_norm_seen)
{
    enum { T = 50, B = 8, H = 16 };
    tg_manual_seed(7);
    tg_tensor *x = tg_randn(TG_F64, 3, (int64_t[]){T, B, 1}, 0, 1);
    tg_tensor *w_ih = tg_param_normal(TG_F64, 2, (int64_t[]){H, 1}, 0, 3.0);
    tg_tensor *w_hh = tg_param_normal(TG_F64, 2, (int64_t[]){H, H}, 0, 3.0 / sqrt(H));
    tg_tensor *bias = tg_param_full(TG_F64, 1, (int64_t[]){H}, 0.0);
    tg_tensor *w_out = tg_param_normal(TG_F64, 2, (int64_t[]){1, H}, 0, 1.0 / sqrt(H));
    tg_params p = tg_params_new();
    tg_params_add(&p, NULL, "weight_ih", w_ih);
    tg_params_add(&p, NULL, "weight_hh", w_hh);
    tg_params_add(&p, NULL, "bias", bias);
    tg_params_add(&p, NULL, "out.weight", w_out);
    tg_sgd_config cfg = tg_sgd_defaults(0.3);
    tg_optim *o = tg_sgd(&p, 1, &cfg);
    tg_scope *outer = tg_scope_begin();
    tg_tensor *target = tg_keep(tg_mean(x, 1, (int[]){0}, false)); /* (B, 1), no grad: x is no leaf */
    tg_scope_end(outer);
    double loss_value = NAN;
    *max_norm_seen = 0;
    for (int step = 0; step < steps; step++) {
        tg_scope *s = tg_scope_begin();
        tg_optim_zero_grad(o);
        tg_tensor *h = tg_zeros(TG_F64, 2, (int64_t[]){B, H});
        for (int64_t t = 0; t < T; t++)
            h = tg_tanh(tg_add(tg_linear(tg_select(x, 0, t), w_ih, bias), tg_linear(h, w_hh, NULL)));
        tg_tensor *diff = tg_sub(tg_linear(h, w_out, NULL), target);
        tg_tensor *loss = tg_mean(tg_mul(diff, diff), 0, NULL, false);
        loss_value = tg_item(loss);
        if (step == 0) *first_loss = loss_value;
        assert_int_equal(tg_backward(loss, NULL), 0);
        double norm;
        int status = tg_clip_grad_norm(&p, clip ? 1.0 : INFINITY, 2, &norm);
        assert_true(status == 0 || (!clip && status == 1));
        if (norm > *max_norm_seen || isnan(norm)) *max_norm_seen = norm;
        tg_optim_step(o);
        tg_scope_end(s);
    }
    tg_optim_free(o);
    tg_params_free(&p);
    tg_free(x);
    tg_free(target);
    tg_free(w_ih);
    tg_free(w_hh);
    tg_free(bias);
    tg_free(w_out);
    return loss_value;
}

static void test_exploding_gradients_need_clipping(void **state)
{
    (void)state;
    double first_plain = 0, first_clipped = 0, norm_plain = 0, norm_clipped = 0;
    const double plain = train_rnn(false, 40, &first_plain, &norm_plain);
    const double clipped = train_rnn(true, 40, &first_clipped, &norm_clipped);
    assert_true(first_plain == first_clipped);
    /* Without clipping one huge step throws the weights far away. */
    assert_true(!isfinite(plain) || plain > 100 * first_plain);
    assert_true(!isfinite(norm_plain) || norm_plain > 1e3);
    /* With it, the same problem trains. */
    assert_true(clipped < 0.5 * first_clipped);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectories_f64),
        cmocka_unit_test(test_trajectories_f32),
        cmocka_unit_test(test_resume_is_bit_exact),
        cmocka_unit_test(test_export_names_and_bad_imports),
        cmocka_unit_test(test_missing_grad_is_skipped),
        cmocka_unit_test(test_bad_hyper_parameters),
        cmocka_unit_test(test_clip_grad_norm_golden),
        cmocka_unit_test(test_clip_grad_norm_rounded),
        cmocka_unit_test(test_clip_grad_norm_edges),
        cmocka_unit_test(test_clip_grad_value),
        cmocka_unit_test(test_exploding_gradients_need_clipping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
