/* Recurrent cells: one time step of an Elman RNN, an LSTM or a GRU, built
 * only from ops, so back-propagation through time comes from the tape and
 * no cell has a hand-written backward. Users can call a cell in their own
 * loop; the multi-layer drivers in rnn.h run the same gate functions.
 *
 * Formulas, gate order, parameter layout and initialisation are torch.nn's
 * (RNNCell, LSTMCell, GRUCell). With xW = x W_ih^T + b_ih and
 * hW = h W_hh^T + b_hh, each of G gate blocks of H columns:
 *
 *   RNN   h' = tanh(xW + hW)  (or relu)                               G = 1
 *   LSTM  [i f g o] = xW + hW;  i, f, o sigmoid, g tanh               G = 4
 *         c' = f * c + i * g;   h' = o * tanh(c')
 *   GRU   [r z n] blocks of xW and hW;                                G = 3
 *         r = sigmoid(xW_r + hW_r),  z = sigmoid(xW_z + hW_z)
 *         n = tanh(xW_n + r * hW_n)        hW_n = h W_hn^T + b_hn
 *         h' = (1 - z) * n + z * h
 *
 * The GRU convention is PyTorch's (and cuDNN's), which differs from the
 * textbook forms in two places. The reset gate multiplies the hidden
 * projection after the matmul, r * (W_hn h + b_hn), where Cho et al. (2014)
 * apply it before, W_hn (r * h). And z weighs the old state,
 * h' = (1 - z) * n + z * h, where Chung et al. (2014) and many texts write
 * h' = (1 - z) * h + z * n, swapping the roles of z and 1 - z. Weights
 * trained here load into torch.nn.GRU unchanged.
 *
 * Every weight and bias starts uniform in [-1/sqrt(H), 1/sqrt(H)) from the
 * library generator (tg_manual_seed), as PyTorch's reset_parameters. */
#ifndef TG_CELLS_H
#define TG_CELLS_H

#include <tapegrad/params.h>
#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The recurrence, as torch's RNNBase mode. */
typedef enum { TG_RNN_TANH = 0, TG_RNN_RELU, TG_LSTM, TG_GRU } tg_rnn_mode;

/* Number of gate blocks G: 1, 1, 4 or 3. */
int tg_rnn_mode_gates(tg_rnn_mode mode);

/* --- step functions: one time step given both projections -----------------
 * xproj and hproj are (..., G*H): x W_ih^T + b_ih and h W_hh^T + b_hh,
 * computed by the caller (the drivers compute xproj for all time steps in
 * one matmul). h and c are (..., H). NULL with a message on bad shapes. */

/* For the Elman and LSTM steps hproj may be NULL when xproj already holds
 * the sum of both projections (the drivers compute it as one tg_linear with
 * xproj as the added term). */

/* Elman step: act(xproj + hproj), act tanh or relu per mode (TG_RNN_TANH
 * or TG_RNN_RELU; any other mode is an error). */
tg_tensor *tg_rnn_step(tg_tensor *xproj, tg_tensor *hproj, tg_rnn_mode mode);
/* LSTM step: returns h' = o * tanh(c') and writes c' = f * c + i * g to *c_out. */
tg_tensor *tg_lstm_step(tg_tensor *xproj, tg_tensor *hproj, tg_tensor *c, tg_tensor **c_out);
/* GRU step (PyTorch convention above): returns h'. */
tg_tensor *tg_gru_step(tg_tensor *xproj, tg_tensor *hproj, tg_tensor *h);

/* --- cells: torch.nn.RNNCell, LSTMCell, GRUCell ---------------------------- */

typedef struct {
    tg_rnn_mode mode;
    int64_t input_size, hidden_size;
    tg_tensor *weight_ih;          /* (G*H, I) */
    tg_tensor *weight_hh;          /* (G*H, H) */
    tg_tensor *bias_ih, *bias_hh;  /* (G*H), or NULL without bias */
} tg_cell;

/* A cell of the given mode with persistent parameters of dtype (TG_F32 or
 * TG_F64). NULL with a message for sizes < 1 or a bad dtype. */
tg_cell *tg_cell_new(tg_rnn_mode mode, int64_t input_size, int64_t hidden_size, bool bias, tg_dtype dtype);
/* Free the cell and its parameters. NULL is ignored. */
void tg_cell_free(tg_cell *cell);

/* One step. x is (B, I) or unbatched (I); h and c are (B, H) (or (H)) or
 * NULL for zeros; c is only for LSTM (NULL otherwise). Returns h' (B, H)
 * and, for LSTM, writes c' to *c_out. NULL with a message on bad shapes. */
tg_tensor *tg_cell_forward(tg_cell *cell, tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor **c_out);

/* List weight_ih, weight_hh, bias_ih, bias_hh under prefix (torch names). */
int tg_cell_params(tg_cell *cell, tg_params *out, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
