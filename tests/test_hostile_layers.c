/* Hostile arguments to layers, parameters, optimizers, schedules and
 * clipping. */
#include "hostile.h"

/* --- layers, optimizers, schedules, clipping ----------------------------------------- */

static double half_lambda(int64_t epoch, int group, void *user)
{
    (void)epoch;
    (void)group;
    (void)user;
    return 0.5;
}

static void test_layers(void **state)
{
    (void)state;
    /* parameter collections */
    tg_params p = tg_params_new();
    tg_tensor *w = tg_param_full(TG_F64, 1, (int64_t[]){3}, 1.0);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    EXPECT_FAIL(tg_params_add(NULL, NULL, "w", w), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_add(&p, NULL, NULL, w), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_add(&p, NULL, "w", NULL), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_add(&p, long_name, "w", w), -1, "tg_params_add: name 'aaaa");
    assert_error_contains("aaaa.w' is longer than 127 characters");
    /* no prefix: the name alone, with no '.' before it */
    EXPECT_FAIL(tg_params_add(&p, NULL, long_name, w), -1, "tg_params_add: name 'aaaa");
    EXPECT_FAIL(tg_params_add(&p, "", long_name, w), -1, "tg_params_add: name 'aaaa");
    assert_int_equal(tg_params_add(&p, NULL, "w", w), 0);
    EXPECT_FAIL(tg_params_add(&p, "", "w", w), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_extend(NULL, "a", &p), -1, "tg_params_extend");
    EXPECT_FAIL(tg_params_extend(&p, "a", NULL), -1, "tg_params_extend");
    EXPECT_FAIL(tg_params_extend(&p, NULL, &p), -1, "duplicate parameter name 'w'");
    assert_null(tg_params_find(NULL, "w"));
    assert_null(tg_params_find(&p, NULL));
    assert_int_equal(tg_params_set_group(NULL, "w", 1), 0);
    assert_int_equal(tg_params_set_group(&p, NULL, 1), 0);
    assert_int_equal(tg_params_numel(NULL), 0);
    tg_params_zero_grad(NULL);
    tg_params_free(NULL);
    EXPECT_ERR(tg_param_uniform(TG_I64, 1, (int64_t[]){2}, 0, 1), "tg_param_uniform: parameters must be float32 or float64, got int64");
    EXPECT_ERR(tg_param_uniform(TG_F64, 1, (int64_t[]){-2}, 0, 1), "tg_param_uniform");
    EXPECT_ERR(tg_param_uniform(TG_F64, 1, (int64_t[]){2}, 1, 0), "tg_param_uniform");
    /* infinite ranges, which filled the parameter with NaN or inf */
    EXPECT_ERR(tg_param_uniform(TG_F32, 1, (int64_t[]){2}, -INFINITY, INFINITY),
               "tg_param_uniform: uniform_ expects a finite to-from, but found from=-inf and to=inf");
    EXPECT_ERR(tg_param_uniform(TG_F64, 1, (int64_t[]){2}, 0, INFINITY), "expects a finite to-from");
    EXPECT_ERR(tg_param_uniform(TG_F64, 1, (int64_t[]){2}, -1e308, 1e308), "from=-1e+308 and to=1e+308");
    EXPECT_ERR(tg_param_uniform(TG_F32, 1, (int64_t[]){2}, 0, 1e39), "tg_param_uniform: to is out of bounds for float: 1e+39");
    EXPECT_ERR(tg_param_uniform(TG_F32, 1, (int64_t[]){2}, -1e39, 0), "tg_param_uniform: from is out of bounds for float");
    EXPECT_ERR(tg_param_full(TG_F32, 1, (int64_t[]){2}, 4e38), "tg_param_full: value is out of bounds for float: 4e+38");
    EXPECT_ERR(tg_param_normal(TG_F64, 2, NULL, 0, 1), "tg_param_normal");
    EXPECT_ERR(tg_param_normal(TG_F64, 1, (int64_t[]){2}, 0, -1), "tg_param_normal");
    EXPECT_ERR(tg_param_full(TG_I64, 1, (int64_t[]){2}, 0), "tg_param_full");
    EXPECT_ERR(tg_param_full(TG_F64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 0), "tg_param_full");
    /* optimizers */
    tg_sgd_config sgd = tg_sgd_defaults(0.1);
    tg_adam_config adam = tg_adam_defaults();
    tg_rmsprop_config rms = tg_rmsprop_defaults();
    tg_adagrad_config ada = tg_adagrad_defaults();
    tg_params empty = tg_params_new();
    EXPECT_ERR(tg_sgd(NULL, 1, &sgd), "tg_sgd");
    EXPECT_ERR(tg_sgd(&p, 1, NULL), "tg_sgd");
    EXPECT_ERR(tg_sgd(&p, 0, &sgd), "tg_sgd");
    EXPECT_ERR(tg_sgd(&p, -1, &sgd), "tg_sgd");
    EXPECT_ERR(tg_sgd(&empty, 1, &sgd), "tg_sgd");
    sgd.lr = NAN;
    EXPECT_ERR(tg_sgd(&p, 1, &sgd), "tg_sgd");
    sgd.lr = -1;
    EXPECT_ERR(tg_sgd(&p, 1, &sgd), "tg_sgd");
    sgd = tg_sgd_defaults(0.1);
    sgd.nesterov = true;
    EXPECT_ERR(tg_sgd(&p, 1, &sgd), "tg_sgd");
    adam.beta1 = 1;
    EXPECT_ERR(tg_adam(&p, 1, &adam), "tg_adam");
    adam = tg_adamw_defaults();
    adam.eps = NAN;
    EXPECT_ERR(tg_adamw(&p, 1, &adam), "tg_adamw");
    rms.alpha = -1;
    EXPECT_ERR(tg_rmsprop(&p, 1, &rms), "tg_rmsprop");
    ada.lr_decay = -1;
    EXPECT_ERR(tg_adagrad(&p, 1, &ada), "tg_adagrad");
    EXPECT_ERR(tg_adagrad(&p, 1, NULL), "tg_adagrad");
    tg_params_set_group(&p, "w", 3);
    EXPECT_ERR(tg_sgd(&p, 1, (tg_sgd_config[]){tg_sgd_defaults(0.1)}), "tg_sgd");
    tg_params_set_group(&p, "w", 0);
    EXPECT_FAIL(tg_optim_step(NULL), -1, "tg_optim_step");
    tg_optim_zero_grad(NULL);
    tg_optim_free(NULL);
    assert_int_equal(tg_optim_num_groups(NULL), 0);
    EXPECT_NAN(tg_optim_get_lr(NULL, 0), "tg_optim_get_lr");
    EXPECT_FAIL(tg_optim_set_lr(NULL, 0, 1), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_param_steps(NULL, 0), -1, "tg_optim_param_steps");
    EXPECT_FAIL(tg_optim_state_export(NULL, &empty), -1, "tg_optim_state_export");
    EXPECT_FAIL(tg_optim_state_import(NULL, &empty), -1, "tg_optim_state_import");
    tg_optim *opt = tg_adam(&p, 1, (tg_adam_config[]){tg_adam_defaults()});
    assert_non_null(opt);
    EXPECT_NAN(tg_optim_get_lr(opt, 1), "tg_optim_get_lr");
    EXPECT_NAN(tg_optim_get_lr(opt, -1), "tg_optim_get_lr");
    EXPECT_FAIL(tg_optim_set_lr(opt, 0, NAN), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_set_lr(opt, 0, -1), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_set_lr(opt, 5, 1), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_param_steps(opt, 1), -1, "tg_optim_param_steps");
    EXPECT_FAIL(tg_optim_param_steps(opt, -1), -1, "tg_optim_param_steps");
    EXPECT_FAIL(tg_optim_state_export(opt, NULL), -1, "tg_optim_state_export");
    EXPECT_FAIL(tg_optim_state_import(opt, NULL), -1, "tg_optim_state_import");
    /* a gradient of the wrong shape */
    w->grad = tg_zeros(TG_F64, 1, (int64_t[]){4});
    EXPECT_FAIL(tg_optim_step(opt), -1, "tg_optim_step");
    tg_free(w->grad);
    w->grad = NULL;
    /* schedules */
    EXPECT_ERR(tg_sched_step_lr(NULL, 1, 0.5), "tg_sched_step_lr");
    EXPECT_ERR(tg_sched_step_lr(opt, 0, 0.5), "tg_sched_step_lr");
    EXPECT_ERR(tg_sched_step_lr(opt, -3, 0.5), "tg_sched_step_lr");
    EXPECT_ERR(tg_sched_multistep_lr(opt, 2, NULL, 0.5), "tg_sched_multistep_lr");
    EXPECT_ERR(tg_sched_multistep_lr(opt, -1, (int64_t[]){1}, 0.5), "tg_sched_multistep_lr");
    EXPECT_ERR(tg_sched_multistep_lr(opt, 2, (int64_t[]){3, 1}, 0.5), "tg_sched_multistep_lr");
    EXPECT_ERR(tg_sched_exponential_lr(NULL, 0.5), "tg_sched_exponential_lr");
    EXPECT_ERR(tg_sched_cosine_lr(opt, 0, 0), "tg_sched_cosine_lr");
    EXPECT_ERR(tg_sched_cosine_lr(opt, INT64_MIN, 0), "tg_sched_cosine_lr");
    EXPECT_ERR(tg_sched_lambda_lr(opt, NULL, NULL), "tg_sched_lambda_lr");
    EXPECT_ERR(tg_sched_lambda_lr(NULL, half_lambda, NULL), "tg_sched_lambda_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, 0, 1, 5), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, 0.5, 2, 5), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, 0.5, 1, 0), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, NAN, 1, 5), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_plateau(opt, NULL), "tg_sched_plateau");
    tg_plateau_config pc = tg_plateau_defaults();
    pc.factor = 1;
    EXPECT_ERR(tg_sched_plateau(opt, &pc), "tg_sched_plateau");
    pc = tg_plateau_defaults();
    pc.patience = -1;
    EXPECT_ERR(tg_sched_plateau(opt, &pc), "tg_sched_plateau");
    EXPECT_FAIL(tg_sched_step(NULL), -1, "tg_sched_step");
    EXPECT_FAIL(tg_sched_step_metric(NULL, 1), -1, "tg_sched_step_metric");
    EXPECT_NAN(tg_sched_last_lr(NULL, 0), "tg_sched_last_lr");
    EXPECT_SILENT(tg_sched_last_epoch(NULL), -1);
    EXPECT_FAIL(tg_sched_state_export(NULL, &empty), -1, "tg_sched_state_export");
    EXPECT_FAIL(tg_sched_state_import(NULL, &empty), -1, "tg_sched_state_import");
    tg_sched_free(NULL);
    tg_sched *sch = tg_sched_lambda_lr(opt, half_lambda, NULL);
    assert_non_null(sch);
    EXPECT_NAN(tg_sched_last_lr(sch, 1), "tg_sched_last_lr");
    EXPECT_NAN(tg_sched_last_lr(sch, -1), "tg_sched_last_lr");
    EXPECT_FAIL(tg_sched_step_metric(sch, 1), -1, "tg_sched_step_metric");
    EXPECT_FAIL(tg_sched_state_export(sch, NULL), -1, "tg_sched_state_export");
    EXPECT_FAIL(tg_sched_state_import(sch, NULL), -1, "tg_sched_state_import");
    EXPECT_FAIL(tg_sched_state_import(sch, &empty), -1, "tg_sched_state_import");
    tg_sched_free(sch);
    /* clipping */
    EXPECT_FAIL(tg_clip_grad_norm(NULL, 1, 2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, -1, 2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, NAN, 2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, 1, -2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, 1, NAN, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_value(NULL, 1), -1, "tg_clip_grad_value");
    EXPECT_FAIL(tg_clip_grad_value(&p, -1), -1, "tg_clip_grad_value");
    EXPECT_FAIL(tg_clip_grad_value(&p, NAN), -1, "tg_clip_grad_value");
    tg_optim_free(opt);
    tg_params_free(&p);
    tg_free(w);
}

static void test_modules(void **state)
{
    (void)state;
    tg_params p = tg_params_new();
    EXPECT_ERR(tg_linear_layer_new(0, 2, true, TG_F64), "tg_linear_layer_new");
    EXPECT_ERR(tg_linear_layer_new(2, -1, true, TG_F64), "tg_linear_layer_new");
    EXPECT_ERR(tg_linear_layer_new(2, 2, true, TG_I64), "tg_linear_layer_new: dtype must be float32 or float64, got int64");
    EXPECT_ERR(tg_linear_layer_new(2, 2, true, (tg_dtype)7),
               "tg_linear_layer_new: dtype must be float32 or float64, got the value 7, which is no dtype");
    EXPECT_ERR(tg_embedding_layer_new(4, 2, -1, TG_I64), "tg_embedding_layer_new: dtype must be float32 or float64, got int64");
    EXPECT_ERR(tg_layernorm_layer_new(1, (int64_t[]){3}, 1e-5, true, TG_I64),
               "tg_layernorm_layer_new: dtype must be float32 or float64, got int64");
    EXPECT_ERR(tg_linear_layer_new(INT64_MAX, INT64_MAX, true, TG_F64), "too large");
    EXPECT_ERR(tg_embedding_layer_new(0, 2, -1, TG_F64), "tg_embedding_layer_new");
    EXPECT_ERR(tg_embedding_layer_new(4, 2, 4, TG_F64), "tg_embedding_layer_new");
    EXPECT_ERR(tg_embedding_layer_new(4, 2, -2, TG_F64), "tg_embedding_layer_new");
    EXPECT_ERR(tg_dropout_layer_new(-0.5), "tg_dropout_layer_new");
    EXPECT_ERR(tg_dropout_layer_new(NAN), "tg_dropout_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(0, (int64_t[]){3}, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(9, (int64_t[]){3}, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, NULL, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, (int64_t[]){0}, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, (int64_t[]){3}, -1, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, (int64_t[]){3}, NAN, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_cell_layer_new(NULL, 2, 3, true, TG_F64), "tg_cell_layer_new");
    EXPECT_ERR(tg_cell_layer_new(&tg_cell_lstm, 0, 3, true, TG_F64), "tg_cell_layer_new");
    EXPECT_ERR(tg_cell_layer_new(&tg_cell_gru, 2, 3, true, TG_I64), "tg_cell_layer_new");
    EXPECT_ERR(tg_rnn_new(&tg_cell_lstm, NULL), "tg_rnn_new");
    EXPECT_ERR(tg_rnn_new(NULL, &(tg_rnn_config){.input_size = 2, .hidden_size = 3}), "tg_rnn_new");
    EXPECT_ERR(tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = 0}), "tg_lstm_new");
    EXPECT_ERR(tg_gru_new(&(tg_gru_config){.input_size = 2, .hidden_size = 3, .num_layers = -1}), "tg_gru_new");
    EXPECT_ERR(tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = 3, .proj_size = 3}), "tg_lstm_new");
    EXPECT_ERR(tg_gru_new(&(tg_gru_config){.input_size = 2, .hidden_size = 3, .dropout = NAN}), "tg_gru_new");
    EXPECT_ERR(tg_rnn_new(&tg_cell_rnn_tanh, &(tg_rnn_config){.input_size = 2, .hidden_size = 3, .dtype = (tg_dtype)7}),
               "tg_rnn_new");
    /* forward with bad inputs */
    tg_linear_layer *lin = tg_linear_layer_new(3, 2, true, TG_F64);
    tg_embedding_layer *emb = tg_embedding_layer_new(4, 2, -1, TG_F64);
    tg_dropout_layer *drop = tg_dropout_layer_new(0.5);
    tg_layernorm_layer *ln = tg_layernorm_layer_new(1, (int64_t[]){3}, 1e-5, true, TG_F64);
    tg_cell_layer *cell = tg_cell_layer_new(&tg_cell_lstm, 3, 2, true, TG_F64);
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 3, .hidden_size = 2, .dtype = TG_F64});
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = 3, .hidden_size = 2, .dtype = TG_F64});
    assert_true(lin && emb && drop && ln && cell && lstm && gru);
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    tg_tensor *next[2], *x = tg_ones(TG_F64, 3, (int64_t[]){4, 2, 3});
    tg_rnn_output out;
    EXPECT_ERR(tg_linear_layer_forward(NULL, z.f64), "tg_linear_layer_forward");
    EXPECT_NULL_SILENT(tg_linear_layer_forward(lin, NULL));
    EXPECT_ERR(tg_linear_layer_forward(lin, z.other), "tg_linear");
    EXPECT_ERR(tg_linear_layer_forward(lin, z.f32), "tg_linear");
    EXPECT_ERR(tg_embedding_layer_forward(NULL, z.i64), "tg_embedding_layer_forward");
    EXPECT_ERR(tg_embedding_layer_forward(emb, z.f64), "tg_embedding");
    EXPECT_ERR(tg_embedding_layer_forward(emb, tg_full(TG_I64, 1, (int64_t[]){1}, 4)), "tg_embedding");
    EXPECT_ERR(tg_dropout_layer_forward(NULL, z.f64), "tg_dropout_layer_forward");
    tg_dropout_layer_train(NULL, false);
    EXPECT_ERR(tg_layernorm_layer_forward(NULL, z.f64), "tg_layernorm_layer_forward");
    EXPECT_ERR(tg_layernorm_layer_forward(ln, z.other), "tg_layernorm_layer_forward");
    EXPECT_ERR(tg_layernorm_layer_forward(ln, z.dim0), "tg_layernorm_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(NULL, z.f64, 0, NULL, next), "tg_cell_layer_forward");
    EXPECT_NULL_SILENT(tg_cell_layer_forward(cell, NULL, 0, NULL, next));
    EXPECT_ERR(tg_cell_layer_forward(cell, z.other, 0, NULL, next), "tg_cell_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(cell, z.f64, 1, &z.f64, next), "tg_cell_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(cell, z.f64, 2, (tg_tensor *[]){NULL, z.other}, next), "tg_cell_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(cell, z.f64, 0, NULL, NULL), "tg_cell_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(cell, z.f64, 3, (tg_tensor *[]){NULL, NULL, NULL}, next), "tg_cell_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(cell, z.f64, 1, NULL, next), "tg_cell_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(cell, z.dim0, 0, NULL, next), "tg_cell_layer_forward");
    EXPECT_ERR(tg_cell_layer_forward(cell, z.i64, 0, NULL, next), "tg_cell_layer_forward");
    EXPECT_FAIL(tg_rnn_forward(NULL, x, 0, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, x, NULL, NULL, NULL, NULL), -1, "_forward: ");
    EXPECT_SILENT(tg_lstm_forward(lstm, NULL, NULL, NULL, NULL, &out), -1);
    EXPECT_FAIL(tg_lstm_forward(lstm, z.other, NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, z.dim0, NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, tg_cast(x, TG_I64), NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, tg_cast(x, TG_F32), NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, x, z.f64, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, x, NULL, z.f64, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, x, NULL, (int64_t[]){0, 4}, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, x, NULL, (int64_t[]){5, 4}, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, x, NULL, (int64_t[]){INT64_MIN, 4}, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_rnn_forward(gru, x, 2, (tg_tensor *[]){NULL, z.f64}, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_rnn_forward(gru, x, 1, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_rnn_forward(gru, x, -3, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, tg_ones(TG_F64, 3, (int64_t[]){0, 2, 3}), NULL, NULL, &out), -1, "_forward: ");
    assert_int_equal(tg_gru_forward(gru, x, NULL, (int64_t[]){1, 4}, &out), 0);
    tg_scope_end(s);
    tg_rnn_train(NULL, false);
    EXPECT_FAIL(tg_linear_layer_params(NULL, &p, ""), -1, "tg_linear_layer_params");
    EXPECT_FAIL(tg_linear_layer_params(lin, NULL, ""), -1, "tg_linear_layer_params");
    EXPECT_FAIL(tg_embedding_layer_params(emb, NULL, ""), -1, "tg_embedding_layer_params");
    EXPECT_FAIL(tg_layernorm_layer_params(NULL, &p, ""), -1, "tg_layernorm_layer_params");
    EXPECT_FAIL(tg_cell_layer_params(cell, NULL, ""), -1, "tg_cell_layer_params");
    EXPECT_FAIL(tg_rnn_params(NULL, &p, ""), -1, "tg_rnn_params");
    assert_int_equal(tg_rnn_params(lstm, &p, NULL), 0);
    EXPECT_FAIL(tg_rnn_params(lstm, &p, NULL), -1, "tg_params_add");
    tg_params_free(&p);
    tg_linear_layer_free(lin);
    tg_embedding_layer_free(emb);
    tg_dropout_layer_free(drop);
    tg_layernorm_layer_free(ln);
    tg_cell_layer_free(cell);
    tg_rnn_free(lstm);
    tg_rnn_free(gru);
    tg_linear_layer_free(NULL);
    tg_embedding_layer_free(NULL);
    tg_dropout_layer_free(NULL);
    tg_layernorm_layer_free(NULL);
    tg_cell_layer_free(NULL);
    tg_rnn_free(NULL);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_modules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
