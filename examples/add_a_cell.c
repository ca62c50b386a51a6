/* A new recurrent cell, written as a description and run by the library's
 * driver with every option: the worked example of docs/add-a-cell.md.
 *
 * JANET (van der Westhuizen & Lasenby 2018, "The unreasonable effectiveness
 * of the forget gate") keeps only the LSTM's forget gate and lets it also
 * decide what is written, with a shift beta that leans towards keeping:
 *
 *     s_t = W_s x_t + b_s + U_s h_{t-1}
 *     c~  = tanh(W_c x_t + b_c + U_c h_{t-1})
 *     c_t = sigmoid(s_t) * c_{t-1} + (1 - sigmoid(s_t - beta)) * c~
 *     h_t = c_t                                            beta = 1
 *
 * The program lists the cell's parameters in a 2-layer bidirectional layer,
 * checks its gradients through that layer on variable-length sequences,
 * then trains it to recall the first value of a 20-step noise sequence and
 * exits with status 1 unless it learns to (mean squared error below 0.02).
 *
 *     add_a_cell [--seed S] [--quiet]
 *
 * --quiet prints only the result (and what failed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad/tapegrad.h>

#include "args.h"

static bool quiet;

/* --- the cell ----------------------------------------------------------------------- */

/* Constants the step reads through the description's data pointer. */
typedef struct {
    double beta;
} janet_options;

static const janet_options janet_paper = {.beta = 1.0};

/* proj[0] is (B, 2H): the blocks [s c~] of W x + b + U h + b, one GEMM per
 * step because the hidden projection is summed into the input projection. */
static tg_tensor *janet_step(const tg_cell_args *a)
{
    const janet_options *options = a->data;
    int64_t H = a->hidden_size;
    tg_tensor *s = tg_narrow(a->proj[0], 1, 0, H);
    tg_tensor *candidate = tg_tanh(tg_narrow(a->proj[0], 1, H, H));
    tg_tensor *keep = tg_sigmoid(s);
    tg_tensor *write = tg_rsub_scalar(tg_sigmoid(tg_sub_scalar(s, options->beta)), 1.0);
    tg_tensor *cell = tg_addcmul(tg_mul(keep, a->state[0]), write, candidate, 1.0);
    return a->next[0] = cell; /* h_t = c_t: the new state is also the output */
}

static const tg_cell janet = {
    .name = "JANET",
    /* torch's four parameters for 2 gate blocks: weight_ih (2H, I),
     * weight_hh (2H, H), bias_ih (2H), bias_hh (2H) */
    .params = {TG_CELL_TORCH_PARAMS(2)},
    .states = {{"h", {.h = 1}}},
    /* x W_ih^T + b_ih for all steps before the loop; h W_hh^T + b_hh summed into it */
    .proj = {TG_CELL_TORCH_PROJ(2, true)},
    .step = janet_step,
    .data = &janet_paper,
};

/* --- its gradients through the driver ------------------------------------------------ */

typedef struct {
    tg_rnn *rnn;
    const int64_t *lengths;
} check_ctx;

static tg_tensor *run_layer(int n, tg_tensor **inputs, void *ctx)
{
    check_ctx *c = ctx;
    tg_rnn_output r;
    (void)n;
    if (tg_rnn_forward(c->rnn, inputs[0], 0, NULL, c->lengths, &r) < 0) return NULL;
    return tg_cat(2, (tg_tensor *[]){tg_flatten(r.output, 0, -1), tg_flatten(r.h_n, 0, -1)}, 0);
}

