/* Recurrent cells as data.
 *
 * A cell is a description (tg_cell), not a case in a switch: its
 * parameters (names, shapes as functions of the layer's sizes, and how each
 * starts), its state tensors (h; h and c; or more), the projections the
 * driver computes for it, and one step written with ordinary ops. The
 * multi-layer driver (rnn.h) takes any description and gives it layers,
 * directions, batch_first, variable lengths, dropout between layers,
 * learned initial states, layer-normalised projections, torch-style
 * parameter names and counts; tg_cell_layer (rnn.h) runs one step of it,
 * as torch.nn.LSTMCell does. RNN (tanh, relu), LSTM and GRU below are four
 * descriptions; variants.h holds a dozen more, each one place in the code.
 *
 * Why this shape:
 * - Static data, not callbacks, for everything the driver must know before
 *   the first step (names, shapes, initialisation, states): a description
 *   is a `static const` initialiser the constructor checks in full, so a
 *   wrong shape or an unknown name is reported when the layer is made, with
 *   the cell's and the field's names, not as a crash in the middle of a
 *   batch. Shapes are linear in the sizes (tg_cell_size), which covers every
 *   recurrent cell in the literature and can be checked.
 * - Projections are declared rather than computed in the step, because the
 *   speed of a recurrent layer is decided there: an input projection
 *   (x W^T + b) runs for all time steps in one matmul before the loop, or
 *   for batches of at most 64 rows in each step together with the state
 *   projections declared `summed`, which the matmuls add into it (the
 *   biases summed once), so the LSTM's x W_ih^T + b_ih + h W_hh^T + b_hh
 *   is one node per step with no separate add (rnn.h). A user's
 *   cell that declares the same projections runs the same code as the
 *   built-ins, at the same speed. Declared projections are also what
 *   layer_norm normalises.
 * - The step is plain ops on tensors (B, width): back-propagation through
 *   time comes from the tape, so no cell has a backward. It reads its
 *   inputs, states and parameters from one argument struct (tg_cell_args)
 *   by index, so a step costs no name look-ups, and the struct can grow
 *   without breaking steps already written.
 * - Parameters are listed in declaration order with torch's suffixes
 *   (weight_ih -> weight_ih_l0, weight_ih_l1_reverse), so a description
 *   that declares torch's names in torch's order (the built-ins do) gives
 *   torch's state_dict.
 *
 * The built-in formulas, gate order, parameter layout and initialisation
 * are torch.nn's (RNN, LSTM, GRU). With xW = x W_ih^T + b_ih and
 * hW = h W_hh^T + b_hh, each of G gate blocks of H columns:
 *
 *   RNN   h' = tanh(xW + hW)  (or relu)                               G = 1
 *   LSTM  [i f g o] = xW + hW;  i, f, o sigmoid, g tanh               G = 4
 *         c' = f * c + i * g;   h' = o * tanh(c')   (then h' W_hr^T with proj_size)
 *   GRU   [r z n] blocks of xW and hW;                                G = 3
 *         r = sigmoid(xW_r + hW_r),  z = sigmoid(xW_z + hW_z)
 *         n = tanh(xW_n + r * hW_n)        hW_n = h W_hn^T + b_hn
 *         h' = (1 - z) * n + z * h
 *
 * The GRU convention is PyTorch's (and cuDNN's), which differs from the
 * textbook forms in two places. The reset gate multiplies the hidden
 * projection after the matmul, r * (W_hn h + b_hn), where Cho et al. (2014)
 * apply it before, W_hn (r * h) (tg_cell_gru_cho in variants.h runs that
 * form). And z weighs the old state, h' = (1 - z) * n + z * h, as in Cho et
 * al., where Chung et al. (2014) and many texts write
 * h' = (1 - z) * h + z * n, swapping the roles of z and 1 - z. Weights
 * trained here load into torch.nn.GRU unchanged.
 *
 * Every built-in weight and bias starts uniform in [-1/sqrt(H), 1/sqrt(H))
 * from the library generator (tg_manual_seed), as PyTorch's
 * reset_parameters.
 *
 * Changed in 0.2: cells were a closed enum (tg_rnn_mode) with one gate
 * function per mode and a one-step module made per mode. They are now
 * descriptions; the one-step module is tg_cell_layer_new(&tg_cell_lstm, ...). */
#ifndef TG_CELLS_H
#define TG_CELLS_H

#include <tapegrad/params.h>
#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_CELL_MAX_PARAMS 16
#define TG_CELL_MAX_STATES 4
#define TG_CELL_MAX_PROJ 4
#define TG_CELL_MAX_DIMS 4
/* Longest parameter or state name: room for torch's "_l{k}_reverse". */
#define TG_CELL_NAME_MAX 48

/* A size as a function of the layer's sizes: i*I + h*H + o*O + k, where I
 * is the layer's input size (input_size for the first layer, D*O for the
 * others), H the hidden size and O the output size (proj_size when set,
 * else H). {.h = 4} is 4H; {.i = 1} is I. */
typedef struct {
    int i, h, o;
    int64_t k;
} tg_cell_size;

/* How a parameter starts, from the library generator. The zero value is
 * torch's recurrent default. */
