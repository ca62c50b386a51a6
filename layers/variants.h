/* A library of recurrent cells beyond torch.nn's, each a description
 * (cells.h) that the driver (rnn.h) runs with every option: layers,
 * directions, variable lengths, dropout, learned initial states, layer
 * norm. variants.c writes each one in one place, its paper's formula above
 * its step.
 *
 * The LSTM family of Greff et al., "LSTM: A Search Space Odyssey" (IEEE
 * TNNLS 2017), in their notation: z the block input (torch's g), i, f, o
 * the gates, c the cell, y the output (torch's h), p peephole weights
 * (vectors), W x + R y + b the projections. Their vanilla LSTM "V" is the
 * peephole LSTM of Gers & Schmidhuber (2000); each variant changes one
 * thing about it:
 *   tg_cell_lstm_peephole  V: i, f see c_{t-1} and o sees c_t through p_i, p_f, p_o
 *   tg_cell_lstm_nig       no input gate (i = 1)
 *   tg_cell_lstm_nfg       no forget gate (f = 1)
 *   tg_cell_lstm_nog       no output gate (o = 1)
 *   tg_cell_lstm_niaf      no input activation (z = W_z x + R_z y + b_z, no tanh)
 *   tg_cell_lstm_noaf      no output activation (y = o * c)
 *   tg_cell_lstm_np        no peepholes: exactly torch's LSTM (tg_cell_lstm)
 *   tg_cell_lstm_cifg      coupled input and forget gate (f = 1 - i)
 *   tg_cell_lstm_fgr       full gate recurrence: i, f, o also read i, f, o
 *                          of the previous step (nine more H x H matrices)
 * Parameters follow torch's LSTM: weight_ih (G*H, I), weight_hh (G*H, H),
 * bias_ih, bias_hh (G*H), with G the gate blocks the variant keeps, in
 * torch's order i, f, z(g), o; then "peephole" (P*H), the peepholes of the
 * gates it keeps in the order i, f, o; FGR adds "weight_gates" (3H, 3H) and
 * a third state "gates" (3H) holding the previous step's [i f o]. All start
 * as torch's (uniform in +-1/sqrt(H)). States h and c (and gates); no
 * proj_size.
 *
 * The GRU and two smaller cells:
 *   tg_cell_gru_cho   the GRU as Cho et al. (2014) wrote it, the reset gate
 *                     applied to h before the matmul: n = tanh(W_n x + b_in
 *                     + W_hn (r * h) + b_hn), where torch's (tg_cell_gru)
 *                     applies it after, r * (W_hn h + b_hn). torch's GRU
 *                     parameters, so one set of weights runs in both.
 *   tg_cell_mgu       the minimal gated unit (Zhou et al. 2016): one gate f
 *                     for both reset and update; weight_ih, weight_hh
 *                     (2H, .), bias_ih, bias_hh (2H), blocks [f n].
 *   tg_cell_indrnn    IndRNN (Li et al. 2018): h' = relu(W x + u * h + b),
 *                     each unit its own recurrence; weight_ih (H, I),
 *                     weight_hh (H) (the vector u, uniform in [0, 1)),
 *                     bias_ih (H).
 * All three have the one state h. */
#ifndef TG_VARIANTS_H
#define TG_VARIANTS_H

#include <tapegrad/cells.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const tg_cell tg_cell_lstm_peephole, tg_cell_lstm_nig, tg_cell_lstm_nfg, tg_cell_lstm_nog, tg_cell_lstm_niaf,
    tg_cell_lstm_noaf, tg_cell_lstm_np, tg_cell_lstm_cifg, tg_cell_lstm_fgr;
extern const tg_cell tg_cell_gru_cho, tg_cell_mgu, tg_cell_indrnn;

#ifdef __cplusplus
}
#endif

#endif
