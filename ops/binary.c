/* Binary and ternary elementwise ops with broadcasting. The backward of each
 * is written with the ops themselves; tg_accum_grad sums a gradient of the
 * broadcast shape down to each input's own shape. */
#include <math.h>

#include <tapegrad/elementwise.h>
#include "map.h"

/* unread: the inputs whose values the backward never reads, UNREAD_OUT if
 * it never reads the output's (tg__unread), and UNREAD_PRODUCT if it reads
 * each input only for the other's gradient (tg__product_unread). */
#define UNREAD_OUT 0x100u
#define UNREAD_PRODUCT 0x200u
static tg_tensor *binary(const char *fn, const char *op, tg_kernel kernel, tg_backward_fn backward, unsigned unread,
                         tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    tg_tensor *y = tg__map(fn, kernel, 2, in, NULL);
    unsigned inputs = (unread & 0xffu) | (unread & UNREAD_PRODUCT ? tg__product_unread(1, in) : 0);
    if (backward) tg__unread(tg_record(op, backward, y, 2, in), inputs, unread & UNREAD_OUT);
    return y;
}

/* y = a + b;  da = g, db = g */
KERNEL2(add, a, b, a + b)
static void add_backward(tg_node *n, tg_tensor *g)
{
    tg_accum_grad(n->inputs[0], g);
    tg_accum_grad(n->inputs[1], g);
}
tg_tensor *tg_add(tg_tensor *a, tg_tensor *b) { return binary("tg_add", "add", KERNELS(add), add_backward, 3 | UNREAD_OUT, a, b); }

/* y = a - b;  da = g, db = -g */
KERNEL2(sub, a, b, a - b)
static void sub_backward(tg_node *n, tg_tensor *g)
{
    tg_accum_grad(n->inputs[0], g);
    if (tg_needs_grad(n->inputs[1])) tg_accum_grad(n->inputs[1], tg_neg(g));
}
tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b) { return binary("tg_sub", "sub", KERNELS(sub), sub_backward, 3 | UNREAD_OUT, a, b); }

/* y = a * b;  da = g * b, db = g * a */
KERNEL2(mul, a, b, a * b)
static void mul_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (tg__product_grad(n, 0)) tg_accum_grad(a, tg_mul(g, b));
    if (tg__product_grad(n, 1)) tg_accum_grad(b, tg_mul(g, a));
}
tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b)
{
    return binary("tg_mul", "mul", KERNELS(mul), mul_backward, UNREAD_OUT | UNREAD_PRODUCT, a, b);
}

/* y = a / b;  da = g / b, db = -g (y / b) */
KERNEL2(div, a, b, a / b)
KERNEL3(div_grad_b, g, y, b, -g * (y / b))
static void div_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (tg_needs_grad(a)) tg_accum_grad(a, tg_div(g, b));
    if (tg_needs_grad(b)) tg_accum_grad(b, tg__map("tg_div", KERNELS(div_grad_b), 3, (tg_tensor *[]){g, n->out, b}, NULL));
}
tg_tensor *tg_div(tg_tensor *a, tg_tensor *b) { return binary("tg_div", "div", KERNELS(div), div_backward, 0, a, b); }

/* y = a ^ b;  da = g (b a^(b-1)) (0 where b == 0),
 *             db = g (y log(a)) (0 where a == 0 and b >= 0, as torch) */
KERNEL2(pow, a, b, pow(a, b))
KERNEL3(pow_grad_a, g, b, a, b == 0 ? 0 : g * (b * pow(a, b - 1)))
KERNEL3(pow_grad_b, y, a, b, (a == 0 && b >= 0) ? 0 : y * log(a))
static void pow_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (tg_needs_grad(a))
        tg_accum_grad(a, tg__map("tg_pow", KERNELS(pow_grad_a), 3, (tg_tensor *[]){g, b, a}, NULL));
    if (tg_needs_grad(b))
        tg_accum_grad(b, tg_mul(g, tg__map("tg_pow", KERNELS(pow_grad_b), 3, (tg_tensor *[]){n->out, a, b}, NULL)));
}
tg_tensor *tg_pow(tg_tensor *a, tg_tensor *b) { return binary("tg_pow", "pow", KERNELS(pow), pow_backward, 0, a, b); }

