/* Neural-network functions: softmax, dropout, layer norm, and the losses
 * (torch.nn.functional's, matching torch 1.13). Every function takes F32 or
 * F64 tensors of any strides and is differentiable in its float inputs
 * (class-weight tensors and the dropout mask carry no gradient). Softmax,
 * log_softmax and layer norm each record one node whose backward is a single
 * fused formula. */
#ifndef TG_NN_H
#define TG_NN_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/tensor.h>

/* --- softmax ------------------------------------------------------------- */

/* exp(x) / sum(exp(x)) along dim, computed with the maximum subtracted so
 * large logits do not overflow: y has x's shape. */
tg_tensor *tg_softmax(tg_tensor *x, int dim);
/* x - max - log(sum(exp(x - max))) along dim; stable for logits of any
 * magnitude: y has x's shape. */
tg_tensor *tg_log_softmax(tg_tensor *x, int dim);

/* --- dropout ------------------------------------------------------------- */

/* Zero each element with probability p and scale the survivors by
 * 1 / (1 - p) (inverted dropout), with the mask drawn from the library's
 * seeded generator (random.h), so the same seed gives the same mask. p must
 * be in [0, 1]; p == 1 gives zeros. When training is false or p == 0, the
 * result is a new header over x's storage (x's values, the gradient passing
 * through; never x itself). y has x's shape; dx = g * mask / (1 - p). */
tg_tensor *tg_dropout(tg_tensor *x, double p, bool training);

/* --- layer norm ---------------------------------------------------------- */

/* Normalise over the last n_normalized dims (1 <= n_normalized <= ndim):
 * x (..., D1..Dn) -> (x - mean) / sqrt(var + eps) * weight + bias, with the
 * biased variance as torch. weight and bias have shape (D1..Dn) or are NULL
 * (no affine); y has x's shape. */
tg_tensor *tg_layer_norm(tg_tensor *x, int n_normalized, tg_tensor *weight, tg_tensor *bias, double eps);

/* --- losses -------------------------------------------------------------- */

/* MEAN averages over every element, SUM adds them, NONE keeps the
 * per-element losses (shape below). */
typedef enum { TG_REDUCTION_MEAN = 0, TG_REDUCTION_SUM, TG_REDUCTION_NONE } tg_reduction;

/* Pointwise regression losses of d = input - target. input and target have
 * one float dtype and broadcast together; NONE returns the broadcast shape,
 * MEAN and SUM a 0-dim tensor. Differentiable in input and target. */
/* d^2 */
tg_tensor *tg_mse_loss(tg_tensor *input, tg_tensor *target, tg_reduction reduction);
/* |d| (gradient 0 at d == 0) */
tg_tensor *tg_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction reduction);
/* 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta >= 0 (torch
 * default 1.0; 0 gives the L1 loss). */
tg_tensor *tg_smooth_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction reduction, double beta);
/* 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); delta > 0 (torch
 * default 1.0). */
tg_tensor *tg_huber_loss(tg_tensor *input, tg_tensor *target, tg_reduction reduction, double delta);

/* Sigmoid plus binary cross entropy in one stable formula, for logits x and
 * targets t of one shape:
 *   l = w * ((1 - t) x + (1 + (pw - 1) t) * log(1 + exp(-x)))
 * weight w and pos_weight pw (weight for positives, typically of shape (C)
 * for input (N, C)) broadcast to input's shape, or are NULL (1). NONE keeps
 * input's shape. Differentiable in input, target, weight and pos_weight. */
tg_tensor *tg_binary_cross_entropy_with_logits(tg_tensor *input, tg_tensor *target, tg_tensor *weight,
                                               tg_tensor *pos_weight, tg_reduction reduction);

/* Options of the classification losses; torch's defaults are
 * {TG_REDUCTION_MEAN, -100, 0.0, NULL}, which a NULL pointer selects.
 * weight: class weights (C) of the input's dtype, or NULL; no gradient
 * flows into it. Targets equal to ignore_index contribute 0 and are left
 * out of the mean. label_smoothing in [0, 1] mixes the target with the
 * uniform distribution (cross entropy only). */
typedef struct {
    tg_reduction reduction;
    int64_t ignore_index;
    double label_smoothing;
    tg_tensor *weight;
} tg_cross_entropy_opts;

/* torch.nn.functional.cross_entropy with class-index targets: logits (N, C),
 * (N, C, d1...) or (C) with target I64 (N), (N, d1...) or () holding class
 * indices in [0, C) (or ignore_index). The class dim is 1 (0 for 1-D logits).
 *   l_n = -w[t_n] log_softmax(x_n)[t_n]   (label_smoothing 0)
 * MEAN divides the sum by the sum of w[t_n] over targets that are not
 * ignored (NaN when all are ignored, as torch); NONE keeps target's shape.
 * With label_smoothing e: (1 - e) * that loss + e / C * the loss of
 * -sum_c w[c] log_softmax(x_n)[c], reduced the same way. */
tg_tensor *tg_cross_entropy(tg_tensor *logits, tg_tensor *target, const tg_cross_entropy_opts *opts);
/* Negative log likelihood of log-probabilities: the shapes, weights,
 * ignore_index and reductions of tg_cross_entropy, applied to
 * log_probs directly (l_n = -w[t_n] log_probs_n[t_n]); label_smoothing must
 * be 0. */
tg_tensor *tg_nll_loss(tg_tensor *log_probs, tg_tensor *target, const tg_cross_entropy_opts *opts);

#ifdef __cplusplus
}
#endif

#endif
