/* Checkpoints: 20 training steps straight equal 10 steps, a checkpoint, a
 * fresh start (freed and rebuilt objects, and a second process), and 10
 * more, bit for bit, with an LSTM + dropout + Linear, Adam and a cosine
 * schedule; failed loads change nothing; the RNG state round-trips. */
#include "files.h"

#include <math.h>
#include <sys/wait.h>

#include <tapegrad/checkpoint.h>
#include <tapegrad/state.h>

#define STEPS 20
#define DATA_SEED 100

/* Everything a training run holds. */
typedef struct {
    tg_lstm *lstm;
    tg_dropout_layer *drop;
    tg_linear_layer *head;
    tg_params params;
    tg_optim *opt;
    tg_sched *sched;
} run;

/* LSTM(2, 8, 2 layers, dropout 0.3 between them) -> dropout 0.2 ->
 * Linear(8, 1); Adam; cosine schedule over STEPS steps. seed sets the
 * initial weights. plateau: a ReduceLROnPlateau schedule instead. */
static run run_new(uint64_t seed, int64_t hidden, bool plateau)
{
    tg_manual_seed(seed);
    run r = {tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = hidden, .num_layers = 2, .dropout = 0.3,
                                           .batch_first = true}),
             tg_dropout_layer_new(0.2), tg_linear_layer_new(hidden, 1, true, TG_F32), tg_params_new(), NULL, NULL};
    assert_int_equal(tg_rnn_params(r.lstm, &r.params, "lstm"), 0);
    assert_int_equal(tg_linear_layer_params(r.head, &r.params, "head"), 0);
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.02;
    r.opt = tg_adam(&r.params, 1, &adam);
    tg_plateau_config cfg = tg_plateau_defaults();
    r.sched = plateau ? tg_sched_plateau(r.opt, &cfg) : tg_sched_cosine_lr(r.opt, STEPS, 1e-4);
    assert_non_null(r.sched);
    return r;
}

static void run_free(run *r)
{
    tg_sched_free(r->sched);
    tg_optim_free(r->opt);
    tg_params_free(&r->params);
    tg_rnn_free(r->lstm);
    tg_dropout_layer_free(r->drop);
    tg_linear_layer_free(r->head);
}

/* One step on a fresh random batch (so the data depend on the RNG too). */
static double train_step(run *r)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_randn(TG_F32, 3, (int64_t[]){4, 6, 2}, 0, 1), *y = tg_randn(TG_F32, 2, (int64_t[]){4, 1}, 0, 1);
    tg_rnn_output out;
    assert_int_equal(tg_lstm_forward(r->lstm, x, NULL, NULL, NULL, &out), 0);
    tg_tensor *last = tg_select(out.h_n, 0, -1);
    tg_tensor *loss = tg_mse_loss(tg_linear_layer_forward(r->head, tg_dropout_layer_forward(r->drop, last)), y,
                                  TG_REDUCTION_MEAN);
    tg_optim_zero_grad(r->opt);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_int_equal(tg_optim_step(r->opt), 0);
    assert_int_equal(tg_sched_step(r->sched), 0);
    double value = tg_item(loss);
    tg_scope_end(s);
    return value;
}

/* Persistent copies of a run's optimizer and schedule state. */
static tg_params state_copy(run *r)
{
    tg_params exported = tg_params_new(), copy = tg_params_new();
    tg_optim_state_export(r->opt, &exported);
    tg_sched_state_export(r->sched, &exported);
    for (int i = 0; i < exported.count; i++) tg_params_add(&copy, NULL, exported.items[i].name, tg_keep(exported.items[i].tensor));
    tg_params_free(&exported);
    return copy;
}

static void free_copy(tg_params *p)
{
    for (int i = 0; i < p->count; i++) tg_free(p->items[i].tensor);
    tg_params_free(p);
}

static void assert_same_collection(const tg_params *a, const tg_params *b)
{
    assert_int_equal(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        assert_string_equal(a->items[i].name, b->items[i].name);
        assert_same_tensor(a->items[i].tensor, b->items[i].tensor);
    }
}

static void assert_same_run(run *a, run *b)
{
    assert_same_collection(&a->params, &b->params);
    tg_params sa = state_copy(a), sb = state_copy(b);
    assert_same_collection(&sa, &sb);
    free_copy(&sa);
    free_copy(&sb);
}