/* y = max(a, b), NaN if either is NaN;  the larger side gets g, ties split
 * g / 2 each, and where a NaN is involved both sides get g (torch 1.13:
 * only a strictly smaller side is masked out) */
KERNEL2(maximum, a, b, (isnan(a) || a > b) ? a : b)
KERNEL2(minimum, a, b, (isnan(a) || a < b) ? a : b)
KERNEL3(share_max, g, mine, other, mine == other ? g / 2 : (mine < other ? 0 : g))
KERNEL3(share_min, g, mine, other, mine == other ? g / 2 : (mine > other ? 0 : g))
static void extremum_backward(tg_node *n, tg_tensor *g, const char *fn, tg_kernel share)
{
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (tg_needs_grad(a)) tg_accum_grad(a, tg__map(fn, share, 3, (tg_tensor *[]){g, a, b}, NULL));
    if (tg_needs_grad(b)) tg_accum_grad(b, tg__map(fn, share, 3, (tg_tensor *[]){g, b, a}, NULL));
}
static void maximum_backward(tg_node *n, tg_tensor *g)
{
    extremum_backward(n, g, "tg_maximum", KERNELS(share_max));
}
static void minimum_backward(tg_node *n, tg_tensor *g)
{
    extremum_backward(n, g, "tg_minimum", KERNELS(share_min));
}
tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b) { return binary("tg_maximum", "maximum", KERNELS(maximum), maximum_backward, 0, a, b); }
tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b) { return binary("tg_minimum", "minimum", KERNELS(minimum), minimum_backward, 0, a, b); }

/* --- fused gate updates ---------------------------------------------------- */

/* y = s + w (e - s);  ds = g (1 - w), de = g w, dw = g (e - s)
 * Computed from the nearer end, as torch, so that w = 1 gives e exactly. */
/* torch 1.13's two-sided form, exact at w = 0 and w = 1; a negative
 * weight takes the first side (later versions compare |w|, which differs
 * for w < -0.5: rounding, and NaN where torch 1.13 gives an infinity) */
KERNEL3(lerp, s, e, w, w < 0.5 ? s + w * (e - s) : e - (e - s) * (1 - w))
KERNEL2(one_minus_times, g, w, g * (1 - w))
static void lerp_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *s = n->inputs[0], *e = n->inputs[1], *w = n->inputs[2];
    if (tg_needs_grad(s)) tg_accum_grad(s, tg__map("tg_lerp", KERNELS(one_minus_times), 2, (tg_tensor *[]){g, w}, NULL));
    if (tg_needs_grad(e)) tg_accum_grad(e, tg_mul(g, w));
    if (tg_needs_grad(w)) tg_accum_grad(w, tg_mul(g, tg_sub(e, s)));
}
tg_tensor *tg_lerp(tg_tensor *start, tg_tensor *end, tg_tensor *weight)
{
    tg_tensor *in[3] = {start, end, weight};
    tg_tensor *y = tg__map("tg_lerp", KERNELS(lerp), 3, in, NULL);
    tg__unread(tg_record("lerp", lerp_backward, y, 3, in), 0, true);
    return y;
}

