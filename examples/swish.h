/* A custom differentiable op in a few lines: the value and the derivative
 * of one element, handed to tg_map (custom.h), which loops, broadcasts,
 * follows strides, threads and records the op for backward.
 *
 *     y = x * sigmoid(beta * x)                      (swish / SiLU for beta = 1)
 *     dy/dx = s + beta * x * s * (1 - s),   s = sigmoid(beta * x)
 *
 * Included by examples/custom_op.c and by the tests. */
#ifndef SWISH_H
#define SWISH_H

#include <math.h>

#include <tapegrad/tapegrad.h>

static double swish_value(const double *x, const double *beta) { return x[0] / (1 + exp(-beta[0] * x[0])); }

static double swish_grad(int k, const double *x, const double *beta)
{
    double s = 1 / (1 + exp(-beta[0] * x[0]));
    (void)k; /* one input */
    return s + beta[0] * x[0] * s * (1 - s);
}

static const tg_map_op swish_op = {"swish", 1, swish_value, swish_grad, NULL, NULL};

/* x of any shape, strides and float dtype -> y of x's shape. */
static tg_tensor *swish(tg_tensor *x, double beta) { return tg_map(&swish_op, 1, &x, 1, &beta); }

#endif
