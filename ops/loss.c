/* Losses. The pointwise ones are one fused node of (input, target)
 * followed by the ordinary sum or mean, so their reductions differentiate
 * like any other op; the class-index ones gather the target class per
 * position in one node and scatter its gradient back in place. */
#include <string.h>

#include <tapegrad/elementwise.h>
#include "map.h"
#include <tapegrad/nn.h>
#include <tapegrad/reduce.h>

/* Outside any scope a loss's intermediates would be persistent tensors
 * that nobody frees: each loss brackets itself (TG__BRACKET). */

static bool reduction_ok(const char *fn, tg_reduction r)
{
    if (r == TG_REDUCTION_MEAN || r == TG_REDUCTION_SUM || r == TG_REDUCTION_NONE) return true;
    return TG__REJECT("%s: %d is not a valid value for reduction (expected TG_REDUCTION_MEAN, SUM or NONE)", fn, (int)r);
}

static tg_tensor *reduce(tg_tensor *loss, tg_reduction r)
{
    if (r == TG_REDUCTION_MEAN) return tg_mean(loss, 0, NULL, false);
    if (r == TG_REDUCTION_SUM) return tg_sum(loss, 0, NULL, false);
    return loss;
}

/* --- pointwise regression losses of d = input - target ------------------------
 * c[0] is beta or delta. dtarget is the gradient
 * kernel with input and target swapped (torch's definition: -dinput except
 * at smooth L1's tie with beta == 0). */
typedef struct {
    const char *name; /* the public function, for messages */
    const char *op;   /* the node's name on the tape */
    tg_kernel loss, grad_input;
} pointwise_loss;

/* d^2;  dinput = 2 d g, as (2 g) d: the mean's g is 1/N, and 2 d alone
 * overflows in f32 where torch's (2/N) d does not (the same bits otherwise:
 * both round the one exact product) */
KERNEL2(mse, input, target, (input - target) * (input - target))
KERNEL3(mse_grad, g, input, target, 2 * g * (input - target))
/* |d|;  dinput = sign(d) g */
KERNEL2(l1, input, target, fabs(input - target))
KERNEL3(l1_grad, g, input, target, input > target ? g : (input < target ? -g : 0 * g))
/* |d| < beta ? d^2 / (2 beta) : |d| - beta / 2;
 * dinput = (d <= -beta ? -1 : d >= beta ? 1 : d / beta) g, tested in torch's
 * order, so beta == 0 gives -g at d == 0 as torch 1.13 does */
KERNEL2(smooth_l1, input, target, fabs(input - target) < c[0] ? 0.5 * (input - target) * (input - target) / c[0] : fabs(input - target) - 0.5 * c[0])
KERNEL3(smooth_l1_grad, g, input, target, input - target <= -c[0] ? -g : (input - target >= c[0] ? g : g * (input - target) / c[0]))
/* |d| < delta ? d^2 / 2 : delta (|d| - delta / 2);  dinput = clamp(d, -delta, delta) g */
KERNEL2(huber, input, target, fabs(input - target) < c[0] ? 0.5 * (input - target) * (input - target) : c[0] * (fabs(input - target) - 0.5 * c[0]))
KERNEL3(huber_grad, g, input, target, input - target < -c[0] ? -c[0] * g : (input - target > c[0] ? c[0] * g : (input - target) * g))

static const pointwise_loss mse_op = {"tg_mse_loss", "mse_loss", KERNELS(mse), KERNELS(mse_grad)};
static const pointwise_loss l1_op = {"tg_l1_loss", "l1_loss", KERNELS(l1), KERNELS(l1_grad)};
static const pointwise_loss smooth_l1_op = {"tg_smooth_l1_loss", "smooth_l1_loss", KERNELS(smooth_l1), KERNELS(smooth_l1_grad)};
static const pointwise_loss huber_op = {"tg_huber_loss", "huber_loss", KERNELS(huber), KERNELS(huber_grad)};

static void pointwise_backward(tg_node *n, tg_tensor *g)
{
    const pointwise_loss *op = n->ctx;
    tg_tensor *input = n->inputs[0], *target = n->inputs[1];
    if (tg_needs_grad(input))
        tg_accum_grad(input, tg__map(op->name, op->grad_input, 3, (tg_tensor *[]){g, input, target}, n->farg));
    if (tg_needs_grad(target))
        tg_accum_grad(target, tg__map(op->name, op->grad_input, 3, (tg_tensor *[]){g, target, input}, n->farg));
}

