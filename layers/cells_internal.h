/* Internal: what the driver needs to know about a description, shared by
 * cells.c (which checks descriptions) and rnn.c (which runs them). */
#ifndef TG_CELLS_INTERNAL_H
#define TG_CELLS_INTERNAL_H

#include <tapegrad/cells.h>

/* The sizes a layer's parameters are functions of (tg_cell_size): I, H, O. */
typedef struct {
    int64_t in, hidden, out;
} tg__layer_sizes;

/* i*I + h*H + o*O + k, or -1 if it overflows. */
int64_t tg__cell_size(tg_cell_size s, tg__layer_sizes z);
/* The number of dims of a parameter: its shape entries up to the first zero. */
int tg__cell_param_ndim(const tg_cell_param *p);
/* The index of the parameter named name among the first n_params, or -1. */
int tg__cell_find_param(const tg_cell *cell, int n_params, const char *name);

/* Everything that does not depend on the sizes: the name, the step, names
 * and counts, initialisations, what each projection refers to. False with a
 * message naming fn, the cell and the field. */
bool tg__cell_check(const char *fn, const tg_cell *cell);
/* The shapes at one layer's sizes: every dim and state size positive, and
 * each projection's weight (rows, width of its source) with a bias (rows).
 * Parameters marked proj are checked only when with_proj. */
bool tg__cell_check_sizes(const char *fn, const tg_cell *cell, tg__layer_sizes z, int layer, bool with_proj);

/* The gate math of torch's LSTM step (cells.c) on proj[0] and state 1 (c):
 * sets a->next[1] = c' and returns sigmoid(o) tanh(c') (before any
 * projection), or NULL. The NP variant (variants.c) is this cell under
 * Greff et al.'s name and shares it. */
tg_tensor *tg__lstm_gates(const tg_cell_args *a);

#endif
