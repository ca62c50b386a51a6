/* Test helper shared by the recurrent tests: a gradcheck of a whole
 * multi-layer layer over any cell, through every output, every final state,
 * the input, the initial states and every parameter. */
#ifndef TG_TEST_RNN_CHECK_H
#define TG_TEST_RNN_CHECK_H

#include "support.h"

/* Runs the layer tg_rnn_new(cell, cfg) (cfg F64) over x (T = 5, B = 2, I)
 * with random initial states for every state of the cell, and lengths (B
 * entries, or NULL); fails the test unless tg_gradcheck passes for all of
 * them (parameters checked in groups, as gradcheck takes 16 inputs). */
void assert_rnn_gradcheck_impl(const tg_cell *cell, const tg_rnn_config *cfg, const int64_t *lengths, const char *what,
                               const char *file, int line);
/* Variadic so that lengths may be a compound literal: (cell, cfg, lengths, what). */
#define assert_rnn_gradcheck(cell, cfg, ...) assert_rnn_gradcheck_impl(cell, cfg, __VA_ARGS__, __FILE__, __LINE__)

#endif