static tg_tensor *pointwise(const pointwise_loss *op, tg_tensor *input, tg_tensor *target, tg_reduction r, double c)
{
    if (!tg__check_float(op->name, input) || !tg__check_float(op->name, target) || !reduction_ok(op->name, r))
        return NULL;
    tg_tensor *in[2] = {input, target};
    tg_tensor *loss = tg__map(op->name, op->loss, 2, in, &c);
    tg_node *node = tg__unread(tg_record(op->op, pointwise_backward, loss, 2, in), 0, true);
    if (node) {
        node->ctx = (void *)op;
        node->farg[0] = c;
    }
    return reduce(loss, r);
}

tg_tensor *tg_mse_loss(tg_tensor *input, tg_tensor *target, tg_reduction r)
{
    TG__BRACKET(false, tg_mse_loss(input, target, r), input, target);
    return pointwise(&mse_op, input, target, r, 0);
}

tg_tensor *tg_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction r)
{
    TG__BRACKET(false, tg_l1_loss(input, target, r), input, target);
    return pointwise(&l1_op, input, target, r, 0);
}

tg_tensor *tg_smooth_l1_loss(tg_tensor *input, tg_tensor *target, tg_reduction r, double beta)
{
    TG__BRACKET(false, tg_smooth_l1_loss(input, target, r, beta), input, target);
    if (!(beta >= 0))
        return tg_error("tg_smooth_l1_loss: smooth_l1_loss does not support negative values for beta (got %g)", beta);
    return pointwise(&smooth_l1_op, input, target, r, beta);
}

tg_tensor *tg_huber_loss(tg_tensor *input, tg_tensor *target, tg_reduction r, double delta)
{
    TG__BRACKET(false, tg_huber_loss(input, target, r, delta), input, target);
    if (!(delta > 0))
        return tg_error("tg_huber_loss: huber_loss does not support non-positive values for delta (got %g)", delta);
    return pointwise(&huber_op, input, target, r, delta);
}

/* --- binary cross entropy with logits --------------------------------------------
 * With sp = log(1 + exp(-x)) (computed as torch does, m + log(exp(-m) +
 * exp(-x - m)) with m = max(-x, 0)) and lw = 1 + (pw - 1) t:
 *   l = (1 - t) x + lw sp          (then times weight, by tg_mul)
 *   dx = (lw sigmoid(x) - pw t) g,  dt = (pw sp - sp(-x)) g = (-x + (pw - 1) sp) g,  dpw = t sp g
 * Without pos_weight (c[0] == 0) lw is 1 itself, as in torch's formula
 * without it: not (1 - 1) t, which is NaN at an infinite target.
 */
static inline double softplus_neg(double x)
{
    double m = x < 0 ? -x : 0;
    return m + log(exp(-m) + exp(-x - m));
}
static inline double sigmoid(double x) { return 1 / (1 + exp(-x)); }

#define BCE_LW(t, pw) (c[0] ? 1 + (pw - 1) * t : 1)
KERNEL3(bce, x, t, pw, (1 - t) * x + BCE_LW(t, pw) * softplus_neg(x))
KERNEL3(bce_grad_input, x, t, pw, BCE_LW(t, pw) * sigmoid(x) - pw * t)
/* sp at +-inf too (0 and inf, where the max-shifted form gives NaN at -inf) */
static inline double softplus_neg_inf(double x) { return isinf(x) ? (x > 0 ? 0 : INFINITY) : softplus_neg(x); }
/* torch's two forms: -x without pos_weight (here 1), log_sigmoid(-x) -
 * pw log_sigmoid(x) with it: -+inf, not NaN, at x = +-inf */
KERNEL3(bce_grad_target, x, t, pw, pw == 1 ? -x : pw * softplus_neg_inf(x) - softplus_neg_inf(-x))
KERNEL3(bce_grad_pos_weight, x, t, pw, t * softplus_neg(x) + 0 * pw)