/* The second process: load the checkpoint into a run built from other
 * weights, train the last 10 steps, write everything to out. */
static int resume_in_child(const char *checkpoint, const char *out)
{
    run r = run_new(3, 8, false);
    tg_checkpoint ck = {.params = &r.params, .optim = r.opt, .sched = r.sched, .step = 0, .epoch = 0};
    if (tg_checkpoint_load(checkpoint, &ck) < 0 || ck.step != STEPS / 2) return 1;
    for (int step = STEPS / 2; step < STEPS; step++) train_step(&r);
    ck.step = STEPS;
    int status = tg_checkpoint_save(out, &ck) < 0;
    run_free(&r);
    return status;
}

/* Optimizer state is numbered as PyTorch numbers it, group by group: with
 * the biases in group 1, between the weights in collection order, the
 * weights' state comes first (state.0, state.1), then the biases'. Import
 * reads the same numbers back. A learning rate below 0 or NaN (schedules
 * can make both, as in PyTorch) loads; an entry of two rates does not. */
static void test_optimizer_state_numbering(void **state)
{
    (void)state;
    tg_manual_seed(3);
    tg_linear_layer *l1 = tg_linear_layer_new(3, 2, true, TG_F64), *l2 = tg_linear_layer_new(2, 4, true, TG_F64);
    tg_params params = tg_params_new();
    assert_int_equal(tg_linear_layer_params(l1, &params, "a"), 0);
    assert_int_equal(tg_linear_layer_params(l2, &params, "b"), 0);
    assert_int_equal(tg_params_set_group(&params, "bias", 1), 2); /* a.weight, a.bias, b.weight, b.bias */
    tg_adam_config cfg[2] = {tg_adam_defaults(), tg_adam_defaults()};
    tg_optim *opt = tg_adam(&params, 2, cfg), *opt2 = tg_adam(&params, 2, cfg);
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_randn(TG_F64, 2, (int64_t[]){5, 3}, 0, 1);
    tg_tensor *y = tg_linear_layer_forward(l2, tg_linear_layer_forward(l1, x));
    assert_int_equal(tg_backward(tg_sum(tg_square(y), 0, NULL, false), NULL), 0);
    assert_int_equal(tg_optim_step(opt), 0);
    tg_params out = tg_params_new(), back = tg_params_new();
    assert_int_equal(tg_optim_state_export(opt, &out), 0);
    const int64_t numel[4] = {6, 8, 2, 4}; /* a.weight, b.weight, a.bias, b.bias */
    for (int k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "state.%d.exp_avg", k);
        assert_non_null(tg_params_find(&out, name));
        assert_int_equal(tg_numel(tg_params_find(&out, name)), numel[k]);
    }
    assert_int_equal(tg_optim_state_import(opt2, &out), 0);
    assert_int_equal(tg_optim_state_export(opt2, &back), 0);
    assert_same_collection(&out, &back);
    /* a learning rate below 0 or NaN loads, two rates do not */
    tg_params lr = tg_params_new();
    assert_int_equal(tg_params_add(&lr, NULL, "param_groups.1.lr", tg_scalar(TG_F64, -1e-5)), 0);
    assert_int_equal(tg_optim_state_import(opt2, &lr), 0);
    assert_true(tg_optim_get_lr(opt2, 1) == -1e-5);
    lr.items[0].tensor = tg_scalar(TG_F64, NAN);
    assert_int_equal(tg_optim_state_import(opt2, &lr), 0);
    assert_true(isnan(tg_optim_get_lr(opt2, 1)));
    assert_true(tg_optim_get_lr(opt2, 0) == cfg[0].lr);
    lr.items[0].tensor = tg_full(TG_F64, 1, (int64_t[]){2}, 0.5);
    assert_int_equal(tg_optim_state_import(opt2, &lr), -1);
    assert_error_contains("tg_optim_state_import: entry 'param_groups.1.lr' is [2] but must hold one learning rate");
    assert_true(isnan(tg_optim_get_lr(opt2, 1)));
    tg_params_free(&lr);
    tg_params_free(&out);
    tg_params_free(&back);
    tg_scope_end(s);
    tg_optim_free(opt);
    tg_optim_free(opt2);
    tg_params_free(&params);
    tg_linear_layer_free(l1);
    tg_linear_layer_free(l2);
}

