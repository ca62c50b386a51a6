/* Recurrent training-step benchmark: forward and backward of a
 * torch.nn.LSTM- (or GRU-) shaped layer and a sum loss, the way a training
 * loop runs it.
 *
 *   build/bench/lstm [--batch B] [--seq T] [--input I] [--hidden H]
 *                    [--layers L] [--threads N] [--reps R] [--dtype f32|f64]
 *                    [--mode lstm|gru|user|user-ops] [--layer-norm 0|1]
 *
 * --mode user runs the LSTM written below as a user's cell description,
 * with nothing but the public API, through the same driver as the built-in
 * one (user-ops: the same cell with its gate math op by op). Prints one JSON line with the median forward and forward+backward
 * times in milliseconds, the step's GEMM flops, and the median over the
 * runs of their share of the f32 FMA peak measured right before each
 * (bench/fma.h; f64 runs count against the f32 peak too, which is twice
 * theirs); bench/lstm_vs_torch.sh runs the same shapes
 * through PyTorch in the same run and prints the ratio, and
 * bench/user_cell.sh compares the user's LSTM with the built-in one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fma.h"
#include "timing.h"
#include <tapegrad/tapegrad.h>

/* torch's LSTM as a user writes it from the formulas:
 *   [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh     (proj[0]: the hidden projection is summed into it)
 *   c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')
 * --mode user writes the gate math as one fused expression (tapegrad/fuse.h),
 * as the built-in cell does; --mode user-ops writes it op by op. */
static tg_tensor *user_lstm_step(const tg_cell_args *a)
{
    tg_fuse f;
    tg_fuse_begin(&f, a->hidden_size);
    int i = tg_fuse_sigmoid(&f, tg_fuse_input(&f, a->proj[0], 0));
    int fg = tg_fuse_sigmoid(&f, tg_fuse_input(&f, a->proj[0], 1));
    int g = tg_fuse_tanh(&f, tg_fuse_input(&f, a->proj[0], 2));
    int o = tg_fuse_sigmoid(&f, tg_fuse_input(&f, a->proj[0], 3));
    int c = tg_fuse_add(&f, tg_fuse_mul(&f, fg, tg_fuse_input(&f, a->state[1], 0)), tg_fuse_mul(&f, i, g));
    int h = tg_fuse_mul(&f, o, tg_fuse_tanh(&f, c));
    tg_tensor *out[2];
    if (tg_fuse_run(&f, 2, (int[]){h, c}, out) < 0) return NULL;
    a->next[1] = out[1];
    return a->next[0] = out[0];
}

static tg_tensor *user_ops_lstm_step(const tg_cell_args *a)
{
    tg_tensor *gate[4];
    if (tg_chunk(a->proj[0], 4, 1, 4, gate) != 4) return NULL;
    tg_tensor *c = tg_addcmul(tg_mul(tg_sigmoid(gate[1]), a->state[1]), tg_sigmoid(gate[0]), tg_tanh(gate[2]), 1.0);
    a->next[1] = c;
    return a->next[0] = tg_mul(tg_sigmoid(gate[3]), tg_tanh(c));
}

#define USER_LSTM(NAME, STEP)                                                                                       \
    {                                                                                                               \
        .name = NAME,                                                                                               \
        .params = {{"weight_ih", {{.h = 4}, {.i = 1}}},                                                             \
                   {"weight_hh", {{.h = 4}, {.h = 1}}},                                                             \
                   {"bias_ih", {{.h = 4}}, .bias = true},                                                           \
                   {"bias_hh", {{.h = 4}}, .bias = true}},                                                          \
        .states = {{"h", {.h = 1}}, {"c", {.h = 1}}},                                                               \
        .proj = {{"weight_ih", "bias_ih", TG_FROM_INPUT, 4},                                                        \
                 {"weight_hh", "bias_hh", TG_FROM_STATE(0), 4, .summed = true}},                                    \
        .step = STEP,                                                                                               \
    }
static const tg_cell user_lstm = USER_LSTM("user LSTM", user_lstm_step);
static const tg_cell user_ops_lstm = USER_LSTM("user LSTM, op by op", user_ops_lstm_step);

/* The GEMM flops of one training step, as the step runs them. Per layer,
 * with I_k its input width and G gate blocks, 2 B G H times: forward
 * T I_k (the input's product) and (T - 1) H (the state's: the first
 * step's zero state is left out); backward T I_k (the input weight's
 * gradient), T I_k more where the input needs a gradient (layers above
 * the first: x needs none) and 2 (T - 1) H (the state's and the state
 * weight's gradients). A count of every product's flops in the library
 * agrees with it to the flop. */