static int check_gradients(void)
{
    tg_rnn_config config = {.input_size = 3, .hidden_size = 2, .num_layers = 2, .bidirectional = true,
                            .dtype = TG_F64};
    check_ctx ctx = {tg_rnn_new(&janet, &config), (const int64_t[]){4, 2}};
    tg_params params = tg_params_new();
    if (!ctx.rnn || tg_rnn_params(ctx.rnn, &params, "janet") < 0) {
        tg_params_free(&params);
        tg_rnn_free(ctx.rnn);
        return -1;
    }
    if (!quiet) {
        printf("%s: %d tensors, %lld parameters:", janet.name, params.count, (long long)tg_params_numel(&params));
        for (int i = 0; i < params.count; i++) printf(" %s", params.items[i].name);
        printf("\n");
    }
    /* x (T = 4, B = 2, I = 3) and the first layer's weights */
    tg_tensor *inputs[5] = {tg_requires_grad(tg_rand(TG_F64, 3, (int64_t[]){4, 2, 3}, -1, 1), true)};
    for (int i = 0; i < 4; i++) inputs[i + 1] = params.items[i].tensor;
    tg_gradcheck_result result;
    int status = tg_gradcheck(run_layer, 5, inputs, &ctx, 1e-6, 1e-6, 1e-4, &result);
    if (!quiet || status != 0)
        printf("gradcheck through 2 bidirectional layers with lengths {4, 2}: %s (worst error %.1e)\n",
           status == 0 ? "ok" : "FAILED", result.max_abs_err);
    tg_free(inputs[0]);
    tg_params_free(&params);
    tg_rnn_free(ctx.rnn);
    return status;
}

/* --- training it ----------------------------------------------------------------------- */

enum { STEPS = 20, BATCH = 32, HIDDEN = 16 };

/* x (B, STEPS, 1) uniform noise; the target is x[:, 0]. Returns the mean
 * loss of the last 20 steps, or -1. */
static double train(void)
{
    tg_rnn *rnn = tg_rnn_new(&janet, &(tg_rnn_config){.input_size = 1, .hidden_size = HIDDEN, .batch_first = true});
    tg_linear_layer *head = tg_linear_layer_new(HIDDEN, 1, true, TG_F32);
    tg_params params = tg_params_new();
    tg_optim *opt = NULL;
    double recent = -1;
    if (!rnn || !head || tg_rnn_params(rnn, &params, "janet") < 0 || tg_linear_layer_params(head, &params, "head") < 0)
        goto done;
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.01;
    opt = tg_adam(&params, 1, &adam);
    recent = 0;
    for (int step = 1; step <= 400; step++) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_rand(TG_F32, 3, (int64_t[]){BATCH, STEPS, 1}, -1, 1);
        tg_rnn_output r;
        tg_tensor *loss = tg_rnn_forward(rnn, x, 0, NULL, NULL, &r) < 0 ? NULL
                        : tg_mse_loss(tg_linear_layer_forward(head, tg_select(r.h_n, 0, 0)), tg_select(x, 1, 0),
                                      TG_REDUCTION_MEAN);
        tg_optim_zero_grad(opt);
        if (!loss || tg_backward(loss, NULL) < 0 || tg_optim_step(opt) < 0) {
            tg_scope_end(s);
            recent = -1;
            goto done;
        }
        recent = step > 380 ? recent + tg_item(loss) / 20 : 0;
        if (step % 100 == 0 && !quiet) printf("step %d: loss %.5f\n", step, tg_item(loss));
        tg_scope_end(s);
    }

done:
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(rnn);
    tg_linear_layer_free(head);
    return recent;
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--seed S] [--quiet]\n"
            "Defines the JANET cell, checks its gradients through a 2-layer bidirectional layer and\n"
            "trains it to recall the first of 20 values; exits 1 unless it learns to. --quiet prints\n"
            "only the result.\n",
            argv0);
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (strcmp(argv[i], "--seed") == 0) ok = arg_seed("add_a_cell", argc, argv, &i, &seed);
        else if (strcmp(argv[i], "--quiet") == 0) quiet = true;
        else return arg_other("add_a_cell", argv[i], argv[0], usage);
        if (!ok) return 2;
    }
    tg_manual_seed(seed);
    if (check_gradients() != 0) {
        fprintf(stderr, "add_a_cell: %s\n", tg_last_error());
        return 1;
    }
    double loss = train();
    if (loss < 0) {
        fprintf(stderr, "add_a_cell: %s\n", tg_last_error());
        return 1;
    }
    printf("recalling the first of %d values: mean squared error %.5f over the last 20 steps (noise variance 0.333)\n",
           STEPS, loss);
    return loss < 0.02 ? 0 : 1;
}
