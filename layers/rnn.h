/* Multi-layer recurrent layers over any cell: torch.nn.RNN, LSTM and GRU,
 * and every cell description (cells.h, variants.h, or a user's own).
 *
 * One driver runs every cell: it makes the cell's parameters for each
 * layer and direction, computes the cell's input projections (for all time
 * steps in one linear over (T*B, I) before the loop, sliced per step with
 * views; for batches of at most 64 rows in each step, in one node with the
 * state projections summed into them: rnn.c says why), and loops over
 * time calling the cell's step. Nothing in it
 * knows which cell it runs. Back-propagation through time comes from the
 * tape: the driver loops over time calling ops, nothing more.
 *
 * Shapes (D = 2 if bidirectional else 1, L = num_layers, O = proj_size if
 * set else hidden_size; the built-ins' h has size O, the LSTM's c size H),
 * as PyTorch:
 *   x        (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I)
 *   init[k]  (D*L, B, size_k) for state k; (D*L, size_k) unbatched; NULL for zeros
 *   output   (T, B, D*O), or (B, T, D*O) with batch_first
 *   state_n  (D*L, B, size_k) for state k, layer-major, forward before reverse
 * For example an LSTM(10, 20, num_layers=2, batch_first) on x (32,15,10)
 * gives output (32,15,20) and h_n, c_n (2,32,20); a bidirectional one-layer
 * LSTM(10, 20) gives output (32,15,40) and h_n (2,32,20).
 *
 * Variable-length batches: lengths holds B entries in 1..T, in any order
 * (PyTorch's pack_padded_sequence with enforce_sorted=False). Outputs past
 * a sequence's end are zero; every final state holds the sequence's state
 * at its last valid step; the reverse direction starts at each sequence's
 * own last step. The padded steps are masked, not skipped; they read
 * zeros in place of the padding, so whatever it holds (NaN, inf) reaches
 * neither the results nor the gradients, whose input gradient is zero
 * there.
 *
 * Parameters, for layer k and suffix "" or "_reverse", are the cell's in
 * its declaration order, each named name_l{k}{suffix}; for the built-ins
 * that is PyTorch's order and state_dict names (G gates: 1 RNN, 4 LSTM,
 * 3 GRU):
 *   weight_ih_l{k}  (G*H, I for k = 0 else D*O)
 *   weight_hh_l{k}  (G*H, O)
 *   bias_ih_l{k}, bias_hh_l{k}  (G*H)          unless no_bias
 *   weight_hr_l{k}  (proj_size, H)             LSTM with proj_size
 * All start uniform in [-1/sqrt(H), 1/sqrt(H)) from the library generator.
 * The two options beyond PyTorch add parameters after those:
 *   ln_{weight}_l{k}   (rows)       layer_norm, one per projection, start at 1:
 *                                   ln_weight_ih_l{k}, ln_weight_hh_l{k} for the built-ins
 *   {state}0  (D*L, 1, size)        learn_init, after every layer, start at 0: h0, c0
 * layer_norm normalises each gate block of each projection the cell declares
 * separately over its units, then scales by the ln gain and adds the
 * projection's bias:
 *   xW = LN_gates(x W_ih^T) * ln_weight_ih + b_ih
 *   hW = LN_gates(h W_hh^T) * ln_weight_hh + b_hh
 * so that the GRU's r * hW_n still multiplies a normalised, biased
 * projection (this is KANN's layer-normalised RNN; Ba et al. 2016). LN
 * uses eps TG_RNN_LN_EPS, torch.nn.LayerNorm's default.
 * learn_init gives a trained initial state shared by every sequence; an
 * initial state passed to forward replaces it.
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
 *
 * Changed in 0.2: tg_rnn_new takes the cell (tg_rnn_new(&tg_cell_rnn_relu,
 * &config) replaces config.relu); tg_rnn_forward takes the initial states
 * as an array (n_init, init) for any number of states, and tg_rnn_output
 * holds every final state (state_n; h_n and c_n name the first two);
 * layer_norm works for every cell with projections, the Elman RNN too;
 * the layer's weights are an array in the cell's declaration order. */
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
 * (bias on, time-major, one unidirectional layer, float32). */
typedef struct {
    int64_t input_size, hidden_size;
    int num_layers;           /* 0 means 1 */
    bool no_bias;             /* torch bias=False: no bias parameters */
    bool batch_first;         /* x and output are (B, T, feature) */
    double dropout;           /* on each layer's output but the last, training only */
    bool bidirectional;
    int64_t proj_size;        /* 0 < proj_size < hidden_size for cells with a proj parameter (LSTM); 0 for none */
    bool layer_norm;          /* layer-normalised projections */
    bool learn_init;          /* learnable initial states (h0, c0, ...) */
    tg_dtype dtype;           /* TG_F32 or TG_F64 */
} tg_rnn_config;

/* A multi-layer recurrent layer over one cell. Read its fields; change them
 * only through the functions below. */
typedef struct tg_rnn {
    const tg_cell *cell;
    tg_rnn_config config;     /* as given, num_layers at least 1 */
    int num_directions;
    int n_params, n_states, n_proj; /* the cell's counts */
    int64_t out_size;         /* O: proj_size or hidden_size */
    int64_t state_size[TG_CELL_MAX_STATES]; /* each state's width */
    bool training;            /* starts true, as a torch module */
    /* [(layer * num_directions + direction) * n_params + k]: parameter k of
     * the cell, NULL when left out (no bias, no proj_size) */
    tg_tensor **weights;
    /* [(layer * num_directions + direction) * n_proj + j]: layer_norm's gain
     * for projection j; NULL without layer_norm */
    tg_tensor **ln_gains;
    tg_tensor *init[TG_CELL_MAX_STATES]; /* learn_init's initial states, else NULL */
} tg_rnn;

