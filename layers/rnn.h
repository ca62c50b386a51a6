/* Multi-layer recurrent layers: torch.nn.RNN, LSTM and GRU.
 *
 * One driver runs all three; they differ only in the cell step (cells.h,
 * which also documents the GRU convention: PyTorch's, not the textbook's)
 * and the number of gates. Back-propagation through time comes from the
 * tape: the driver loops over time calling ops, nothing more. For each
 * layer and direction the input projection of every time step is one
 * linear over (T*B, I), sliced per step with views; only h W_hh^T runs
 * inside the loop.
 *
 * Shapes (D = 2 if bidirectional else 1, L = num_layers, H_out = proj_size
 * if set else hidden_size), as PyTorch:
 *   x       (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I)
 *   h0      (D*L, B, H_out)   (D*L, H_out) unbatched; NULL for zeros
 *   c0      (D*L, B, H)       LSTM only
 *   output  (T, B, D*H_out), or (B, T, D*H_out) with batch_first
 *   h_n     (D*L, B, H_out)   layer-major, forward before reverse
 *   c_n     (D*L, B, H)       LSTM only
 * For example an LSTM(10, 20, num_layers=2, batch_first) on x (32,15,10)
 * gives output (32,15,20) and h_n, c_n (2,32,20); a bidirectional one-layer
 * LSTM(10, 20) gives output (32,15,40) and h_n (2,32,20).
 *
 * Variable-length batches: lengths holds B entries in 1..T, in any order
 * (PyTorch's pack_padded_sequence with enforce_sorted=False). Outputs past
 * a sequence's end are zero; h_n and c_n hold each sequence's state at its
 * last valid step; the reverse direction starts at each sequence's own last
 * step. The padded steps are masked, not skipped.
 *
 * Parameters, in PyTorch's order and with its state_dict names, for layer k
 * and suffix "" or "_reverse" (G gates: 1 RNN, 4 LSTM, 3 GRU):
 *   weight_ih_l{k}  (G*H, I for k = 0 else D*H_out)
 *   weight_hh_l{k}  (G*H, H_out)
 *   bias_ih_l{k}, bias_hh_l{k}  (G*H)          unless no_bias
 *   weight_hr_l{k}  (proj_size, H)             LSTM with proj_size
 * All start uniform in [-1/sqrt(H), 1/sqrt(H)) from the library generator.
 * The two options beyond PyTorch add parameters after those:
 *   ln_weight_ih_l{k}, ln_weight_hh_l{k}  (G*H)  layer_norm, start at 1
 *   h0 (D*L, 1, H_out), c0 (D*L, 1, H)           learn_init, start at 0
 * layer_norm (LSTM and GRU) normalises each gate block of the input and of
 * the hidden projection separately over its H units, then scales by the
 * ln_weight gain and adds the usual bias:
 *   xW = LN_gates(x W_ih^T) * ln_weight_ih + b_ih
 *   hW = LN_gates(h W_hh^T) * ln_weight_hh + b_hh
 * so that the GRU's r * hW_n still multiplies a normalised, biased
 * projection (this is KANN's layer-normalised RNN; Ba et al. 2016). LN
 * uses eps TG_RNN_LN_EPS, torch.nn.LayerNorm's default.
 * learn_init gives a trained initial state shared by every sequence; an h0
 * or c0 passed to forward replaces it.
 *
 * Truncated back-propagation through time: run a long sequence in chunks
 * and carry the state across them detached, so that each backward stops at
 * the chunk boundary:
 *
 *     tg_tensor *h = NULL, *c = NULL;               // persistent carries
 *     for (each chunk) {
 *         tg_scope *s = tg_scope_begin();
 *         tg_rnn_output r;
 *         tg_lstm_forward(lstm, chunk, h, c, NULL, &r);
 *         ... loss, tg_backward, optimizer step ...
 *         tg_free(h); tg_free(c);
 *         h = tg_keep(r.h_n); c = tg_keep(r.c_n);  // copies, no grad
 *         tg_scope_end(s);
 *     }
 *     tg_free(h); tg_free(c);
 */
