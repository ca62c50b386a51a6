/* tg_map: a differentiable elementwise op from per-element functions. The
 * loops are map.c's row kernels' (broadcasting, strides, threads); each
 * element calls the op's function.
 *
 *   y = f(x_1, ..., x_n)
 *   dx_k = g * df/dx_k(x_1, ..., x_n)   (summed down to x_k's shape) */
#include <string.h>

#include <tapegrad/autograd.h>
#include <tapegrad/custom.h>
#include <tapegrad/elementwise.h>
#include "map.h"

/* What a row kernel needs: the op, its arguments, which partial derivative
 * (backward) and whether operand 1 is the incoming gradient. */
typedef struct {
    const tg_map_op *op;
    const double *args;
    int n, k;
    bool times_grad;
} map_ctx;

/* Gathers element i of each input (operands first .. first + n - 1). */
#define GATHER(T, x, first)                                                              \
    for (int j = 0; j < c->n; j++) x[j] = *(const T *)(p[(first) + j] + i * s[(first) + j])

/* out = value(x) */
static void value_f64(int64_t len, char **p, const int64_t *s, void *ctx)
{
    const map_ctx *c = ctx;
    double x[TG_MAP_MAX_INPUTS];
    for (int64_t i = 0; i < len; i++) {
        GATHER(double, x, 1);
        *(double *)(p[0] + i * s[0]) = c->op->value(x, c->args);
    }
}

static void value_f32(int64_t len, char **p, const int64_t *s, void *ctx)
{
    const map_ctx *c = ctx;
    float x[TG_MAP_MAX_INPUTS];
    double wide[TG_MAP_MAX_INPUTS];
    for (int64_t i = 0; i < len; i++) {
        GATHER(float, x, 1);
        if (c->op->value_f32) {
            *(float *)(p[0] + i * s[0]) = c->op->value_f32(x, c->args);
            continue;
        }
        for (int j = 0; j < c->n; j++) wide[j] = x[j];
        *(float *)(p[0] + i * s[0]) = (float)c->op->value(wide, c->args);
    }
}

/* out = g * grad(k, x), or grad(k, x) alone (times_grad false) */
static void grad_f64(int64_t len, char **p, const int64_t *s, void *ctx)
{
    const map_ctx *c = ctx;
    int first = c->times_grad ? 2 : 1;
    double x[TG_MAP_MAX_INPUTS];
    for (int64_t i = 0; i < len; i++) {
        GATHER(double, x, first);
        double d = c->op->grad(c->k, x, c->args);
        *(double *)(p[0] + i * s[0]) = c->times_grad ? *(const double *)(p[1] + i * s[1]) * d : d;
    }
}

static void grad_f32(int64_t len, char **p, const int64_t *s, void *ctx)
{
    const map_ctx *c = ctx;
    int first = c->times_grad ? 2 : 1;
    float x[TG_MAP_MAX_INPUTS];
    double wide[TG_MAP_MAX_INPUTS];
    for (int64_t i = 0; i < len; i++) {
        GATHER(float, x, first);
        float d;
        if (c->op->grad_f32) {
            d = c->op->grad_f32(c->k, x, c->args);
        } else {
            for (int j = 0; j < c->n; j++) wide[j] = x[j];
            d = (float)c->op->grad(c->k, wide, c->args);
        }
        *(float *)(p[0] + i * s[0]) = c->times_grad ? *(const float *)(p[1] + i * s[1]) * d : d;
    }
}

/* The kernels take at most 4 operands: with 3 inputs the gradient is
 * multiplied in a second pass. */
static void map_backward(tg_node *node, tg_tensor *g)
{
    const tg_map_op *op = node->ctx;
    int n = node->n_inputs;
    for (int k = 0; k < n; k++) {
        if (!tg_needs_grad(node->inputs[k])) continue;
        map_ctx c = {op, node->farg, n, k, n < TG_MAP_MAX_INPUTS};
        tg_tensor *operands[TG_MAP_MAX_INPUTS + 1] = {g};
        memcpy(operands + 1, node->inputs, sizeof *operands * (size_t)n);
        tg_kernel kernel = {{grad_f32, grad_f64}};
        tg_tensor *dx = c.times_grad ? tg__map_ctx(op->name, kernel, n + 1, operands, &c)
                                     : tg_mul(g, tg__map_ctx(op->name, kernel, n, node->inputs, &c));
        tg_accum_grad(node->inputs[k], dx);
    }
}

tg_tensor *tg_map(const tg_map_op *op, int n, tg_tensor *const *inputs, int n_args, const double *args)
{
    if (!op) return tg_error("tg_map: NULL op");
    const char *name = op->name ? op->name : "tg_map";
    if (op->n_inputs < 1 || op->n_inputs > TG_MAP_MAX_INPUTS)
        return tg_error("tg_map: op '%s' has %d inputs, expected 1 to %d", name, op->n_inputs, TG_MAP_MAX_INPUTS);
    if (!op->value || !op->grad)
        return tg_error("tg_map: op '%s' needs its double value and grad functions (%s is NULL)", name,
                        op->value ? "grad" : "value");
    if (n != op->n_inputs || !inputs)
        return tg_error("tg_map: op '%s' takes %d inputs, got %d%s", name, op->n_inputs, n,
                        inputs ? "" : " in a NULL array");
    if (n_args < 0 || n_args > TG_MAP_MAX_ARGS)
        return tg_error("tg_map: op '%s' got %d scalar arguments, expected 0 to %d", name, n_args, TG_MAP_MAX_ARGS);
    if (n_args > 0 && !args)
        return tg_error("tg_map: op '%s' got %d scalar arguments in a NULL array", name, n_args);
    double saved[TG_MAP_MAX_ARGS] = {0};
    if (n_args > 0) memcpy(saved, args, sizeof *args * (size_t)n_args);
    /* The node's copy of the op first (a caller may build op on its stack
     * and return before backward); out of memory then, nothing is made.
     * tg_record's own test of whether it records. */
    tg_map_op *kept = NULL;
    if (tg_is_grad_enabled() && tg__any_requires_grad(n, inputs) && !(kept = tg__arena_alloc(sizeof *op))) return NULL;
    map_ctx c = {op, saved, n, 0, false};
    tg_tensor *y = tg__map_ctx(name, (tg_kernel){{value_f32, value_f64}}, n, inputs, &c);
    tg_node *node = tg_record(name, map_backward, y, n, inputs);
    if (node) {
        *kept = *op;
        node->ctx = kept;
        memcpy(node->farg, saved, sizeof saved);
    }
    return y;
}