typedef tg_rnn tg_lstm;
typedef tg_rnn tg_gru;
typedef tg_rnn_config tg_lstm_config;
typedef tg_rnn_config tg_gru_config;

/* Results in the current scope. state_n[k] is state k at each sequence's
 * last step, h_n and c_n the same tensors as state_n[0] and state_n[1]
 * (c_n NULL for a one-state cell). */
typedef struct {
    tg_tensor *output, *h_n, *c_n;
    tg_tensor *state_n[TG_CELL_MAX_STATES];
} tg_rnn_output;

/* A new layer over cell with persistent, initialised parameters; the layer
 * keeps a pointer to the description, which must outlive it (a static const
 * description does). NULL with
 * a message for a bad description (naming the cell and the field: a NULL
 * step, no states, an unknown or repeated name, parameter shapes that do
 * not fit the projections), sizes < 1, dropout outside [0, 1], proj_size
 * >= hidden_size or for a cell without a proj parameter, layer_norm for a
 * cell without projections or with two projections by one weight (their
 * gains would share a name), or a bad dtype. */
tg_rnn *tg_rnn_new(const tg_cell *cell, const tg_rnn_config *config);
/* The built-ins: tg_rnn_new(&tg_cell_lstm, config), tg_rnn_new(&tg_cell_gru, config). */
tg_lstm *tg_lstm_new(const tg_lstm_config *config);
tg_gru *tg_gru_new(const tg_gru_config *config);
/* Free the layer and its parameters. NULL is ignored. */
void tg_rnn_free(tg_rnn *rnn);

/* Run the layer over x (shapes above). init holds n_init (0 to n_states)
 * initial states in the cell's order, any of them NULL (init itself may be
 * NULL when n_init is 0): missing ones are the learned ones with
 * learn_init, else zeros. lengths may be NULL. Fills out and returns 0, or
 * returns -1 with a message naming the offending shape or length; a step
 * that returns a state of the wrong shape or dtype is reported with the
 * cell, the time step, the layer and the shapes. */
int tg_rnn_forward(tg_rnn *rnn, tg_tensor *x, int n_init, tg_tensor *const *init, const int64_t *lengths,
                   tg_rnn_output *out);
static inline int tg_lstm_forward(tg_lstm *lstm, tg_tensor *x, tg_tensor *h0, tg_tensor *c0,
                                  const int64_t *lengths, tg_rnn_output *out)
{
    tg_tensor *init[2] = {h0, c0};
    return tg_rnn_forward(lstm, x, c0 ? 2 : 1, init, lengths, out);
}
static inline int tg_gru_forward(tg_gru *gru, tg_tensor *x, tg_tensor *h0, const int64_t *lengths,
                                 tg_rnn_output *out)
{
    return tg_rnn_forward(gru, x, 1, &h0, lengths, out);
}

/* Training mode (dropout between layers on) or evaluation mode. */
void tg_rnn_train(tg_rnn *rnn, bool training);

/* List the parameters under prefix, names and order as above; then
 * tg_params_numel gives PyTorch's parameter count. Returns 0 or -1. */
int tg_rnn_params(tg_rnn *rnn, tg_params *out, const char *prefix);

/* --- one step as a module: torch.nn.RNNCell, LSTMCell, GRUCell -------------- */

/* The cell's parameters made as the first layer of a tg_rnn makes them (no
 * proj_size, no layer norm), run one step at a time. */
typedef struct {
    const tg_cell *cell;
    int64_t input_size, hidden_size;
    tg_rnn *rnn;                  /* one layer: the parameters and the step */
} tg_cell_layer;

/* NULL with a message for a bad description (as tg_rnn_new), sizes < 1 or
 * a bad dtype (TG_F32 or TG_F64). */
tg_cell_layer *tg_cell_layer_new(const tg_cell *cell, int64_t input_size, int64_t hidden_size, bool bias,
                                 tg_dtype dtype);
/* Free the layer and its parameters. NULL is ignored. */
void tg_cell_layer_free(tg_cell_layer *layer);

/* One step. x is (B, I) or unbatched (I); states holds n (0 to n_states)
 * states, each (B, size) (or (size)) or NULL for zeros. Returns the output
 * (B, O) and stores the n_states new states in next (next may be NULL for a
 * one-state cell, whose output is its new state). NULL with a message on
 * bad shapes. */
tg_tensor *tg_cell_layer_forward(tg_cell_layer *layer, tg_tensor *x, int n, tg_tensor *const *states, tg_tensor **next);

/* The parameter named name (the description's names: weight_ih, ...), or
 * NULL (no message) when it is left out or unknown. */
tg_tensor *tg_cell_layer_param(const tg_cell_layer *layer, const char *name);

/* List the parameters under prefix with the description's names
 * (weight_ih, weight_hh, bias_ih, bias_hh for the built-ins, as torch's
 * cells). Returns 0 or -1. */
int tg_cell_layer_params(tg_cell_layer *layer, tg_params *out, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
