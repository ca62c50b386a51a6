/* Your own elementwise op, without loops: give the value and the partial
 * derivatives of one element, as functions, and tg_map makes a
 * differentiable op of them that works like the built-in ones:
 *
 *     y = x * sigmoid(beta x)          dy/dx = s + beta x s (1 - s),  s = sigmoid(beta x)
 *
 *     static double swish_value(const double *x, const double *beta)
 *     {
 *         return x[0] / (1 + exp(-beta[0] * x[0]));
 *     }
 *     static double swish_grad(int k, const double *x, const double *beta)
 *     {
 *         double s = 1 / (1 + exp(-beta[0] * x[0]));
 *         (void)k;                                       // always 0: one input
 *         return s + beta[0] * x[0] * s * (1 - s);
 *     }
 *     static const tg_map_op swish_op = {"swish", 1, swish_value, swish_grad, NULL, NULL};
 *
 *     tg_tensor *y = tg_map(&swish_op, 1, &x, 1, &beta);
 *
 * The inputs (1 to 3, of one float dtype) broadcast as in PyTorch and may
 * have any strides; the result is a new contiguous tensor of the broadcast
 * shape. Large tensors are split across OpenMP threads in fixed pieces, as
 * every elementwise op is, so results do not depend on the thread count;
 * the functions run on several threads at once and must not write shared
 * state. Backward multiplies the incoming gradient by each partial
 * derivative, element by element, and sums it down to each input's shape.
 * float32 tensors run through the float functions when given, else through
 * the double ones (each element converted to double and back).
 *
 * For an op that is not elementwise (a reduction, a sort), compute the
 * result with any code and tg_record a node whose backward calls
 * tg_accum_grad for each input (autograd.h; docs/add-an-op.md). */
#ifndef TG_CUSTOM_H
#define TG_CUSTOM_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many inputs and scalar arguments. */
#define TG_MAP_MAX_INPUTS 3
#define TG_MAP_MAX_ARGS 4

/* x holds one element of each input, args the op's scalar arguments. */
typedef struct {
    const char *name;                                               /* the node's name and messages' */
    int n_inputs;                                                   /* 1 to 3 */
    double (*value)(const double *x, const double *args);           /* y */
    double (*grad)(int k, const double *x, const double *args);     /* dy/dx_k, k < n_inputs */
    float (*value_f32)(const float *x, const double *args);         /* optional */
    float (*grad_f32)(int k, const float *x, const double *args);   /* optional */
} tg_map_op;

/* y = op(inputs) element by element, with n == op->n_inputs inputs and
 * n_args (0 to 4) scalar arguments, which the op's backward keeps, as it
 * keeps a copy of *op (which may be a local variable; its name string must
 * outlive the graph, as a string literal does). NULL
 * with a message for a NULL op or missing value or grad function, a wrong
 * count, inputs of different or non-float dtypes, or shapes that do not
 * broadcast; NULL without a new message for a NULL input. */
tg_tensor *tg_map(const tg_map_op *op, int n, tg_tensor *const *inputs, int n_args, const double *args);

#ifdef __cplusplus
}
#endif

#endif
