/* Unary elementwise ops. Each op is a forward expression in x and a
 * backward expression for dx in g (the incoming gradient), x and y (the
 * output), side by side. */
#include <math.h>

#include <tapegrad/elementwise.h>
#include "map.h"
#include <tapegrad/vmath.h>

typedef struct {
    const char *name;   /* the public function, for messages: "tg_tanh" */
    const char *op;     /* the node's name on the tape: "tanh" */
    tg_kernel forward;  /* y = f(x) */
    tg_kernel backward; /* dx = f'(x) g, from g, x and y */
    enum { READS_X, READS_Y, READS_G } reads; /* what the backward expression reads besides g:
                                                  x (never y), y (never x), or neither */
} unary_op;

/* An operand the expression does not read is handed g or y in its place,
 * so that its memory is never touched (it may have been reused). */
static void unary_backward(tg_node *n, tg_tensor *g)
{
    const unary_op *op = n->ctx;
    tg_tensor *x = op->reads == READS_X ? n->inputs[0] : op->reads == READS_Y ? n->out : g;
    tg_tensor *in[3] = {g, x, op->reads == READS_Y ? n->out : g};
    tg_accum_grad(n->inputs[0], tg__map(op->name, op->backward, 3, in, n->farg));
}

static tg_tensor *unary(const unary_op *op, tg_tensor *x, double c0, double c1)
{
    double args[2] = {c0, c1};
    tg_tensor *y = tg__map(op->name, op->forward, 1, &x, args);
    tg_node *n = tg__unread(tg_record(op->op, unary_backward, y, 1, &x), op->reads != READS_X,
                            op->reads != READS_Y);
    if (n) {
        n->ctx = (void *)op;
        n->farg[0] = c0;
        n->farg[1] = c1;
    }
    return y;
}