static void test_resume_is_bit_exact(void **state)
{
    (void)state;
    /* 20 steps straight. */
    double straight[STEPS], resumed[STEPS];
    run a = run_new(1, 8, false);
    tg_manual_seed(DATA_SEED);
    for (int step = 0; step < STEPS; step++) straight[step] = train_step(&a);

    /* 10 steps and a checkpoint ... */
    run b = run_new(1, 8, false);
    tg_manual_seed(DATA_SEED);
    for (int step = 0; step < STEPS / 2; step++) resumed[step] = train_step(&b);
    tg_checkpoint ck = {.params = &b.params, .optim = b.opt, .sched = b.sched, .step = STEPS / 2, .epoch = 1};
    const int count = b.params.count;
    assert_int_equal(tg_checkpoint_save(scratch("run.ckpt"), &ck), 0);
    /* the caller's collection is as it was: a second save holds the model
     * too, and the run below resumes from it */
    assert_int_equal(b.params.count, count);
    assert_int_equal(tg_checkpoint_save(scratch("again.ckpt"), &ck), 0);
    run_free(&b);

    /* ... then everything rebuilt from other weights and another RNG
     * state, loaded, and 10 more steps. */
    tg_manual_seed(999);
    run c = run_new(2, 8, false);
    tg_checkpoint loaded = {.params = &c.params, .optim = c.opt, .sched = c.sched, .step = -1, .epoch = -1};
    assert_int_equal(tg_checkpoint_load(scratch("again.ckpt"), &loaded), 0);
    assert_int_equal(loaded.step, STEPS / 2);
    assert_int_equal(loaded.epoch, 1);
    for (int step = STEPS / 2; step < STEPS; step++) resumed[step] = train_step(&c);
    assert_memory_equal(straight, resumed, sizeof straight);
    assert_same_run(&a, &c);
    assert_true(tg_sched_last_epoch(c.sched) == STEPS);

    /* The same in a second process. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_checkpoint", "--resume", scratch("run.ckpt"), scratch("child.ckpt"), (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    run d = run_new(4, 8, false);
    tg_checkpoint child = {.params = &d.params, .optim = d.opt, .sched = d.sched, .step = 0, .epoch = 0};
    assert_int_equal(tg_checkpoint_load(scratch("child.ckpt"), &child), 0);
    assert_int_equal(child.step, STEPS);
    assert_same_run(&a, &d);

    /* The model part is an ordinary state file under "model.". */
    tg_safetensors *f = tg_safetensors_open(scratch("run.ckpt"));
    assert_string_equal(tg_safetensors_metadata(f, "format"), "tapegrad.checkpoint");
    assert_true(tg_safetensors_find(f, "optimizer.state.0.exp_avg") >= 0);
    assert_true(tg_safetensors_find(f, "optimizer.param_groups.0.lr") >= 0);
    assert_true(tg_safetensors_find(f, "scheduler.last_epoch") >= 0);
    assert_int_equal(tg_state_load_from(f, "model.", &d.params, false, NULL), 0);
    tg_safetensors_close(f);
    run_free(&a);
    run_free(&c);
    run_free(&d);
}

/* What a failed load must leave alone: parameters, optimizer and schedule
 * state, the RNG. */
typedef struct {
    tg_params params, state;
    tg_rng_state rng;
} everything;

static everything everything_of(run *r)
{
    everything e = {tg_params_new(), state_copy(r), tg_get_rng_state()};
    for (int i = 0; i < r->params.count; i++)
        tg_params_add(&e.params, NULL, r->params.items[i].name, tg_keep(r->params.items[i].tensor));
    return e;
}

static void assert_unchanged(run *r, everything *before)
{
    everything now = everything_of(r);
    assert_same_collection(&now.params, &before->params);
    assert_same_collection(&now.state, &before->state);
    assert_memory_equal(&now.rng.words, &before->rng.words, sizeof now.rng.words);
    free_copy(&now.params);
    free_copy(&now.state);
    free_copy(&before->params);
    free_copy(&before->state);
}

