/* New differentiable ops from outside the library: the worked example of
 * docs/add-an-op.md. Three ways, from the least code to the most:
 *
 *   mish(x)         = x tanh(softplus(x))                     elementwise, tg_map
 *   logaddexp(a, b) = log(exp(a) + exp(b))                    elementwise, two inputs that broadcast
 *   reverse_grad(x) = x, with gradient -lambda g              any code, tg_record
 *
 * Each is checked: values against the same function composed from the
 * library's ops, gradients with tg_gradcheck (the gradient reversal against
 * its definition instead, since it lies about its derivative on purpose).
 * Exits with status 1 if a check fails; with --quiet, prints only the
 * checks that fail. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tapegrad/tapegrad.h>

#include "args.h"

/* --- mish: one input, value and derivative of one element --------------------------- */

/* y = x tanh(sp), sp = log(1 + e^x);  dy/dx = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x) */
static double mish_value(const double *x, const double *args)
{
    (void)args;
    return x[0] * tanh(log1p(exp(x[0])));
}

static double mish_grad(int k, const double *x, const double *args)
{
    (void)k, (void)args;
    double t = tanh(log1p(exp(x[0])));
    return t + x[0] * (1 - t * t) / (1 + exp(-x[0]));
}

static const tg_map_op mish_op = {"mish", 1, mish_value, mish_grad, NULL, NULL};

static tg_tensor *mish(tg_tensor *x) { return tg_map(&mish_op, 1, &x, 0, NULL); }

/* --- logaddexp: two inputs ------------------------------------------------------------ */

/* y = m + log(1 + e^-|a - b|), m = max(a, b) (no overflow);
 * dy/da = sigmoid(a - b), dy/db = sigmoid(b - a) */
static double logaddexp_value(const double *x, const double *args)
{
    (void)args;
    return fmax(x[0], x[1]) + log1p(exp(-fabs(x[0] - x[1])));
}

static double logaddexp_grad(int k, const double *x, const double *args)
{
    (void)args;
    return 1 / (1 + exp(k == 0 ? x[1] - x[0] : x[0] - x[1]));
}

static const tg_map_op logaddexp_op = {"logaddexp", 2, logaddexp_value, logaddexp_grad, NULL, NULL};

static tg_tensor *logaddexp(tg_tensor *a, tg_tensor *b)
{
    return tg_map(&logaddexp_op, 2, (tg_tensor *[]){a, b}, 0, NULL);
}

/* --- gradient reversal (Ganin & Lempitsky 2015): any forward, any backward ------------ */

/* dx = -lambda g; lambda was saved in farg[0] */
static void reverse_grad_backward(tg_node *node, tg_tensor *grad_out)
{
    tg_accum_grad(node->inputs[0], tg_mul_scalar(grad_out, -node->farg[0]));
}

/* y = x (a copy made without recording: this op's node is the only one) */
static tg_tensor *reverse_grad(tg_tensor *x, double lambda)
{
    bool was = tg_no_grad_begin();
    tg_tensor *y = tg_clone(x);
    tg_no_grad_end(was);
    if (!y) return NULL;
    tg_node *node = tg_record("reverse_grad", reverse_grad_backward, y, 1, &x);
    if (node) node->farg[0] = lambda;
    return y;
}

/* --- checks ------------------------------------------------------------------------------ */

static tg_tensor *mish_of_view(int n, tg_tensor **in, void *ctx)
{
    (void)n, (void)ctx;
    return mish(tg_transpose(in[0], 0, 1)); /* any strides */
}

static tg_tensor *logaddexp_broadcast(int n, tg_tensor **in, void *ctx)
{
    (void)n, (void)ctx;
    return logaddexp(in[0], in[1]); /* (3, 4) and (4) */
}

/* Largest |a - b| over the elements. */
static double max_diff(tg_tensor *a, tg_tensor *b) { return tg_item(tg_max(tg_abs(tg_sub(a, b)))); }

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--quiet]\n"
            "Defines mish, logaddexp and a gradient reversal as new ops and checks their values and\n"
            "gradients; exits 1 if a check fails (--quiet prints only the checks that fail).\n",
            argv0);
}

int main(int argc, char **argv)
{
    bool quiet = false;
    int code = arg_quiet_only("add_an_op", argc, argv, usage, &quiet);
    if (code >= 0) return code;
    tg_manual_seed(3);
    int failures = 0;
    tg_tensor *x = tg_requires_grad(tg_rand(TG_F64, 2, (int64_t[]){3, 4}, -4, 4), true);
    tg_tensor *b = tg_requires_grad(tg_rand(TG_F64, 1, (int64_t[]){4}, -4, 4), true);
    tg_scope *s = tg_scope_begin();

    /* mish against tanh(softplus) composed from ops, in float64 and float32 */
    double diff = max_diff(mish(x), tg_mul(x, tg_tanh(tg_softplus(x, 1, 20))));
    double diff32 = max_diff(mish(tg_cast(x, TG_F32)), tg_cast(tg_mul(x, tg_tanh(tg_softplus(x, 1, 20))), TG_F32));
    tg_gradcheck_result r;
    int status = tg_gradcheck(mish_of_view, 1, &x, NULL, 1e-6, 1e-6, 1e-4, &r);
    bool failed = status != 0 || diff > 1e-12 || diff32 > 1e-5;
    if (!quiet || failed)
        printf("mish: values within %.1e (float64) and %.1e (float32) of x tanh(softplus(x)); gradcheck %s\n", diff,
               diff32, status == 0 ? "ok" : "FAILED");
    failures += failed;

    /* logaddexp against log(exp(a) + exp(b)), broadcasting b over the rows of x */
    diff = max_diff(logaddexp(x, b), tg_log(tg_add(tg_exp(x), tg_exp(b))));
    status = tg_gradcheck(logaddexp_broadcast, 2, (tg_tensor *[]){x, b}, NULL, 1e-6, 1e-6, 1e-4, &r);
    failed = status != 0 || diff > 1e-12;
    if (!quiet || failed)
        printf("logaddexp: values within %.1e of log(exp(a) + exp(b)); gradcheck %s\n", diff,
               status == 0 ? "ok" : "FAILED");
    failures += failed;

    /* gradient reversal: the gradient of sum(y^2) through it is -0.5 times 2 x */
    tg_zero_grad(1, &x);
    tg_tensor *y = reverse_grad(x, 0.5);
    tg_backward(tg_sum(tg_square(y), 0, NULL, false), NULL);
    diff = max_diff(x->grad, tg_mul_scalar(x, -1.0));
    failed = diff > 1e-15;
    if (!quiet || failed)
        printf("reverse_grad: values equal x (%s), gradient within %.1e of -lambda * 2x\n",
               max_diff(y, x) == 0 ? "yes" : "no", diff);
    failures += failed;

    tg_scope_end(s);
    tg_free(x);
    tg_free(b);
    return failures ? 1 : 0;
}
