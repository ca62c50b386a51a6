/* A custom differentiable op, the way PyTorch's autograd.Function defines
 * one: a forward that computes the output with any code, and a backward that
 * receives dL/dy and hands dL/dx to tg_accum_grad. tg_record puts the op on
 * the tape; that is all the engine needs.
 *
 *     y = x * sigmoid(beta * x)                      (swish / SiLU for beta = 1)
 *     dy/dx = s + beta * x * s * (1 - s),   s = sigmoid(beta * x)
 *
 * Included by examples/custom_op.c and by the tests. */
#ifndef SWISH_H
#define SWISH_H

#include <math.h>

#include <tapegrad/tapegrad.h>

static double swish_sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

/* grad_out has y's shape; the op saved beta in farg[0]. */
static void swish_backward(tg_node *node, tg_tensor *grad_out)
{
    tg_tensor *x = node->inputs[0]; /* contiguous: the forward made it so */
    double beta = node->farg[0];
    tg_tensor *g = tg_contiguous(grad_out);
    tg_tensor *dx = tg_empty(x->dtype, x->ndim, x->shape);
    int64_t n = tg_numel(x);
    for (int64_t i = 0; i < n; i++) {
        double v = x->dtype == TG_F32 ? ((float *)tg_data(x))[i] : ((double *)tg_data(x))[i];
        double gi = g->dtype == TG_F32 ? ((float *)tg_data(g))[i] : ((double *)tg_data(g))[i];
        double s = swish_sigmoid(beta * v);
        double d = gi * (s + beta * v * s * (1 - s));
        if (x->dtype == TG_F32) ((float *)tg_data(dx))[i] = (float)d;
        else ((double *)tg_data(dx))[i] = d;
    }
    tg_accum_grad(x, dx);
}

/* x of any shape and float dtype -> y of the same shape. */
static tg_tensor *swish(tg_tensor *x, double beta)
{
    x = tg_contiguous(x); /* itself a recorded op, so any strides work */
    if (!x) return NULL;
    tg_tensor *y = tg_empty(x->dtype, x->ndim, x->shape);
    int64_t n = tg_numel(x);
    for (int64_t i = 0; i < n; i++) {
        double v = x->dtype == TG_F32 ? ((float *)tg_data(x))[i] : ((double *)tg_data(x))[i];
        double out = v * swish_sigmoid(beta * v);
        if (x->dtype == TG_F32) ((float *)tg_data(y))[i] = (float)out;
        else ((double *)tg_data(y))[i] = out;
    }
    tg_node *node = tg_record("swish", swish_backward, y, 1, &x);
    if (node) node->farg[0] = beta;
    return y;
}

#endif