static void test_failed_loads_change_nothing(void **state)
{
    (void)state;
    run saved = run_new(1, 8, false);
    for (int step = 0; step < 3; step++) train_step(&saved);
    tg_checkpoint ck = {.params = &saved.params, .optim = saved.opt, .sched = saved.sched, .step = 3, .epoch = 0};
    assert_int_equal(tg_checkpoint_save(scratch("run.ckpt"), &ck), 0);

    run r = run_new(2, 8, false);
    for (int step = 0; step < 2; step++) train_step(&r);
    tg_checkpoint target = {.params = &r.params, .optim = r.opt, .sched = r.sched, .step = 0, .epoch = 0};
    everything before = everything_of(&r);

    /* A state file is not a checkpoint. */
    assert_int_equal(tg_state_save(scratch("model.safetensors"), &saved.params, 0, NULL), 0);
    assert_int_equal(tg_checkpoint_load(scratch("model.safetensors"), &target), -1);
    assert_error_contains("model.safetensors' is not a tapegrad checkpoint");
    /* Optimizer state in the file but no optimizer given, and the reverse. */
    target.optim = NULL;
    assert_int_equal(tg_checkpoint_load(scratch("run.ckpt"), &target), -1);
    assert_error_contains("run.ckpt' holds optimizer state but none was given");
    target.optim = r.opt;
    tg_checkpoint no_sched = {.params = &saved.params, .optim = saved.opt, .sched = NULL, .step = 3, .epoch = 0};
    assert_int_equal(tg_checkpoint_save(scratch("nosched.ckpt"), &no_sched), 0);
    assert_int_equal(tg_checkpoint_load(scratch("nosched.ckpt"), &target), -1);
    assert_error_contains("nosched.ckpt' holds no schedule state but one was given");
    assert_unchanged(&r, &before);

    /* A model with a parameter the file lacks (and the optimizer does not
     * have): the optimizer and the schedule load, then the model fails, and
     * both are put back. */
    tg_tensor *extra = tg_param_full(TG_F32, 1, (int64_t[]){2}, 1.0);
    tg_params_add(&r.params, NULL, "extra", extra);
    before = everything_of(&r);
    assert_int_equal(tg_checkpoint_load(scratch("run.ckpt"), &target), -1);
    assert_error_contains("Missing key(s) in state_dict: \"extra\".");
    assert_unchanged(&r, &before);
    r.params.count--;
    tg_free(extra);

    /* A schedule of another kind, refused before anything loads. */
    run plateau = run_new(2, 8, true);
    before = everything_of(&plateau);
    tg_checkpoint p = {.params = &plateau.params, .optim = plateau.opt, .sched = plateau.sched, .step = 0, .epoch = 0};
    assert_int_equal(tg_checkpoint_load(scratch("run.ckpt"), &p), -1);
    assert_error_contains("run.ckpt' holds the schedule state of CosineAnnealingLR, not of ReduceLROnPlateau");
    assert_unchanged(&plateau, &before);
    run_free(&plateau);

    /* Kinds whose state has the same entry names as the saved ones: an
     * ExponentialLR schedule, an AdamW optimizer. */
    run other = run_new(2, 8, false);
    tg_sched_free(other.sched);
    other.sched = tg_sched_exponential_lr(other.opt, 0.5);
    before = everything_of(&other);
    tg_checkpoint o = {.params = &other.params, .optim = other.opt, .sched = other.sched, .step = 0, .epoch = 0};
    assert_int_equal(tg_checkpoint_load(scratch("run.ckpt"), &o), -1);
    assert_error_contains("holds the schedule state of CosineAnnealingLR, not of ExponentialLR");
    assert_unchanged(&other, &before);
    tg_sched_free(other.sched);
    tg_optim_free(other.opt);
    tg_adam_config adamw = tg_adamw_defaults();
    other.opt = tg_adamw(&other.params, 1, &adamw);
    other.sched = tg_sched_cosine_lr(other.opt, STEPS, 1e-4);
    before = everything_of(&other);
    o = (tg_checkpoint){.params = &other.params, .optim = other.opt, .sched = other.sched, .step = 0, .epoch = 0};
    assert_int_equal(tg_checkpoint_load(scratch("run.ckpt"), &o), -1);
    assert_error_contains("holds the optimizer state of Adam, not of AdamW");
    assert_unchanged(&other, &before);
    run_free(&other);

    /* Another model size fails in the optimizer's own checks. */
    run wide = run_new(2, 9, false);
    before = everything_of(&wide);
    tg_checkpoint w = {.params = &wide.params, .optim = wide.opt, .sched = wide.sched, .step = 0, .epoch = 0};
    assert_int_equal(tg_checkpoint_load(scratch("run.ckpt"), &w), -1);
    assert_error_contains("tg_optim_state_import: entry 'state.0.exp_avg' is float32 [32,2] but parameter 0 "
                          "('lstm.weight_ih_l0') is float32 [36,2]");
    assert_unchanged(&wide, &before);
    run_free(&wide);
    run_free(&saved);
    run_free(&r);
}

