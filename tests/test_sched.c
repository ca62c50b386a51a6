/* Learning-rate schedules: 30 epochs of each against torch.optim.lr_scheduler
 * (tests/golden/gen_optim.py), chaining, state export/import, bad input. */
#include "support.h"

#include <math.h>
#include <string.h>

#include <tapegrad/schedule.h>

#define FIXTURE "sched.txt"
#define EPOCHS 30

/* An SGD optimizer with two groups (lr 0.1 and 0.02), as the script's. */
typedef struct {
    tg_tensor *w[2];
    tg_params params;
    tg_optim *optim;
} two_groups;

static void two_groups_init(two_groups *t)
{
    t->params = tg_params_new();
    for (int g = 0; g < 2; g++) {
        t->w[g] = tg_param_full(TG_F64, 1, (int64_t[]){1}, 0.0);
        tg_params_add(&t->params, NULL, g ? "b" : "a", t->w[g]);
        t->params.items[g].group = g;
    }
    tg_sgd_config cfg[2] = {tg_sgd_defaults(0.1), tg_sgd_defaults(0.02)};
    t->optim = tg_sgd(&t->params, 2, cfg);
    assert_non_null(t->optim);
}

static void two_groups_free(two_groups *t)
{
    tg_optim_free(t->optim);
    tg_params_free(&t->params);
    tg_free(t->w[0]);
    tg_free(t->w[1]);
}

static double inverse_decay(int64_t epoch, int group, void *user)
{
    (void)group;
    return 1.0 / (1.0 + *(const double *)user * (double)epoch);
}

static double metric_at(int epoch, bool mode_max)
{
    tg_scope *s = tg_scope_begin();
    int64_t e = epoch;
    double m = tg_get(golden(FIXTURE, "sched.metrics", TG_F64), &e);
    tg_scope_end(s);
    return mode_max ? 1 - m : m;
}

/* Up to two schedules stepped together every epoch, as the script does. */
static void check_trace(const char *name, two_groups *t, tg_sched *a, tg_sched *b)
{
    assert_non_null(a);
    double trace[EPOCHS][2];
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        for (int g = 0; g < 2; g++) trace[epoch][g] = tg_optim_get_lr(t->optim, g);
        tg_sched *both[2] = {a, b};
        for (int k = 0; k < 2 && both[k]; k++) {
            if (strncmp(name, "sched.plateau", 13) == 0)
                assert_int_equal(tg_sched_step_metric(both[k], metric_at(epoch, strstr(name, "max") != NULL)), 0);
            else
                assert_int_equal(tg_sched_step(both[k]), 0);
        }
    }
    tg_scope *s = tg_scope_begin();
    /* The same operations in the same order as PyTorch: equal to the bit. */
    assert_close(tg_from_array(TG_F64, 2, (int64_t[]){EPOCHS, 2}, trace), golden(FIXTURE, name, TG_F64), 0, 0, name);
    tg_scope_end(s);
    assert_int_equal(tg_sched_last_epoch(a), EPOCHS);
    assert_true(tg_sched_last_lr(b ? b : a, 1) == tg_optim_get_lr(t->optim, 1));
    tg_sched_free(a);
    tg_sched_free(b);
}

static void test_schedules_match_pytorch(void **state)
{
    (void)state;
    two_groups t;
    static double decay = 0.5;

    two_groups_init(&t);
    check_trace("sched.step", &t, tg_sched_step_lr(t.optim, 7, 0.5), NULL);
    two_groups_free(&t);

    two_groups_init(&t);
    check_trace("sched.multistep", &t, tg_sched_multistep_lr(t.optim, 4, (int64_t[]){5, 12, 12, 20}, 0.3), NULL);
    two_groups_free(&t);

    two_groups_init(&t);
    check_trace("sched.exponential", &t, tg_sched_exponential_lr(t.optim, 0.9), NULL);
    two_groups_free(&t);

    two_groups_init(&t);
    check_trace("sched.cosine", &t, tg_sched_cosine_lr(t.optim, 10, 0.001), NULL);
    two_groups_free(&t);

    two_groups_init(&t);
    check_trace("sched.lambda", &t, tg_sched_lambda_lr(t.optim, inverse_decay, &decay), NULL);
    two_groups_free(&t);

    two_groups_init(&t);
    check_trace("sched.linear", &t, tg_sched_linear_lr(t.optim, 0.1, 1.0, 5), NULL);
    two_groups_free(&t);

    /* Linear warm-up chained with cosine annealing; the cosine's base_lr is
     * the groups' initial lr, not the warmed-down one (PyTorch's initial_lr). */
    two_groups_init(&t);
    tg_sched *warmup = tg_sched_linear_lr(t.optim, 0.25, 1.0, 4);
    check_trace("sched.warmup_cosine", &t, warmup, tg_sched_cosine_lr(t.optim, 25, 0.0));
    two_groups_free(&t);

    two_groups_init(&t);
    tg_plateau_config rel = tg_plateau_defaults();
    rel.factor = 0.5, rel.patience = 2, rel.threshold = 0.01;
    check_trace("sched.plateau_min_rel", &t, tg_sched_plateau(t.optim, &rel), NULL);
    two_groups_free(&t);

    two_groups_init(&t);
    tg_plateau_config abs = tg_plateau_defaults();
    abs.mode_max = true, abs.factor = 0.3, abs.patience = 1, abs.threshold = 0.005, abs.threshold_abs = true;
    abs.cooldown = 2, abs.min_lrs = (double[]){0.005, 0.001};
    check_trace("sched.plateau_max_abs", &t, tg_sched_plateau(t.optim, &abs), NULL);
    two_groups_free(&t);
}