static void bce_backward(tg_node *n, tg_tensor *g)
{
    const char *fn = "tg_binary_cross_entropy_with_logits";
    tg_kernel grads[3] = {KERNELS(bce_grad_input), KERNELS(bce_grad_target), KERNELS(bce_grad_pos_weight)};
    for (int i = 0; i < 3; i++)
        if (tg_needs_grad(n->inputs[i]))
            tg_accum_grad(n->inputs[i], tg_mul(g, tg__map(fn, grads[i], 3, n->inputs, n->farg)));
}

/* weight or pos_weight: NULL, or of input's dtype and broadcasting to input's shape. */
static bool broadcasts_to(const char *fn, const char *what, const tg_tensor *p, const tg_tensor *input)
{
    if (!p) return true;
    if (!tg__check_float(fn, p)) return false;
    int nd;
    int64_t shape[TG_MAX_DIMS];
    bool ok = p->dtype == input->dtype && tg__broadcast_shape(fn, input, p, &nd, shape) == 0 && nd == input->ndim &&
              memcmp(shape, input->shape, sizeof(int64_t) * (size_t)nd) == 0;
    if (ok) return true;
    char s1[128], s2[128];
    return TG__REJECT("%s: %s of dtype %s and shape %s must have the input's dtype (%s) and broadcast to its shape %s",
                      fn, what, tg_dtype_name(p->dtype), tg_shape_str(p, s1, sizeof s1), tg_dtype_name(input->dtype),
                      tg_shape_str(input, s2, sizeof s2));
}

tg_tensor *tg_binary_cross_entropy_with_logits(tg_tensor *input, tg_tensor *target, tg_tensor *weight,
                                               tg_tensor *pos_weight, tg_reduction r)
{
    const char *fn = "tg_binary_cross_entropy_with_logits";
    TG__BRACKET(false, tg_binary_cross_entropy_with_logits(input, target, weight, pos_weight, r), input,
                                 target, weight, pos_weight);
    if (!tg__check_float(fn, input) || !tg__check_float(fn, target) || !reduction_ok(fn, r)) return NULL;
    if (!tg_same_shape(input, target)) {
        char s1[128], s2[128];
        return tg_error("%s: Target size (%s) must be the same as input size (%s)", fn,
                        tg_shape_str(target, s1, sizeof s1), tg_shape_str(input, s2, sizeof s2));
    }
    if (!broadcasts_to(fn, "weight", weight, input) || !broadcasts_to(fn, "pos_weight", pos_weight, input)) return NULL;
    tg_tensor *in[3] = {input, target, pos_weight ? pos_weight : tg_ones(input->dtype, 0, NULL)};
    double has_pos_weight = pos_weight != NULL;
    tg_tensor *loss = tg__map(fn, KERNELS(bce), 3, in, &has_pos_weight);
    tg_node *n = tg__unread(tg_record("binary_cross_entropy_with_logits", bce_backward, loss, 3, in), 0, true);
    if (n) n->farg[0] = has_pos_weight;
    return reduce(weight ? tg_mul(loss, weight) : loss, r);
}

/* --- negative log likelihood, cross entropy ----------------------------------------
 * A contiguous input (N, C, d1...) is `outer` = N blocks of C x `inner`
 * elements; position p = o * inner + i of the target picks element
 * (o * C + t_p) * inner + i.
 *   l_p = -w[t_p] lp[o, t_p, i]   (0 where t_p == ignore_index)
 *   MEAN: sum_p l_p / sum of w[t_p] over kept p;  SUM: sum_p l_p
 *   dlp[o, t_p, i] = -w[t_p] g_p  (g / that divisor for MEAN) */
typedef struct {
    int class_dim;
    int64_t classes, inner;
} class_layout;

static const tg_cross_entropy_opts default_opts = {TG_REDUCTION_MEAN, -100, 0.0, NULL};

/* Element k of a contiguous float tensor, as double. */
static double at(const tg_tensor *t, int64_t k)
{
    return tg__load((const char *)tg_data(t) + k * (int64_t)tg_dtype_size(t->dtype), t->dtype);
}

/* Checks input against target (already contiguous) and the options, and
 * every target value against the class count before anything is read. */