/* A schedule's factor that makes the learning rate NaN from epoch 1, as
 * PyTorch's LambdaLR lets one do. */
static double nan_from_one(int64_t epoch, int group, void *user)
{
    (void)group;
    (void)user;
    return epoch >= 1 ? NAN : 1.0;
}

/* A failed load puts back an optimizer whose learning rate a schedule made
 * NaN and reports the failure itself; a checkpoint saved with that rate
 * loads it back. */
static void test_failed_load_keeps_a_nan_learning_rate(void **state)
{
    (void)state;
    run saved = run_new(1, 8, false);
    train_step(&saved);
    tg_checkpoint ck = {.params = &saved.params, .optim = saved.opt, .sched = NULL, .step = 1, .epoch = 0};
    assert_int_equal(tg_checkpoint_save(scratch("nosched.ckpt"), &ck), 0);

    run r = run_new(2, 8, false);
    train_step(&r);
    tg_sched *nan = tg_sched_lambda_lr(r.opt, nan_from_one, NULL);
    assert_int_equal(tg_sched_step(nan), 0);
    assert_true(isnan(tg_optim_get_lr(r.opt, 0)));
    tg_tensor *extra = tg_param_full(TG_F32, 1, (int64_t[]){2}, 1.0);
    tg_params_add(&r.params, NULL, "extra", extra);
    everything before = everything_of(&r);
    tg_checkpoint target = {.params = &r.params, .optim = r.opt, .sched = NULL, .step = 0, .epoch = 0};
    assert_int_equal(tg_checkpoint_load(scratch("nosched.ckpt"), &target), -1);
    assert_error_contains("Missing key(s) in state_dict: \"extra\".");
    assert_unchanged(&r, &before);
    assert_true(isnan(tg_optim_get_lr(r.opt, 0)));
    r.params.count--;
    tg_free(extra);

    tg_checkpoint with_nan = {.params = &r.params, .optim = r.opt, .sched = nan, .step = 3, .epoch = 1};
    assert_int_equal(tg_checkpoint_save(scratch("nan.ckpt"), &with_nan), 0);
    run fresh = run_new(4, 8, false);
    tg_sched *fresh_sched = tg_sched_lambda_lr(fresh.opt, nan_from_one, NULL);
    assert_false(isnan(tg_optim_get_lr(fresh.opt, 0)));
    tg_checkpoint into = {.params = &fresh.params, .optim = fresh.opt, .sched = fresh_sched, .step = 0, .epoch = 0};
    assert_int_equal(tg_checkpoint_load(scratch("nan.ckpt"), &into), 0);
    assert_true(isnan(tg_optim_get_lr(fresh.opt, 0)));
    assert_int_equal(into.step, 3);
    tg_sched_free(fresh_sched);
    run_free(&fresh);
    tg_sched_free(nan);
    run_free(&saved);
    run_free(&r);
}

/* Rewrite run.ckpt as bad.ckpt with entry `name` replaced by t (or added;
 * removed if t is NULL). */
static void rewrite(const char *name, tg_tensor *t)
{
    tg_safetensors_contents c;
    assert_int_equal(tg_safetensors_load(scratch("run.ckpt"), &c), 0);
    tg_named_tensor items[64];
    int n = 0;
    for (int i = 0; i < c.count; i++)
        if (strcmp(c.tensors[i].name, name) != 0) items[n++] = c.tensors[i];
    if (t) items[n++] = (tg_named_tensor){name, t};
    assert_int_equal(tg_safetensors_save(scratch("bad.ckpt"), n, items, c.n_metadata, c.metadata), 0);
    tg_safetensors_contents_free(&c);
}

