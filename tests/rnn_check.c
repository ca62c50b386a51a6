#include "rnn_check.h"

typedef struct {
    tg_rnn *rnn;
    const int64_t *lengths;
} rnn_ctx;

/* inputs: x (T, B, I), one initial state per state of the cell, then
 * parameters. Returns the output and every final state, flattened into one
 * vector. */
static tg_tensor *rnn_fn(int n, tg_tensor **in, void *ctx)
{
    rnn_ctx *c = ctx;
    int states = c->rnn->n_states;
    tg_tensor *x = c->rnn->config.batch_first ? tg_transpose(in[0], 0, 1) : in[0];
    tg_rnn_output r;
    (void)n;
    if (tg_rnn_forward(c->rnn, x, states, in + 1, c->lengths, &r) < 0) return NULL;
    tg_tensor *parts[TG_CELL_MAX_STATES + 1] = {tg_flatten(r.output, 0, -1)};
    for (int k = 0; k < states; k++) parts[k + 1] = tg_flatten(r.state_n[k], 0, -1);
    return tg_cat(states + 1, parts, 0);
}

void assert_rnn_gradcheck_impl(const tg_cell *cell, const tg_rnn_config *cfg, const int64_t *lengths, const char *what,
                               const char *file, int line)
{
    enum { TT = 5, BB = 2 };
    tg_manual_seed(21);
    rnn_ctx ctx = {tg_rnn_new(cell, cfg), lengths};
    if (!ctx.rnn) fail_msg("%s:%d: %s: %s", file, line, what, tg_last_error());
    tg_params params = tg_params_new();
    assert_int_equal(tg_rnn_params(ctx.rnn, &params, NULL), 0);
    int64_t layers = ctx.rnn->config.num_layers * ctx.rnn->num_directions;
    tg_tensor *in[16];
    int n = 0;
    in[n++] = leaf_f64(3, (int64_t[]){TT, BB, cfg->input_size}, -1, 1);
    /* the states' sizes, from a dry run */
    tg_scope *s = tg_scope_begin();
    tg_rnn_output dry;
    tg_tensor *one_step = tg_zeros(TG_F64, 3, (int64_t[]){1, BB, cfg->input_size});
    assert_int_equal(tg_rnn_forward(ctx.rnn, one_step, 0, NULL, NULL, &dry), 0);
    int64_t sizes[TG_CELL_MAX_STATES];
    for (int k = 0; k < ctx.rnn->n_states; k++) sizes[k] = dry.state_n[k]->shape[2];
    tg_scope_end(s);
    for (int k = 0; k < ctx.rnn->n_states; k++) in[n++] = leaf_f64(3, (int64_t[]){layers, BB, sizes[k]}, -1, 1);
    /* gradcheck takes at most 16 inputs: check the parameters in groups,
     * each with x and the initial states */
    int own = n;
    for (int first = 0; first < params.count; first += 16 - own) {
        n = own;
        for (int i = first; i < params.count && n < 16; i++) in[n++] = params.items[i].tensor;
        assert_gradcheck_impl(rnn_fn, in, n, &ctx, what, file, line);
    }
    for (int i = 0; i < own; i++) tg_free(in[i]);
    tg_params_free(&params);
    tg_rnn_free(ctx.rnn);
}