static bool class_args_ok(const char *fn, const tg_tensor *input, const tg_tensor *target,
                          const tg_cross_entropy_opts *o, class_layout *l)
{
    if (!reduction_ok(fn, o->reduction)) return false;
    char s1[128], s2[128], s3[128];
    if (target->dtype != TG_I64)
        return TG__REJECT("%s: expected target of dtype int64 (class indices), got %s", fn, tg_dtype_name(target->dtype));
    if (input->ndim < 1)
        return TG__REJECT("%s: expected input of shape (C), (N, C) or (N, C, d1, ...), got a 0-dim tensor", fn);
    l->class_dim = input->ndim == 1 ? 0 : 1;
    l->classes = input->shape[l->class_dim];
    l->inner = 1;
    tg_tensor want = tg__selected(input, l->class_dim, 0); /* input's shape without the class dim */
    for (int d = 2; d < input->ndim; d++) l->inner *= input->shape[d];
    if (!tg_same_shape(&want, target))
        return TG__REJECT("%s: expected target of shape %s for input of shape %s, got %s", fn,
                          tg_shape_str(&want, s1, sizeof s1), tg_shape_str(input, s2, sizeof s2),
                          tg_shape_str(target, s3, sizeof s3));
    const tg_tensor *w = o->weight;
    if (w && !tg__check_float(fn, w)) return false;
    if (w && (w->ndim != 1 || w->shape[0] != l->classes || w->dtype != input->dtype))
        return TG__REJECT("%s: weight tensor should be defined either for all %lld classes or no classes (with the input's "
                          "dtype %s) but got weight tensor of shape %s and dtype %s", fn, (long long)l->classes,
                          tg_dtype_name(input->dtype), tg_shape_str(w, s1, sizeof s1), tg_dtype_name(w->dtype));
    if (!(o->label_smoothing >= 0 && o->label_smoothing <= 1))
        return TG__REJECT("%s: label_smoothing must be between 0.0 and 1.0. Got: %g", fn, o->label_smoothing);
    const int64_t *t = tg_data(target);
    for (int64_t p = 0, n = tg_numel(target); p < n; p++)
        if (t[p] != o->ignore_index && (t[p] < 0 || t[p] >= l->classes))
            return TG__REJECT("%s: Target %lld is out of bounds: class indices must be in [0, %lld] for %lld classes (or equal "
                              "ignore_index %lld)", fn, (long long)t[p], (long long)l->classes - 1, (long long)l->classes,
                              (long long)o->ignore_index);
    return true;
}

static void nll_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    if (!slot) return;
    const tg_tensor *target = n->saved[0], *w = n->saved[1];
    const int64_t *t = tg_data(target);
    int64_t classes = n->iarg[0], inner = n->iarg[1], ignore = n->iarg[2];
    tg_reduction r = (tg_reduction)n->iarg[3];
    double scale = r == TG_REDUCTION_MEAN ? 1 / n->farg[0] : 1;
    char *ps = tg_data(slot);
    int64_t es = (int64_t)tg_dtype_size(slot->dtype);
    for (int64_t p = 0, count = tg_numel(target); p < count; p++) {
        if (t[p] == ignore) continue;
        double gp = (r == TG_REDUCTION_NONE ? at(g, p) : at(g, 0) * scale) * (w ? at(w, t[p]) : 1);
        char *e = ps + ((p / inner * classes + t[p]) * inner + p % inner) * es;
        tg__store(e, slot->dtype, tg__load(e, slot->dtype) - gp);
    }
}

/* The nll loss of checked arguments; *divisor receives MEAN's divisor. */
static tg_tensor *nll(const char *fn, tg_tensor *log_probs, tg_tensor *target, const tg_cross_entropy_opts *o, const class_layout *l,
                      double *divisor)
{
    tg_tensor *lp = tg__contiguous(log_probs);
    tg_tensor *w = o->weight ? tg__contiguous(tg_detach(o->weight)) : NULL;
    bool keep = o->reduction == TG_REDUCTION_NONE; /* per-position losses, target's shape */
    tg_tensor *out = tg__new(fn, log_probs->dtype, keep ? target->ndim : 0, target->shape);
    if (!lp || (o->weight && !w) || !out) return NULL;
    const int64_t *t = tg_data(target);
    double total = 0, weight_sum = 0;
    int64_t es = (int64_t)tg_dtype_size(out->dtype);
    for (int64_t p = 0, count = tg_numel(target); p < count; p++) {
        double loss = 0;
        if (t[p] != o->ignore_index) {
            double wt = w ? at(w, t[p]) : 1;
            loss = -wt * at(lp, (p / l->inner * l->classes + t[p]) * l->inner + p % l->inner);
            weight_sum += wt;
        }
        if (keep) tg__store((char *)tg_data(out) + p * es, out->dtype, loss);
        total += loss;
    }
    /* All targets ignored under MEAN: 0 / 0 = NaN, as torch. */
    if (!keep) tg__store(tg_data(out), out->dtype, o->reduction == TG_REDUCTION_MEAN ? total / weight_sum : total);
    *divisor = weight_sum;
    tg_node *node = tg__unread(tg_record("nll_loss", nll_backward, out, 1, &lp), 1, true);
    if (node) {
        tg_save_for_backward(node, 0, target);
        tg_save_for_backward(node, 1, w);
        node->iarg[0] = l->classes;
        node->iarg[1] = l->inner;
        node->iarg[2] = o->ignore_index;
        node->iarg[3] = o->reduction;
        node->farg[0] = weight_sum;
    }
    return out;
}