/* A schedule resumed from exported state continues exactly as one that ran
 * straight through, together with its optimizer's learning rates. */
static void run_resume(tg_sched *(*make)(tg_optim *), bool plateau)
{
    two_groups straight, first, resumed;
    two_groups_init(&straight);
    two_groups_init(&first);
    two_groups_init(&resumed);
    tg_sched *s_straight = make(straight.optim), *s_first = make(first.optim), *s_resumed = make(resumed.optim);
#define STEP(sched, epoch) \
    assert_int_equal(plateau ? tg_sched_step_metric(sched, metric_at(epoch, false)) : tg_sched_step(sched), 0)
    for (int epoch = 0; epoch < 12; epoch++) {
        STEP(s_straight, epoch);
        STEP(s_first, epoch);
    }
    tg_params ex = tg_params_new();
    assert_int_equal(tg_sched_state_export(s_first, &ex), 0);
    tg_params opt_ex = tg_params_new();
    assert_int_equal(tg_optim_state_export(first.optim, &opt_ex), 0);
    assert_int_equal(tg_item(tg_params_find(&ex, "last_epoch")), 12);
    assert_int_equal(tg_sched_state_import(s_resumed, &ex), 0);
    assert_int_equal(tg_optim_state_import(resumed.optim, &opt_ex), 0);
    for (int epoch = 12; epoch < EPOCHS; epoch++) {
        STEP(s_straight, epoch);
        STEP(s_resumed, epoch);
        for (int g = 0; g < 2; g++) {
            assert_true(tg_optim_get_lr(resumed.optim, g) == tg_optim_get_lr(straight.optim, g));
            assert_true(tg_sched_last_lr(s_resumed, g) == tg_sched_last_lr(s_straight, g));
        }
    }
#undef STEP
    tg_params_free(&ex);
    tg_params_free(&opt_ex);
    tg_sched_free(s_straight);
    tg_sched_free(s_first);
    tg_sched_free(s_resumed);
    two_groups_free(&straight);
    two_groups_free(&first);
    two_groups_free(&resumed);
}

static tg_sched *make_cosine(tg_optim *o) { return tg_sched_cosine_lr(o, 10, 0.001); }

static tg_sched *make_plateau(tg_optim *o)
{
    tg_plateau_config c = tg_plateau_defaults();
    c.factor = 0.5, c.patience = 1, c.cooldown = 1, c.threshold = 0.01;
    return tg_sched_plateau(o, &c);
}