static double step_gemm_flops(int gates, int64_t batch, int64_t seq, int64_t input, int64_t hidden, int layers)
{
    double flops = 0;
    for (int k = 0; k < layers; k++) {
        double ik = (double)(k == 0 ? input : hidden);
        flops += 2.0 * (double)(batch * gates * hidden) *
                 ((k > 0 ? 3.0 : 2.0) * (double)seq * ik + 3.0 * (double)(seq - 1) * (double)hidden);
    }
    return flops;
}

/* The process's peak resident memory so far. */
static double max_rss_mb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

int main(int argc, char **argv)
{
    int64_t batch = 64, seq = 50, input = 256, hidden = 256;
    int layers = 1, threads = 1, reps = 20, layer_norm = 0;
    tg_dtype dtype = TG_F32;
    const char *mode = "lstm";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--batch")) batch = atoll(v);
        else if (!strcmp(k, "--seq")) seq = atoll(v);
        else if (!strcmp(k, "--input")) input = atoll(v);
        else if (!strcmp(k, "--hidden")) hidden = atoll(v);
        else if (!strcmp(k, "--layers")) layers = atoi(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--reps")) reps = atoi(v);
        else if (!strcmp(k, "--dtype")) dtype = strcmp(v, "f64") ? TG_F32 : TG_F64;
        else if (!strcmp(k, "--mode")) mode = v;
        else if (!strcmp(k, "--layer-norm")) layer_norm = atoi(v);
        else {
            fprintf(stderr, "lstm: unknown option %s\n", k);
            return 2;
        }
    }
    const tg_cell *cell = !strcmp(mode, "lstm") ? &tg_cell_lstm : !strcmp(mode, "gru") ? &tg_cell_gru
                        : !strcmp(mode, "user") ? &user_lstm : !strcmp(mode, "user-ops") ? &user_ops_lstm : NULL;
    if (reps < 1 || reps > 1000 || tg_set_num_threads(threads) < 0 || !cell) {
        fprintf(stderr, "lstm: bad --reps, --threads or --mode\n");
        return 2;
    }
    tg_manual_seed(0);
    tg_rnn_config config = {.input_size = input, .hidden_size = hidden, .num_layers = layers, .dtype = dtype,
                             .layer_norm = layer_norm != 0};
    tg_rnn *lstm = tg_rnn_new(cell, &config);
    tg_tensor *x = tg_rand(dtype, 3, (int64_t[]){seq, batch, input}, -1, 1);
    if (!lstm || !x) {
        fprintf(stderr, "lstm: %s\n", tg_last_error());
        return 1;
    }
    tg_params params = tg_params_new();
    tg_rnn_params(lstm, &params, NULL);
    double *forward = malloc(sizeof(double) * (size_t)reps), *total = malloc(sizeof(double) * (size_t)reps);
    double *peak = malloc(sizeof(double) * (size_t)reps), *share = malloc(sizeof(double) * (size_t)reps);
    double flops = step_gemm_flops(cell == &tg_cell_gru ? 3 : 4, batch, seq, input, hidden, layers);
    for (int r = -2; r < reps; r++) { /* two warm-up runs fill the arena and caches */
        /* The core's peak right before the run (0.2 to 0.4 ms), for a share
         * of the peak that pairs each time with the clock of its moment. */
        if (r >= 0) peak[r] = bench_fma_peak_f32();
        tg_scope *s = tg_scope_begin();
        tg_params_zero_grad(&params);
        double t0 = bench_now_ms();
        tg_rnn_output out;
        tg_rnn_forward(lstm, x, 0, NULL, NULL, &out);
        tg_tensor *loss = tg_sum(out.output, 0, NULL, false);
        double t1 = bench_now_ms();
        tg_backward(loss, NULL);
        double t2 = bench_now_ms();
        tg_scope_end(s);
        if (r >= 0) {
            forward[r] = t1 - t0;
            total[r] = t2 - t0;
            share[r] = 100 * flops / (total[r] * 1e-3) / (peak[r] * 1e9 * threads);
        }
    }
    printf("{\"mode\":\"%s\",\"batch\":%lld,\"seq\":%lld,\"input\":%lld,\"hidden\":%lld,\"layers\":%d,\"threads\":%d,"
           "\"layer_norm\":%d,\"dtype\":\"%s\",\"simd\":\"%s\",\"forward_ms\":%.3f,\"train_ms\":%.3f,\"max_rss_mb\":%.1f,"
           "\"gemm_gflop\":%.4f,\"peak_gflops\":%.1f,\"share_of_peak\":%.2f}\n",
           mode, (long long)batch, (long long)seq, (long long)input, (long long)hidden, layers, threads, layer_norm,
           dtype == TG_F32 ? "f32" : "f64", tg_simd_level(), bench_median(forward, reps), bench_median(total, reps),
           max_rss_mb(), flops * 1e-9, bench_median(peak, reps), bench_median(share, reps));
    free(forward);
    free(total);
    free(peak);
    free(share);
    tg_params_free(&params);
    tg_rnn_free(lstm);
    tg_free(x);
    return 0;
}