#ifndef TG_RNN_H
#define TG_RNN_H

#include <tapegrad/cells.h>
#include <tapegrad/params.h>
#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_RNN_LN_EPS 1e-5

/* torch's keyword arguments; a zero-initialised config gives its defaults
 * (bias on, time-major, one unidirectional layer, tanh, float32). */
typedef struct {
    int64_t input_size, hidden_size;
    int num_layers;           /* 0 means 1 */
    bool no_bias;             /* torch bias=False: no bias_ih, bias_hh */
    bool batch_first;         /* x and output are (B, T, feature) */
    double dropout;           /* on each layer's output but the last, training only */
    bool bidirectional;
    bool relu;                /* RNN only: nonlinearity='relu' instead of 'tanh' */
    int64_t proj_size;        /* LSTM only: 0 < proj_size < hidden_size, 0 for none */
    bool layer_norm;          /* LSTM and GRU: layer-normalised gate pre-activations */
    bool learn_init;          /* learnable initial states h0 (and c0) */
    tg_dtype dtype;           /* TG_F32 or TG_F64 */
} tg_rnn_config;

/* Weights of one layer and direction; unused entries are NULL. */
typedef struct {
    tg_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh, *weight_hr;
    tg_tensor *ln_weight_ih, *ln_weight_hh;
} tg_rnn_weights;

/* A multi-layer RNN, LSTM or GRU. Read its fields; change them only
 * through the functions below. */
typedef struct {
    tg_rnn_mode mode;
    tg_rnn_config config;     /* as given, num_layers at least 1 */
    int num_directions;
    int64_t out_size;         /* H_out: proj_size or hidden_size */
    bool training;            /* starts true, as a torch module */
    tg_rnn_weights *weights;  /* [layer * num_directions + direction] */
    tg_tensor *init_h, *init_c; /* learn_init's h0 and c0, else NULL */
} tg_rnn;

typedef tg_rnn tg_lstm;
typedef tg_rnn tg_gru;
typedef tg_rnn_config tg_lstm_config;
typedef tg_rnn_config tg_gru_config;

/* Results in the current scope; c_n is NULL except for LSTM. */
typedef struct {
    tg_tensor *output, *h_n, *c_n;
} tg_rnn_output;

/* New layers with persistent, initialised parameters. NULL with a message
 * for sizes < 1, dropout outside [0, 1], proj_size >= hidden_size or on a
 * non-LSTM, layer_norm on an Elman RNN, or a bad dtype. */
tg_rnn *tg_rnn_new(const tg_rnn_config *config);
tg_lstm *tg_lstm_new(const tg_lstm_config *config);
tg_gru *tg_gru_new(const tg_gru_config *config);
/* Free the layer and its parameters. NULL is ignored. */
void tg_rnn_free(tg_rnn *rnn);

/* Run the layer over x (shapes above). h0, c0 and lengths may be NULL;
 * c0 must be NULL unless the layer is an LSTM. Fills out and returns 0,
 * or returns -1 with a message naming the offending shape or length. */
int tg_rnn_forward(tg_rnn *rnn, tg_tensor *x, tg_tensor *h0, tg_tensor *c0, const int64_t *lengths,
                   tg_rnn_output *out);
static inline int tg_lstm_forward(tg_lstm *lstm, tg_tensor *x, tg_tensor *h0, tg_tensor *c0,
                                  const int64_t *lengths, tg_rnn_output *out)
{
    return tg_rnn_forward(lstm, x, h0, c0, lengths, out);
}
static inline int tg_gru_forward(tg_gru *gru, tg_tensor *x, tg_tensor *h0, const int64_t *lengths,
                                 tg_rnn_output *out)
{
    return tg_rnn_forward(gru, x, h0, NULL, lengths, out);
}

/* Training mode (dropout between layers on) or evaluation mode. */
void tg_rnn_train(tg_rnn *rnn, bool training);

/* List the parameters under prefix, names and order as above; then
 * tg_params_numel gives PyTorch's parameter count. Returns 0 or -1. */
int tg_rnn_params(tg_rnn *rnn, tg_params *out, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