static void test_state_export_import(void **state)
{
    (void)state;
    run_resume(make_cosine, false);
    run_resume(make_plateau, true);

    two_groups t;
    two_groups_init(&t);
    tg_sched *cos = make_cosine(t.optim), *plat = make_plateau(t.optim);
    tg_params ex = tg_params_new();
    assert_int_equal(tg_sched_state_export(cos, &ex), 0);
    assert_int_equal(ex.count, 3); /* last_epoch, base_lrs, last_lr */
    assert_true(tg_get(tg_params_find(&ex, "base_lrs"), (int64_t[]){1}) == 0.02);
    /* plateau state does not fit a cosine schedule and vice versa */
    assert_int_equal(tg_sched_state_import(plat, &ex), -1);
    assert_error_contains("tg_sched_state_import: unexpected entry 'base_lrs'");
    tg_params plat_ex = tg_params_new();
    assert_int_equal(tg_sched_state_export(plat, &plat_ex), 0);
    assert_int_equal(plat_ex.count, 5);
    assert_true(isinf(tg_item(tg_params_find(&plat_ex, "best"))));
    assert_int_equal(tg_sched_state_import(cos, &plat_ex), -1);
    assert_error_contains("unexpected entry 'best'");
    /* missing entry, wrong shape, bad counter */
    tg_params partial = tg_params_new();
    tg_params_add(&partial, NULL, "last_epoch", tg_params_find(&ex, "last_epoch"));
    assert_int_equal(tg_sched_state_import(cos, &partial), -1);
    assert_error_contains("no 'base_lrs' entry");
    tg_tensor *three = tg_zeros(TG_F64, 1, (int64_t[]){3});
    tg_params_add(&partial, NULL, "base_lrs", three);
    tg_params_add(&partial, NULL, "last_lr", tg_params_find(&ex, "last_lr"));
    assert_int_equal(tg_sched_state_import(cos, &partial), -1);
    assert_error_contains("entry 'base_lrs' has shape [3]; expected one value per group");
    partial.items[1].tensor = tg_params_find(&ex, "base_lrs");
    tg_tensor *negative = tg_scalar(TG_F64, -2);
    partial.items[0].tensor = negative;
    assert_int_equal(tg_sched_state_import(cos, &partial), -1);
    assert_error_contains("entry 'last_epoch'");
    assert_int_equal(tg_sched_last_epoch(cos), 0);
    tg_free(three);
    tg_free(negative);
    tg_params_free(&partial);
    tg_params_free(&ex);
    tg_params_free(&plat_ex);
    tg_sched_free(cos);
    tg_sched_free(plat);
    two_groups_free(&t);
}

static void test_bad_input(void **state)
{
    (void)state;
    two_groups t;
    two_groups_init(&t);
    assert_null(tg_sched_step_lr(t.optim, 0, 0.1));
    assert_error_contains("tg_sched_step_lr: step_size must be > 0 (got 0)");
    assert_null(tg_sched_step_lr(NULL, 3, 0.1));
    assert_error_contains("tg_sched_step_lr: NULL optimizer");
    assert_null(tg_sched_multistep_lr(t.optim, 2, (int64_t[]){5, 3}, 0.1));
    assert_error_contains("milestones must be non-decreasing (3 after 5)");
    assert_null(tg_sched_cosine_lr(t.optim, 0, 0.0));
    assert_error_contains("t_max must be > 0");
    /* The largest t_max: its period 2 t_max is past int64 (undefined
     * behaviour there, which the sanitizer build stops on); the rate
     * barely moves from the base over the first steps. */
    tg_sched *flat = tg_sched_cosine_lr(t.optim, INT64_MAX, 0.0);
    assert_non_null(flat);
    for (int k = 0; k < 3; k++) assert_int_equal(tg_sched_step(flat), 0);
    assert_near(tg_optim_get_lr(t.optim, 0), 0.1, 1e-15);
    tg_sched_free(flat);
    assert_null(tg_sched_linear_lr(t.optim, 0.0, 1.0, 5));
    assert_error_contains("Starting multiplicative factor expected to be in (0, 1]");
    assert_null(tg_sched_linear_lr(t.optim, 0.5, 1.5, 5));
    assert_error_contains("Ending multiplicative factor");
    assert_null(tg_sched_lambda_lr(t.optim, NULL, NULL));
    assert_error_contains("NULL lambda");
    tg_plateau_config c = tg_plateau_defaults();
    c.factor = 1.0;
    assert_null(tg_sched_plateau(t.optim, &c));
    assert_error_contains("Factor should be < 1.0");
    c = tg_plateau_defaults();
    c.patience = -1;
    assert_null(tg_sched_plateau(t.optim, &c));
    assert_error_contains("patience (-1)");
    /* A failed constructor leaves the learning rates alone. */
    assert_true(tg_optim_get_lr(t.optim, 0) == 0.1);

    tg_sched *plat = tg_sched_plateau(t.optim, &(tg_plateau_config){.factor = 0.1});
    assert_int_equal(tg_sched_step(plat), -1);
    assert_error_contains("ReduceLROnPlateau needs the metric");
    /* A NaN metric never improves: with patience 0 it cuts at once. */
    assert_int_equal(tg_sched_step_metric(plat, NAN), 0);
    assert_near(tg_optim_get_lr(t.optim, 0), 0.01, 1e-17);
    tg_sched *step = tg_sched_step_lr(t.optim, 2, 0.5);
    assert_int_equal(tg_sched_step_metric(step, 1.0), -1);
    assert_error_contains("only ReduceLROnPlateau takes a metric");
    assert_true(isnan(tg_sched_last_lr(step, 2)));
    assert_error_contains("group 2 is out of range (the schedule has 2)");
    assert_int_equal(tg_sched_step(NULL), -1);
    tg_sched_free(plat);
    tg_sched_free(step);
    tg_sched_free(NULL);
    two_groups_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedules_match_pytorch),
        cmocka_unit_test(test_state_export_import),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