#define UNARY_READING(reads, fname, fwd, bwd)                                                                  \
    KERNEL1(fname##_fwd, x, fwd)                                                                               \
    KERNEL3(fname##_bwd, g, x, y, bwd)                                                                         \
    static const unary_op fname##_op = {"tg_" #fname, #fname, KERNELS(fname##_fwd), KERNELS(fname##_bwd), reads};
#define UNARY(fname, fwd, bwd) UNARY_READING(READS_X, fname, fwd, bwd)

/* The hot activations of recurrent cells: a contiguous float32 row goes
 * through the SIMD vector math (vmath.h, within an ulp or two of libm), any other
 * row through the expression. */
#define UNARY_VMATH(fname, vector_fn, fwd, bwd)                                       \
    KERNEL1(fname##_expr, x, fwd)                                                     \
    static void fname##_fwd_f32(int64_t n, char **p, const int64_t *s, void *ctx)     \
    {                                                                                 \
        if (s[0] == 4 && s[1] == 4) vector_fn(n, (const float *)p[1], (float *)p[0]); \
        else fname##_expr_f32(n, p, s, ctx);                                          \
    }                                                                                 \
    KERNEL3(fname##_bwd, g, x, y, bwd)                                                \
    static const unary_op fname##_op = {"tg_" #fname, #fname, {{fname##_fwd_f32, fname##_expr_f64}},           \
                                        KERNELS(fname##_bwd), READS_Y};

/* Backward expressions read g (the gradient of y), x and y = f(x). */
#define SQRT_2_OVER_PI 0.7978845608028654
#define INV_SQRT_2 0.7071067811865476
#define INV_SQRT_2PI 0.3989422804014327

UNARY_READING(READS_G, neg, -x, -g)
UNARY(abs, fabs(x), x > 0 ? g : (x < 0 ? -g : 0 * g))
UNARY_VMATH(exp, tg_vexp_f32, exp(x), g * y)
UNARY(log, log(x), g / x)
UNARY(log1p, log1p(x), g / (x + 1))
UNARY_READING(READS_Y, sqrt, sqrt(x), g / (2 * y))
UNARY_READING(READS_Y, rsqrt, 1 / sqrt(x), -0.5 * g * (y * y * y))
UNARY(square, x * x, 2 * g * x)
/* torch computes x^p for p = 2, 3, -1, -2, 0.5 and -0.5 with products,
 * quotients and square roots in the tensor's dtype (x * x * x, 1 / sqrt(x)),
 * each rounded there, and pow otherwise; sqrt and rsqrt also differ from
 * pow at -0 and -inf (-0 and NaN where pow gives 0 and inf). */
#define POW_AS_TORCH(T, SQRT)                                                                                \
    static inline T pow_as_torch_##T(T x, double p)                                                           \
    {                                                                                                        \
        return p == 2 ? x * x : p == 3 ? x * x * x : p == -1 ? 1 / x : p == -2 ? 1 / (x * x)                 \
             : p == 0.5 ? SQRT(x) : p == -0.5 ? 1 / SQRT(x) : (T)pow(x, (T)p);                               \
    }
POW_AS_TORCH(float, sqrtf)
POW_AS_TORCH(double, sqrt)
#define pow_as_torch(x, p) _Generic((x), float: pow_as_torch_float, default: pow_as_torch_double)(x, p)
/* torch: d/dx x^p = g * (p * x^(p-1)), in the tensor's dtype, and exactly 0
 * for p = 0. Any other exponent meets a float32 tensor rounded to float, as
 * in torch's vectorised kernel (its scalar loop, for the last elements of a
 * row, keeps the double). */
UNARY(pow_scalar, pow_as_torch(x, c[0]), c[0] == 0 ? 0 : g * (ARG(x, 0) * pow_as_torch(x, c[0] - 1)))
UNARY(sin, sin(x), g * cos(x))
UNARY(cos, cos(x), -g * sin(x))
UNARY_VMATH(tanh, tg_vtanh_f32, tanh(x), g * (1 - y * y))
/* 1/(1+exp(-x)) saturates cleanly at both ends: exp(-x) -> inf gives 0. */
UNARY_VMATH(sigmoid, tg_vsigmoid_f32, 1 / (1 + exp(-x)), g * (1 - y) * y)
/* Where a backward reads "cond ? 0 : a", torch selects a zero (a NaN or
 * infinite gradient does not leak through); where it reads "0 * a", torch
 * multiplies. A NaN input takes the branch torch's comparison sends it to;
 * where torch's vectorised and scalar kernels disagree (elu, hardtanh), the
 * vectorised one, which every tensor of more than a few elements gets. */
UNARY_READING(READS_Y, relu, x < 0 ? 0 : x, y <= 0 ? 0 : g)
UNARY(leaky_relu, x > 0 ? x : x * ARG(x, 0), x > 0 ? g : g * ARG(g, 0))
UNARY(elu, x > 0 ? x : ARG(x, 0) * (exp(x) - 1), x > 0 ? g : g * ARG(g, 0) * exp(x))
/* gelu(x) = x Phi(x);  d/dx = Phi(x) + x phi(x) */
UNARY(gelu_erf, 0.5 * x * (1 + erf(x * INV_SQRT_2)),
      g * (0.5 * (1 + erf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x)))
/* gelu_tanh(x) = x/2 (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi) */
UNARY(gelu_tanh, 0.5 * x * (1 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
      g * (0.5 * (1 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))) +
           0.5 * x * (1 - pow(tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)), 2)) * SQRT_2_OVER_PI *
               (1 + 3 * 0.044715 * x * x)))
/* softplus = log1p(exp(beta x)) / beta, x itself where beta x > threshold */
UNARY(softplus, x * ARG(x, 0) > ARG(x, 1) ? x : log1p(exp(x * ARG(x, 0))) / ARG(x, 0),
      x * ARG(x, 0) > ARG(x, 1) ? g : g * exp(x * ARG(x, 0)) / (exp(x * ARG(x, 0)) + 1))
/* A NaN bound gives NaN, as torch's (a clamp whose vectorised minimum and
 * maximum propagate it); tg_clamp reads NaN as "no bound" instead. */
UNARY(hardtanh, isnan(ARG(x, 0)) || isnan(ARG(x, 1)) ? ARG(x, 0) + ARG(x, 1)
                                                     : (x < ARG(x, 0) ? ARG(x, 0) : (x > ARG(x, 1) ? ARG(x, 1) : x)),
      (x > ARG(x, 0) && x < ARG(x, 1)) ? g : 0)
UNARY(hardsigmoid, x <= -3 ? 0 : (x >= 3 ? 1 : x / 6 + 0.5), (x > -3 && x < 3) ? g / 6 : 0)
/* NAN bounds mean "unbounded" on that side; the gradient passes where lo <= x <= hi.
 * min(max(x, lo), hi): hi wins where lo > hi, as in torch. */
static inline double clamp_to(double x, double lo, double hi)
{
    double y = !isnan(lo) && x < lo ? lo : x;
    return !isnan(hi) && y > hi ? hi : y;
}
UNARY(clamp, clamp_to(x, ARG(x, 0), ARG(x, 1)),
      ((isnan(c[0]) || x >= ARG(x, 0)) && (isnan(c[1]) || x <= ARG(x, 1))) ? g : 0)
UNARY_READING(READS_G, add_scalar, x + ARG(x, 0), g)
UNARY_READING(READS_G, mul_scalar, x * ARG(x, 0), g * ARG(g, 0))
UNARY_READING(READS_G, rsub_scalar, ARG(x, 0) - x, -g)
UNARY_READING(READS_G, sub_scalar, x - ARG(x, 0), g)
UNARY_READING(READS_G, div_scalar, x / ARG(x, 0), g / ARG(g, 0))

tg_tensor *tg_neg(tg_tensor *x) { return unary(&neg_op, x, 0, 0); }
tg_tensor *tg_abs(tg_tensor *x) { return unary(&abs_op, x, 0, 0); }
tg_tensor *tg_exp(tg_tensor *x) { return unary(&exp_op, x, 0, 0); }
tg_tensor *tg_log(tg_tensor *x) { return unary(&log_op, x, 0, 0); }
tg_tensor *tg_log1p(tg_tensor *x) { return unary(&log1p_op, x, 0, 0); }
tg_tensor *tg_sqrt(tg_tensor *x) { return unary(&sqrt_op, x, 0, 0); }
tg_tensor *tg_rsqrt(tg_tensor *x) { return unary(&rsqrt_op, x, 0, 0); }
tg_tensor *tg_square(tg_tensor *x) { return unary(&square_op, x, 0, 0); }
tg_tensor *tg_pow_scalar(tg_tensor *x, double p) { return unary(&pow_scalar_op, x, p, 0); }
tg_tensor *tg_sin(tg_tensor *x) { return unary(&sin_op, x, 0, 0); }
tg_tensor *tg_cos(tg_tensor *x) { return unary(&cos_op, x, 0, 0); }
tg_tensor *tg_tanh(tg_tensor *x) { return unary(&tanh_op, x, 0, 0); }
tg_tensor *tg_sigmoid(tg_tensor *x) { return unary(&sigmoid_op, x, 0, 0); }
tg_tensor *tg_relu(tg_tensor *x) { return unary(&relu_op, x, 0, 0); }
tg_tensor *tg_leaky_relu(tg_tensor *x, double slope) { return unary(&leaky_relu_op, x, slope, 0); }
tg_tensor *tg_elu(tg_tensor *x, double alpha) { return unary(&elu_op, x, alpha, 0); }
tg_tensor *tg_gelu(tg_tensor *x, bool tanh_approximation)
{
    return unary(tanh_approximation ? &gelu_tanh_op : &gelu_erf_op, x, 0, 0);
}
tg_tensor *tg_softplus(tg_tensor *x, double beta, double threshold)
{
    if (beta == 0) return tg_error("tg_softplus: beta must be nonzero");
    return unary(&softplus_op, x, beta, threshold);
}
tg_tensor *tg_hardtanh(tg_tensor *x, double lo, double hi)
{
    if (lo > hi) return tg_error("tg_hardtanh: min_val (%g) cannot be greater than max_val (%g)", lo, hi);
    return unary(&hardtanh_op, x, lo, hi);
}
tg_tensor *tg_hardsigmoid(tg_tensor *x) { return unary(&hardsigmoid_op, x, 0, 0); }
tg_tensor *tg_clamp(tg_tensor *x, double lo, double hi)
{
    if (isnan(lo) && isnan(hi)) return tg_error("tg_clamp: At least one of 'min' or 'max' must not be None");
    return unary(&clamp_op, x, lo, hi);
}
tg_tensor *tg_add_scalar(tg_tensor *x, double s) { return unary(&add_scalar_op, x, s, 0); }
tg_tensor *tg_mul_scalar(tg_tensor *x, double s) { return unary(&mul_scalar_op, x, s, 0); }
tg_tensor *tg_rsub_scalar(tg_tensor *x, double s) { return unary(&rsub_scalar_op, x, s, 0); }
tg_tensor *tg_sub_scalar(tg_tensor *x, double s) { return unary(&sub_scalar_op, x, s, 0); }
tg_tensor *tg_div_scalar(tg_tensor *x, double s) { return unary(&div_scalar_op, x, s, 0); }