/* y = t + v a b;  dt = g, da = v g b, db = v g a */
KERNEL3(addcmul, t, a, b, t + ARG(t, 0) * a * b)
static void addcmul_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *t = n->inputs[0], *a = n->inputs[1], *b = n->inputs[2];
    double v = n->farg[0];
    tg_accum_grad(t, g);
    /* v = 1 (the LSTM cell update) skips a pass: b * 1 is b exactly. */
    if (tg_needs_grad(a)) tg_accum_grad(a, tg_mul(g, v == 1 ? b : tg_mul_scalar(b, v)));
    if (tg_needs_grad(b)) tg_accum_grad(b, tg_mul(g, v == 1 ? a : tg_mul_scalar(a, v)));
}
tg_tensor *tg_addcmul(tg_tensor *t, tg_tensor *a, tg_tensor *b, double value)
{
    tg_tensor *in[3] = {t, a, b};
    tg_tensor *y = tg__map("tg_addcmul", KERNELS(addcmul), 3, in, &value);
    tg_node *n = tg__unread(tg_record("addcmul", addcmul_backward, y, 3, in), 1, true);
    if (n) n->farg[0] = value;
    return y;
}

/* --- comparisons and selection (no gradient through the mask) -------------- */

KERNEL2(eq, a, b, a == b)
KERNEL2(ne, a, b, a != b)
KERNEL2(lt, a, b, a < b)
KERNEL2(le, a, b, a <= b)
KERNEL2(gt, a, b, a > b)
KERNEL2(ge, a, b, a >= b)
tg_tensor *tg_eq(tg_tensor *a, tg_tensor *b) { return binary("tg_eq", "eq", KERNELS(eq), NULL, 0, a, b); }
tg_tensor *tg_ne(tg_tensor *a, tg_tensor *b) { return binary("tg_ne", "ne", KERNELS(ne), NULL, 0, a, b); }
tg_tensor *tg_lt(tg_tensor *a, tg_tensor *b) { return binary("tg_lt", "lt", KERNELS(lt), NULL, 0, a, b); }
tg_tensor *tg_le(tg_tensor *a, tg_tensor *b) { return binary("tg_le", "le", KERNELS(le), NULL, 0, a, b); }
tg_tensor *tg_gt(tg_tensor *a, tg_tensor *b) { return binary("tg_gt", "gt", KERNELS(gt), NULL, 0, a, b); }
tg_tensor *tg_ge(tg_tensor *a, tg_tensor *b) { return binary("tg_ge", "ge", KERNELS(ge), NULL, 0, a, b); }

/* y = m ? a : b;  da = m ? g : 0, db = m ? 0 : g */
KERNEL3(where, cond, a, b, cond != 0 ? a : b)
static void where_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *m = n->inputs[0], *a = n->inputs[1], *b = n->inputs[2];
    tg_tensor *zero = tg_zeros(g->dtype, 0, NULL);
    if (tg_needs_grad(a)) tg_accum_grad(a, tg_where(m, g, zero));
    if (tg_needs_grad(b)) tg_accum_grad(b, tg_where(m, zero, g));
}
/* The mask is an input of the node but never receives a gradient. */
static tg_tensor *where_impl(const char *fn, tg_tensor *mask, tg_tensor *a, tg_tensor *b)
{
    if (!tg__check(fn, mask) || !tg__check(fn, a) || !tg__check(fn, b)) return NULL;
    tg_tensor *m = mask->dtype == a->dtype ? mask : tg_cast(mask, a->dtype);
    tg_tensor *in[3] = {m, a, b};
    tg_tensor *y = tg__map(fn, KERNELS(where), 3, in, NULL);
    tg__unread(tg_record("where", where_backward, y, 3, in), 6, true);
    return y;
}

tg_tensor *tg_where(tg_tensor *mask, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[3] = {mask, a, b};
    tg_scope *s = tg__autoscope(3, in);
    return tg__autoscope_keep(s, where_impl("tg_where", mask, a, b));
}

tg_tensor *tg_masked_fill(tg_tensor *x, tg_tensor *mask, double value)
{
    if (!tg__check_float("tg_masked_fill", x)) return NULL;
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, where_impl("tg_masked_fill", mask, tg_full(x->dtype, 0, NULL, value), x));
}
