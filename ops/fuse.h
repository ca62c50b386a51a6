/* A chain of elementwise ops run as one op. A recurrent cell's gate math
 * (sigmoids, tanhs, products and sums of (B, H) blocks) written with the
 * separate ops makes one pass over memory, one tensor and one backward node
 * per op: on small models that is most of a training step. Written as a
 * fused expression it runs as one op that goes through the elements in
 * pieces that stay in L1 cache, evaluates the whole chain on each piece,
 * and writes only the results. Its backward recomputes the chain on each
 * piece and differentiates it by the rule of each op in turn (reverse mode
 * over the expression), so a cell written this way is still a composition
 * of ops with no hand-written gradient. For the backward it keeps its
 * activations (sigmoid, tanh) and the inputs the gradients read; of an
 * input made by another op and read only in some of its blocks, it keeps
 * copies of those blocks instead of the whole input.
 *
 * An expression works on blocks of `width` columns: an input is a (R, C)
 * or (1, C) tensor (or a (C) vector, as a row) and a value is one of its
 * blocks of columns, [block * width, (block + 1) * width); every value has
 * the shape (R, width), rows broadcasting as in PyTorch. The LSTM cell:
 *
 *     tg_fuse f;
 *     tg_fuse_begin(&f, H);                      // gates is (B, 4H), c is (B, H)
 *     int i = tg_fuse_sigmoid(&f, tg_fuse_input(&f, gates, 0));
 *     int g = tg_fuse_tanh(&f, tg_fuse_input(&f, gates, 2));
 *     ...
 *     int c2 = tg_fuse_add(&f, tg_fuse_mul(&f, fg, tg_fuse_input(&f, c, 0)), tg_fuse_mul(&f, i, g));
 *     int h2 = tg_fuse_mul(&f, o, tg_fuse_tanh(&f, c2));
 *     tg_tensor *out[2];
 *     tg_fuse_run(&f, 2, (int[]){h2, c2}, out);  // out[0] = h', out[1] = c'
 *
 * Each op computes what the op of the same name computes (tg_sigmoid,
 * tg_lerp, ...), with the same formula in the input's dtype, and its
 * gradient is that op's. Builder calls return the new value's index, or -1
 * once anything failed (the first failure leaves its message, later calls
 * pass -1 on without one), so an expression is written without checks and
 * tg_fuse_run reports. The tg_fuse lives on the caller's stack; nothing in
 * it needs freeing. */
#ifndef TG_FUSE_H
#define TG_FUSE_H

#include <stdint.h>

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_FUSE_MAX_INPUTS 8   /* distinct tensors */
#define TG_FUSE_MAX_VALUES 32  /* inputs' blocks and results of ops */
#define TG_FUSE_MAX_OUTPUTS 4

typedef enum {
    TG_FUSE_LOAD,      /* a block of an input */
    TG_FUSE_ADD,       /* a + b */
    TG_FUSE_SUB,       /* a - b */
    TG_FUSE_MUL,       /* a * b */
    TG_FUSE_SIGMOID,   /* 1 / (1 + e^-a) */
    TG_FUSE_TANH,      /* tanh(a) */
    TG_FUSE_RELU,      /* max(a, 0) */
    TG_FUSE_ONE_MINUS, /* 1 - a */
    TG_FUSE_LERP,      /* a + c (b - a), as tg_lerp(a, b, c) */
} tg_fuse_op;

typedef struct {
    uint8_t op;        /* tg_fuse_op */
    int8_t a, b, c;    /* operands: indices of earlier values, -1 if unused */
    int8_t input;      /* TG_FUSE_LOAD: which input */
    int32_t block;     /* TG_FUSE_LOAD: which block of its columns */
} tg_fuse_value;

typedef struct {
    int64_t width;     /* columns of every value */
    int64_t rows;      /* R: the rows of the inputs that do not broadcast (1 so far if none) */
    int n_inputs, n_values;
    bool failed;
    tg_tensor *inputs[TG_FUSE_MAX_INPUTS];
    tg_fuse_value values[TG_FUSE_MAX_VALUES];
} tg_fuse;

/* Start an expression whose values have `width` columns (width >= 1; a
 * width below 1 makes the expression fail with a message). */
void tg_fuse_begin(tg_fuse *f, int64_t width);

/* Columns [block * width, (block + 1) * width) of x as a value. x is (R, C),
 * (1, C) or (C) of a float dtype, the same dtype and R as the other
 * inputs'; any strides. Handing the same tensor again reuses its input
 * slot (and its gradient). */
int tg_fuse_input(tg_fuse *f, tg_tensor *x, int64_t block);

int tg_fuse_add(tg_fuse *f, int a, int b);              /* a + b */
int tg_fuse_sub(tg_fuse *f, int a, int b);              /* a - b */
int tg_fuse_mul(tg_fuse *f, int a, int b);              /* a * b */
int tg_fuse_sigmoid(tg_fuse *f, int a);                 /* tg_sigmoid */
int tg_fuse_tanh(tg_fuse *f, int a);                    /* tg_tanh */
int tg_fuse_relu(tg_fuse *f, int a);                    /* tg_relu */
int tg_fuse_one_minus(tg_fuse *f, int a);               /* 1 - a, tg_rsub_scalar(a, 1) */
int tg_fuse_lerp(tg_fuse *f, int start, int end, int weight); /* tg_lerp */

/* Evaluate the expression and return its n (1 to TG_FUSE_MAX_OUTPUTS)
 * values in out[0..n): contiguous (R, width) tensors, differentiable with
 * respect to every input that requires grad. They are the planes of one
 * new (n, R, width) tensor, each with a node of its own (out[0] is that
 * tensor, (R, width), when n is 1). Called outside any scope with nothing
 * to record, they are n persistent tensors, each freed with tg_free.
 * Returns 0, or -1 with a message naming the builder call that failed, a
 * bad value index or count, fields set by hand that the builder would not
 * have made (an unknown op, an operand that is not an earlier value, a
 * load outside its input), or out of memory; out is then all NULL. */
int tg_fuse_run(tg_fuse *f, int n, const int *values, tg_tensor **out);

#ifdef __cplusplus
}
#endif

#endif