typedef enum {
    TG_INIT_RECURRENT = 0, /* uniform in [-1/sqrt(H), 1/sqrt(H)) */
    TG_INIT_UNIFORM,       /* uniform in [a, b) */
    TG_INIT_NORMAL,        /* normal, mean a, standard deviation b */
    TG_INIT_CONSTANT,      /* every element a */
} tg_init_kind;

typedef struct {
    tg_init_kind kind;
    double a, b;
} tg_cell_init;

typedef struct {
    const char *name;                        /* torch's stem: "weight_ih" lists as weight_ih_l0 */
    tg_cell_size shape[TG_CELL_MAX_DIMS];    /* the dims up to the first zero entry */
    tg_cell_init init;
    bool bias;                               /* left out when the layer has no bias (no_bias) */
    bool proj;                               /* only when the layer has proj_size (LSTM's weight_hr) */
} tg_cell_param;

typedef struct {
    const char *name;                        /* "h", "c": learned initial states list as h0, c0 */
    tg_cell_size size;                       /* its width, (B, size) in a step: of H and O only */
} tg_cell_state;

/* Where a projection reads from. */
#define TG_FROM_INPUT 0
#define TG_FROM_STATE(k) ((k) + 1)

/* A projection src W^T + b that the driver computes for the step, with W
 * of shape (rows, width of src) and b (rows). Projections of the input run
 * for every time step at once before the loop, or (batches of at most 64
 * rows) in each step; projections of a state run each step. A state projection marked summed is not handed to the step
 * on its own: it is added into projection 0 (which must be an input
 * projection with as many rows) by the step's matmul. With layer_norm each
 * projection becomes LN_blocks(src W^T) * gain + b, normalising each of
 * its `blocks` blocks of rows / blocks units on its own. */
typedef struct {
    const char *weight, *bias;               /* parameter names; bias may be NULL */
    int from;                                /* TG_FROM_INPUT or TG_FROM_STATE(k) */
    int blocks;                              /* gate blocks for layer_norm; 0 means 1 */
    bool summed;
} tg_cell_proj;

/* What a step receives. B is the batch. */
typedef struct {
    tg_tensor *x;                /* (B, I): the step's input when the cell declares no input projection, else NULL */
    tg_tensor *const *proj;      /* [n_proj] (B, rows): this step's projections; NULL for summed ones */
    tg_tensor *const *state;     /* [n_states] (B, size): the states after the previous step */
    tg_tensor *const *w;         /* [n_params] the layer's parameters in declaration order; NULL when left out */
    tg_tensor **next;            /* [n_states]: the step stores the new states here */
    int64_t hidden_size;         /* H */
    const void *data;            /* the description's data */
} tg_cell_args;

/* One time step: store every new state in a->next (each (B, size), the
 * inputs' dtype) and return the step's output (B, O), which is what the
 * layer outputs and the next layer reads; usually next[0]. Return NULL if
 * an op failed (its message stands). The tensors a step makes and does not
 * return as its output or a state are its own: when it returns, the driver
 * hands the memory of those that no backward reads to the next step's
 * tensors (ops say what their backward reads), so a step must not keep
 * them for later. */
typedef tg_tensor *(*tg_cell_step_fn)(const tg_cell_args *a);

/* A cell. Each array ends at its first entry with a NULL name (weight for
 * proj), or at its capacity. */
typedef struct {
    const char *name;                        /* "LSTM": names the cell in messages and tables */
    tg_cell_param params[TG_CELL_MAX_PARAMS];
    tg_cell_state states[TG_CELL_MAX_STATES]; /* at least one */
    tg_cell_proj proj[TG_CELL_MAX_PROJ];
    tg_cell_step_fn step;
    const void *data;                        /* handed to every step (constants, options) */
} tg_cell;

/* torch's four recurrent parameters for G gate blocks, in its order, for a
 * description's params: weight_ih (G*H, I), weight_hh (G*H, O), bias_ih
 * (G*H), bias_hh (G*H), all TG_INIT_RECURRENT. */
#define TG_CELL_TORCH_PARAMS(G)                                                                 \
    {"weight_ih", {{.h = G}, {.i = 1}}}, {"weight_hh", {{.h = G}, {.o = 1}}},                   \
    {"bias_ih", {{.h = G}}, .bias = true}, {"bias_hh", {{.h = G}}, .bias = true}
/* torch's two projections of them, for a description's proj: x W_ih^T +
 * b_ih of the input, and h W_hh^T + b_hh of state 0,
 * either summed into it (SUMMED true: proj[0] holds both) or handed apart
 * as proj[1]. */
#define TG_CELL_TORCH_PROJ(G, SUMMED)                                                           \
    {"weight_ih", "bias_ih", TG_FROM_INPUT, G}, {"weight_hh", "bias_hh", TG_FROM_STATE(0), G, .summed = SUMMED}

/* The built-ins, torch.nn's RNN (tanh and relu), LSTM (with proj_size) and
 * GRU. States: h; LSTM h and c. */
extern const tg_cell tg_cell_rnn_tanh, tg_cell_rnn_relu, tg_cell_lstm, tg_cell_gru;

/* How many params, states and projections the description declares
 * (counting up to the first NULL name). */
int tg_cell_count_params(const tg_cell *cell);
int tg_cell_count_states(const tg_cell *cell);
int tg_cell_count_proj(const tg_cell *cell);

#ifdef __cplusplus
}
#endif

#endif