tg_tensor *tg_nll_loss(tg_tensor *log_probs, tg_tensor *target, const tg_cross_entropy_opts *opts)
{
    const char *fn = "tg_nll_loss";
    const tg_cross_entropy_opts *o = opts ? opts : &default_opts;
    TG__BRACKET(false, tg_nll_loss(log_probs, target, opts), log_probs);
    if (!tg__check_float(fn, log_probs) || !tg__check(fn, target)) return NULL;
    if (o->label_smoothing != 0)
        return tg_error("%s: label_smoothing must be 0 here (it is an option of tg_cross_entropy), got %g", fn,
                        o->label_smoothing);
    class_layout l;
    tg_tensor *tc = tg__contiguous(target);
    if (!tc || !class_args_ok(fn, log_probs, tc, o, &l)) return NULL;
    double divisor;
    return nll(fn, log_probs, tc, o, &l, &divisor);
}

/* With label smoothing e over C classes (torch 1.13):
 *   loss = (1 - e) nll + e / C * reduce(s),  s_p = -sum_c w[c] lp[p, c]
 * with s_p = 0 where t_p is ignored and MEAN dividing by the nll divisor. */
tg_tensor *tg_cross_entropy(tg_tensor *logits, tg_tensor *target, const tg_cross_entropy_opts *opts)
{
    const char *fn = "tg_cross_entropy";
    const tg_cross_entropy_opts *o = opts ? opts : &default_opts;
    TG__BRACKET(false, tg_cross_entropy(logits, target, opts), logits);
    if (!tg__check_float(fn, logits) || !tg__check(fn, target)) return NULL;
    class_layout l;
    tg_tensor *tc = tg__contiguous(target);
    if (!tc || !class_args_ok(fn, logits, tc, o, &l)) return NULL;
    tg_tensor *lp = tg_log_softmax(logits, l.class_dim);
    double divisor;
    tg_tensor *nll_part = lp ? nll(fn, lp, tc, o, &l, &divisor) : NULL;
    if (!nll_part || o->label_smoothing == 0) return nll_part;
    tg_tensor *weighted = lp;
    if (o->weight) {
        int64_t shape[TG_MAX_DIMS];
        for (int d = 0; d < lp->ndim; d++) shape[d] = d == l.class_dim ? l.classes : 1;
        weighted = tg_mul(lp, tg_view(tg_detach(o->weight), lp->ndim, shape));
    }
    tg_tensor *ignored = tg__new(fn, logits->dtype, tc->ndim, tc->shape);
    if (!ignored) return NULL;
    const int64_t *t = tg_data(tc);
    int64_t es = (int64_t)tg_dtype_size(ignored->dtype);
    for (int64_t p = 0, n = tg_numel(tc); p < n; p++)
        tg__store((char *)tg_data(ignored) + p * es, ignored->dtype, t[p] == o->ignore_index);
    tg_tensor *smooth = tg_masked_fill(tg_neg(tg_sum(weighted, 1, &l.class_dim, false)), ignored, 0);
    if (o->reduction == TG_REDUCTION_MEAN)
        smooth = tg_div(tg_sum(smooth, 0, NULL, false), tg_scalar(logits->dtype, divisor));
    else if (o->reduction == TG_REDUCTION_SUM)
        smooth = tg_sum(smooth, 0, NULL, false);
    double e = o->label_smoothing;
    return tg_add(tg_mul_scalar(nll_part, 1 - e), tg_mul_scalar(smooth, e / (double)l.classes));
}