static void test_bad_checkpoints(void **state)
{
    (void)state;
    run r = run_new(1, 8, false);
    train_step(&r);
    tg_checkpoint ck = {.params = &r.params, .optim = r.opt, .sched = r.sched, .step = 1, .epoch = 0};
    assert_int_equal(tg_checkpoint_save(scratch("run.ckpt"), &ck), 0);
    everything before = everything_of(&r);
    tg_scope *s = tg_scope_begin();
    struct {
        const char *name;
        tg_tensor *value;
        const char *error;
    } cases[] = {
        {"rng_state", tg_zeros(TG_I64, 1, (int64_t[]){6}), "'rng_state' is not a generator state"},
        {"rng_state", tg_from_array(TG_I64, 1, (int64_t[]){6}, (int64_t[]){1, 2, 3, 4, 2, 0}), "'rng_state' is not a generator state"},
        {"rng_state", tg_ones(TG_I64, 1, (int64_t[]){5}), "expected 'rng_state', int64 of shape [6]"},
        {"rng_state", tg_ones(TG_F64, 1, (int64_t[]){6}), "expected 'rng_state', int64 of shape [6]"},
        {"step", tg_scalar(TG_I64, -1), "expected 'step', an int64 0-dim tensor >= 0"},
        {"epoch", tg_ones(TG_I64, 1, (int64_t[]){1}), "expected 'epoch', an int64 0-dim tensor >= 0"},
        {"notes", tg_ones(TG_F32, 1, (int64_t[]){1}), "unexpected entry 'notes'"},
        {"optimizer.state.0.exp_avg", tg_ones(TG_F32, 1, (int64_t[]){1}), "entry 'state.0.exp_avg' is float32 [1]"},
        {"optimizer.param_groups.0.lr", NULL, "has no entry 'optimizer.param_groups.0.lr' (groups in the optimizer given: 1)"},
        {"scheduler.last_epoch", tg_scalar(TG_I64, -5),
         "tg_sched_state_import: entry 'last_epoch' holds -5; expected one whole number >= 0"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rewrite(cases[k].name, cases[k].value);
        tg_clear_error();
        assert_int_equal(tg_checkpoint_load(scratch("bad.ckpt"), &ck), -1);
        assert_error_contains(cases[k].error);
    }
    tg_scope_end(s);
    assert_unchanged(&r, &before);
    ck.step = -1;
    assert_int_equal(tg_checkpoint_save(scratch("run.ckpt"), &ck), -1);
    assert_error_contains("tg_checkpoint_save: step (-1) and epoch (0) must be >= 0");
    assert_int_equal(tg_checkpoint_save(scratch("run.ckpt"), NULL), -1);
    assert_error_contains("NULL checkpoint");
    assert_int_equal(tg_checkpoint_load(scratch("run.ckpt"), &(tg_checkpoint){0}), -1);
    assert_error_contains("tg_checkpoint_load: NULL checkpoint or parameters");
    run_free(&r);
}

/* The generator's state round-trips, pending normal included. */
static void test_rng_state(void **state)
{
    (void)state;
    tg_manual_seed(5);
    tg_rand_normal(); /* leaves the second normal of the pair pending */
    tg_rng_state saved = tg_get_rng_state();
    assert_true(saved.has_spare_normal);
    double first[5];
    for (int i = 0; i < 5; i++) first[i] = i % 2 ? tg_rand_uniform() : tg_rand_normal();
    assert_int_equal(tg_set_rng_state(&saved), 0);
    for (int i = 0; i < 5; i++) assert_true(first[i] == (i % 2 ? tg_rand_uniform() : tg_rand_normal()));
    tg_rng_state zero = {{0, 0, 0, 0}, 0, false};
    assert_int_equal(tg_set_rng_state(&zero), -1);
    assert_error_contains("tg_set_rng_state: all four state words are zero");
    assert_int_equal(tg_set_rng_state(NULL), -1);
    assert_error_contains("tg_set_rng_state: NULL state");
}

/* A warm-up chained with a cosine (two schedules stepped together, as in
 * PyTorch) resumes bit for bit when the checkpoint holds both; a file with
 * one of them does not load into a checkpoint given both, nor the other
 * way round. */
typedef struct {
    tg_tensor *w;
    tg_params params;
    tg_optim *opt;
    tg_sched *warm, *cosine;
} chained_run;

static chained_run chained_new(double start)
{
    chained_run r = {tg_requires_grad(tg_full(TG_F64, 1, (int64_t[]){3}, start), true), tg_params_new(), NULL, NULL,
                     NULL};
    assert_int_equal(tg_params_add(&r.params, NULL, "w", r.w), 0);
    tg_sgd_config sgd = tg_sgd_defaults(0.1);
    sgd.momentum = 0.9;
    r.opt = tg_sgd(&r.params, 1, &sgd);
    r.warm = tg_sched_linear_lr(r.opt, 0.1, 1.0, 5);
    r.cosine = tg_sched_cosine_lr(r.opt, 20, 0.001);
    assert_non_null(r.warm);
    assert_non_null(r.cosine);
    return r;
}

static void chained_steps(chained_run *r, int steps)
{
    for (int i = 0; i < steps; i++) {
        tg_scope *s = tg_scope_begin();
        tg_optim_zero_grad(r->opt);
        assert_int_equal(tg_backward(tg_sum(tg_mul(tg_sin(r->w), r->w), 0, NULL, false), NULL), 0);
        assert_int_equal(tg_optim_step(r->opt), 0);
        assert_int_equal(tg_sched_step(r->warm), 0);
        assert_int_equal(tg_sched_step(r->cosine), 0);
        tg_scope_end(s);
    }
}

static void chained_free(chained_run *r)
{
    tg_sched_free(r->cosine);
    tg_sched_free(r->warm);
    tg_optim_free(r->opt);
    tg_params_free(&r->params);
    tg_free(r->w);
}

static void test_chained_schedules_resume(void **state)
{
    (void)state;
    chained_run straight = chained_new(1.5), first = chained_new(1.5), resumed = chained_new(-0.5);
    chained_steps(&straight, 12);
    chained_steps(&first, 6);
    tg_checkpoint saved = {.params = &first.params, .optim = first.opt, .sched = first.warm, .step = 6,
                           .more_scheds = {first.cosine}};
    assert_int_equal(tg_checkpoint_save(scratch("chain.ckpt"), &saved), 0);
    /* Given one schedule of the two the file holds: refused, nothing changes. */
    tg_checkpoint partial = {.params = &resumed.params, .optim = resumed.opt, .sched = resumed.warm};
    assert_int_equal(tg_checkpoint_load(scratch("chain.ckpt"), &partial), -1);
    assert_error_contains("holds schedule (more_scheds[0]) state but none was given");
    assert_true(tg_get(resumed.w, (int64_t[]){0}) == -0.5);
    tg_checkpoint both = {.params = &resumed.params, .optim = resumed.opt, .sched = resumed.warm,
                          .more_scheds = {resumed.cosine}};
    assert_int_equal(tg_checkpoint_load(scratch("chain.ckpt"), &both), 0);
    assert_int_equal(both.step, 6);
    chained_steps(&resumed, 6);
    assert_same_tensor(resumed.w, straight.w);
    assert_true(tg_optim_get_lr(resumed.opt, 0) == tg_optim_get_lr(straight.opt, 0));
    /* A file with one schedule does not load where two are given. */
    saved.more_scheds[0] = NULL;
    assert_int_equal(tg_checkpoint_save(scratch("one.ckpt"), &saved), 0);
    assert_int_equal(tg_checkpoint_load(scratch("one.ckpt"), &both), -1);
    assert_error_contains("holds no schedule (more_scheds[0]) state but one was given");
    chained_free(&straight);
    chained_free(&first);
    chained_free(&resumed);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--resume") == 0) return resume_in_child(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resume_is_bit_exact, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_failed_loads_change_nothing, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_failed_load_keeps_a_nan_learning_rate, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bad_checkpoints, scratch_setup, scratch_teardown),
        cmocka_unit_test(test_rng_state),
        cmocka_unit_test(test_optimizer_state_numbering),
        cmocka_unit_test_setup_teardown(test_chained_schedules_resume, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
