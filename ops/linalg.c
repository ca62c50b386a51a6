/* Matrix products. Each forward is a GEMM over strided views; each backward
 * is two more products with transposed views of the same memory:
 *     y = a b   =>   da = g b^T,   db = a^T g */
#include <string.h>

#include <tapegrad/elementwise.h>
#include <tapegrad/gemm.h>
#include "../core/internal.h"
#include <tapegrad/linalg.h>
#include <tapegrad/reduce.h>

/* c = a b + beta c for 2-D views of one float dtype; no autograd. Returns
 * 0, or -1 with the GEMM's message (out of memory for packing buffers). */
static int gemm2d(tg_tensor *c, const tg_tensor *a, const tg_tensor *b, double beta)
{
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (c->dtype == TG_F32)
        return tg_gemm_f32(M, N, K, 1.0f, tg_data(a), a->stride[0], a->stride[1], tg_data(b), b->stride[0],
                    b->stride[1], (float)beta, tg_data(c), c->stride[0], c->stride[1]);
    return tg_gemm_f64(M, N, K, 1.0, tg_data(a), a->stride[0], a->stride[1], tg_data(b), b->stride[0],
                    b->stride[1], beta, tg_data(c), c->stride[0], c->stride[1]);
}

/* c = a b + bias broadcast over c's rows (tg__gemm_bias): bias is a
 * contiguous (N) tensor of c's dtype (bias_row). */
static int gemm2d_bias(tg_tensor *c, const tg_tensor *a, const tg_tensor *b, const tg_tensor *bias)
{
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (c->dtype == TG_F32)
        return tg__gemm_bias_f32(M, N, K, tg_data(a), a->stride[0], a->stride[1], tg_data(b), b->stride[0],
                                 b->stride[1], tg_data(bias), tg_data(c), c->stride[0], c->stride[1]);
    return tg__gemm_bias_f64(M, N, K, tg_data(a), a->stride[0], a->stride[1], tg_data(b), b->stride[0],
                             b->stride[1], tg_data(bias), tg_data(c), c->stride[0], c->stride[1]);
}

/* A bias the product can add itself: (out) values of y's dtype, in a row. */
static bool bias_row(const tg_tensor *bias, const tg_tensor *y)
{
    return bias && bias->ndim == 1 && bias->shape[0] == y->shape[y->ndim - 1] && bias->dtype == y->dtype &&
           (bias->stride[0] == 1 || bias->shape[0] == 1);
}

/* The (rows, cols) matrix at batch index `batch` of t, whose leading dims
 * broadcast against the batch shape bshape (nb dims). */
static tg_tensor matrix_at(const tg_tensor *t, int nb, const int64_t *bshape, int64_t batch)
{
    int64_t off = t->offset;
    int lead = t->ndim - 2;
    for (int d = nb - 1; d >= 0; d--) {
        int64_t idx = batch % bshape[d];
        batch /= bshape[d];
        int td = d - (nb - lead);
        if (td >= 0 && t->shape[td] != 1) off += idx * t->stride[td];
    }
    return tg__header(t, 2, t->shape + lead, t->stride + lead, off);
}

/* y = a b over broadcast batch dims; a (..., n, k), b (..., k, m), both >= 2-D. */
static void batched_backward(tg_node *n, tg_tensor *g);

static tg_tensor *batched(const char *fn, tg_tensor *a, tg_tensor *b, bool broadcast)
{
    char s1[128], s2[128];
    if (a->shape[a->ndim - 1] != b->shape[b->ndim - 2])
        return tg_error("%s: shapes %s and %s cannot be multiplied (%lld != %lld)", fn,
                        tg_shape_str(a, s1, sizeof s1), tg_shape_str(b, s2, sizeof s2),
                        (long long)a->shape[a->ndim - 1], (long long)b->shape[b->ndim - 2]);
    if (a->dtype != b->dtype)
        return tg_error("%s: expected both inputs to have the same dtype, got %s and %s", fn,
                        tg_dtype_name(a->dtype), tg_dtype_name(b->dtype));
    /* Broadcast the batch dims, treating each operand's last two as a matrix. */
    tg_tensor ab = tg__header(a, a->ndim - 2, a->shape, a->stride, a->offset);
    tg_tensor bb = tg__header(b, b->ndim - 2, b->shape, b->stride, b->offset);
    int nb = ab.ndim > bb.ndim ? ab.ndim : bb.ndim;
    bool match = broadcast || ab.ndim == bb.ndim;
    for (int d = 0; match && d < nb; d++) {
        int da = d - (nb - ab.ndim), db = d - (nb - bb.ndim);
        int64_t sa = da >= 0 ? ab.shape[da] : 1, sb = db >= 0 ? bb.shape[db] : 1;
        match = sa == sb || (broadcast && (sa == 1 || sb == 1));
    }
    if (!match)
        return tg_error("%s: the batch dims of shapes %s and %s %s", fn, tg_shape_str(a, s1, sizeof s1),
                        tg_shape_str(b, s2, sizeof s2), broadcast ? "do not broadcast" : "must match");
    int64_t shape[TG_MAX_DIMS];
    if (tg__broadcast_shape(fn, &ab, &bb, &nb, shape) < 0) return NULL;
    if (nb + 2 > TG_MAX_DIMS) return tg_error("%s: result would have more than %d dims", fn, TG_MAX_DIMS);
    int64_t batches = 1;
    for (int d = 0; d < nb; d++) batches *= shape[d];
    shape[nb] = a->shape[a->ndim - 2];
    shape[nb + 1] = b->shape[b->ndim - 1];
    tg_tensor *y = tg__new(fn, a->dtype, nb + 2, shape);
    if (!y) return NULL;
    for (int64_t i = 0; i < batches && tg_numel(y) > 0; i++) {
        tg_tensor am = matrix_at(a, nb, shape, i), bm = matrix_at(b, nb, shape, i), ym = matrix_at(y, nb, shape, i);
        if (gemm2d(&ym, &am, &bm, 0.0) < 0) {
            tg_free(y);
            return tg_error("%s: %s", fn, tg_last_error());
        }
    }
    tg_tensor *in[2] = {a, b};
    tg__unread(tg_record("matmul", batched_backward, y, 2, in), tg__product_unread(1, in), true);
    return y;
}

static void batched_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    /* tg_matmul broadcasts the batch dims again; tg_accum_grad sums them back. */
    if (tg__product_grad(n, 0)) tg_accum_grad(a, tg_matmul(g, tg_transpose(b, -1, -2)));
    if (tg__product_grad(n, 1)) tg_accum_grad(b, tg_matmul(tg_transpose(a, -1, -2), g));
}

tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b)
{
    if (!tg__check_float("tg_matmul", a) || !tg__check_float("tg_matmul", b)) return NULL;
    if (a->ndim == 0 || b->ndim == 0)
        return tg_error("tg_matmul: both arguments to matmul need to be at least 1D, but they are %dD and %dD",
                        a->ndim, b->ndim);
    /* Checked here so that the message names the shapes as given, before
     * 1-D operands are promoted. */
    int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim == 1 ? 0 : b->ndim - 2];
    if (ka != kb) {
        char s1[128], s2[128];
        return tg_error("tg_matmul: shapes %s and %s cannot be multiplied (%lld != %lld)",
                        tg_shape_str(a, s1, sizeof s1), tg_shape_str(b, s2, sizeof s2), (long long)ka, (long long)kb);
    }
    /* Promote 1-D operands to matrices with views and drop the dim after. */
    tg_tensor *in[2] = {a, b};
    tg_scope *s = tg__autoscope(2, in);
    tg_tensor *am = a->ndim == 1 ? tg_unsqueeze(a, 0) : a;
    tg_tensor *bm = b->ndim == 1 ? tg_unsqueeze(b, -1) : b;
    /* The views fail only when memory does; the message is theirs. */
    tg_tensor *y = am && bm ? batched("tg_matmul", am, bm, true) : NULL;
    if (y && b->ndim == 1) y = tg_squeeze(y, -1);
    if (y && a->ndim == 1) y = tg_squeeze(y, a->ndim == 1 && b->ndim == 1 ? -1 : -2);
    return tg__autoscope_keep(s, y);
}

tg_tensor *tg_bmm(tg_tensor *a, tg_tensor *b)
{
    if (!tg__check_float("tg_bmm", a) || !tg__check_float("tg_bmm", b)) return NULL;
    if (a->ndim != 3 || b->ndim != 3)
        return tg_error("tg_bmm: batch1 and batch2 must be 3D tensors, got %dD and %dD", a->ndim, b->ndim);
    return batched("tg_bmm", a, b, false);
}

tg_tensor *tg_outer(tg_tensor *a, tg_tensor *b)
{
    if (!tg__check_float("tg_outer", a) || !tg__check_float("tg_outer", b)) return NULL;
    if (a->ndim != 1 || b->ndim != 1)
        return tg_error("tg_outer: expected 1-D inputs, got %dD and %dD", a->ndim, b->ndim);
    if (a->dtype != b->dtype)
        return tg_error("tg_outer: expected both inputs to have the same dtype, got %s and %s",
                        tg_dtype_name(a->dtype), tg_dtype_name(b->dtype));
    tg_tensor *in[2] = {a, b};
    tg_scope *s = tg__autoscope(2, in);
    tg_tensor *y = tg_mul(tg_unsqueeze(a, 1), tg_unsqueeze(b, 0));
    /* name the function the user called (a result too large for memory) */
    if (!y) tg_error("tg_outer: %s", tg_last_error());
    return tg__autoscope_keep(s, y);
}

/* --- linear ----------------------------------------------------------------
 * y = x W^T + b with x viewed as (N, in):
 *     dx = g W,  dW = g^T x,  db = g summed down to b's shape */

/* N: the product of x's leading dims (spelled out rather than -1, which is
 * ambiguous when in_features is 0). */
static int64_t rows_of(const tg_tensor *x)
{
    int64_t rows = 1;
    for (int d = 0; d < x->ndim - 1; d++) rows *= x->shape[d];
    return rows;
}

/* t (..., cols) as a (rows, cols) matrix header on the stack, when its
 * leading dims merge into one stride; false otherwise. Stack headers keep
 * the op from leaving temporaries behind when no scope is open. */
static bool as_matrix(const tg_tensor *t, tg_tensor *m)
{
    int64_t rows = rows_of(t), row_stride = 0, next_stride = 0;
    bool first = true;
    for (int d = t->ndim - 2; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        /* compare with the last dim kept, not with d + 1, which may be a
         * skipped size-1 dim of any stride */
        if (first) row_stride = t->stride[d];
        else if (t->stride[d] != next_stride) return false;
        next_stride = t->stride[d] * t->shape[d];
        first = false;
    }
    *m = tg__header(t, 2, (int64_t[]){rows, t->shape[t->ndim - 1]},
                    (int64_t[]){row_stride, t->stride[t->ndim - 1]}, t->offset);
    return true;
}


/* The backward of tg_linear and of tg__linear_sum: inputs x0, W0, x1, W1,
 * ... (iarg[0] pairs, 0 meaning 1), then the bias if any. */
static void linear_backward(tg_node *n, tg_tensor *g)
{
    int terms = n->iarg[0] ? (int)n->iarg[0] : 1;
    tg_tensor *bias = n->n_inputs > 2 * terms ? n->inputs[2 * terms] : NULL;
    tg_tensor g2, x2;
    as_matrix(g, &g2); /* g is contiguous */
    /* The weights' gradients first, while g is still in cache from the
     * backward that made it: these products read g by columns (g^T), which
     * from further away costs a cache miss per row, where dx = g W reads it
     * by rows and streams. They go straight into the gradients (added
     * with beta = 1, or stored, below: no temporary, no pass over (out,
     * in)), in one call that packs g^T once for all the terms. */
    tg__gemm_out outs[TG__LINEAR_SUM_MAX];
    tg_tensor *slots[TG__LINEAR_SUM_MAX];
    bool fresh[TG__LINEAR_SUM_MAX];
    int n_outs = 0, n_fresh = 0;
    for (int k = 0; k < terms; k++) {
        tg_tensor *x = n->inputs[2 * k], *w = n->inputs[2 * k + 1];
        if (!tg__product_grad(n, 2 * k + 1)) continue;
        tg_tensor *xc = as_matrix(x, &x2) ? x : tg__contiguous(x);
        tg_tensor *slot = xc && as_matrix(xc, &x2) ? tg__grad_slot_unset(w, &fresh[n_outs]) : NULL;
        if (!slot) return;
        n_fresh += fresh[n_outs];
        slots[n_outs] = slot;
        outs[n_outs++] = (tg__gemm_out){x2.shape[1], tg_data(&x2), x2.stride[0], x2.stride[1],
                                        tg_data(slot), slot->stride[0], slot->stride[1]};
    }
    /* Gradients made just now are stored, not added onto zeros (beta = 0:
     * no pass to zero them, no read of C), when all of them are new (a
     * pass's first step; the call has one beta). */
    bool store = n_outs && n_fresh == n_outs;
    for (int k = 0; k < n_outs && !store; k++)
        if (fresh[k]) tg_fill_(slots[k], 0.0);
    /* A bias of (out) gets its gradient, g's rows summed, from that call
     * too, from the packed g^T. */
    tg_tensor g2t = tg__transposed(&g2);
    tg_tensor *bias_slot = n_outs && bias && bias->ndim == 1 && bias->shape[0] == g2.shape[1] ? tg_grad_slot(bias) : NULL;
    int summed = 0;
    if (n_outs) {
        summed = g->dtype == TG_F32
                     ? tg__gemm_shared_a_f32(g2t.shape[0], g2t.shape[1], tg_data(&g2t), g2t.stride[0], g2t.stride[1],
                                             n_outs, outs, store ? 0.0f : 1.0f,
                                             bias_slot ? tg_data(bias_slot) : NULL)
                     : tg__gemm_shared_a_f64(g2t.shape[0], g2t.shape[1], tg_data(&g2t), g2t.stride[0], g2t.stride[1],
                                             n_outs, outs, store ? 0.0 : 1.0,
                                             bias_slot ? tg_data(bias_slot) : NULL);
        if (summed < 0) return;
    }
    /* dx = g W goes straight into x's gradient buffer: stored there when
     * it is new, else added onto what is there (beta = 1: a recurrent
     * state's gradient from the output, onto which the next step's
     * arrives), each K block of the product in turn, with no temporary
     * and no pass adding it. */
    for (int k = 0; k < terms; k++) {
        tg_tensor *x = n->inputs[2 * k], *w = n->inputs[2 * k + 1];
        if (!tg__product_grad(n, 2 * k)) continue;
        bool fresh;
        tg_tensor *slot = tg__grad_slot_unset(x, &fresh), dx2;
        if (!slot) return;
        /* Contiguous, of x's shape: a new buffer, or a gradient adopted whole. */
        as_matrix(slot, &dx2);
        if (gemm2d(&dx2, &g2, w, fresh ? 0.0 : 1.0) < 0) return;
    }
    if (!bias_slot || summed != 1) tg_accum_grad(bias, g);
}

/* False with a message unless wt is a 2-D (in, out) tensor of w's dtype,
 * w (out, in) being the weight it is a transposed copy of. */
static bool transposed_copy_matches(const char *fn, const tg_tensor *w, const tg_tensor *wt)
{
    if (tg__check_float(fn, wt) && wt->ndim == 2 && w->ndim == 2 && wt->shape[0] == w->shape[1] &&
        wt->shape[1] == w->shape[0] && wt->dtype == w->dtype)
        return true;
    char s1[128], s2[128];
    return TG__REJECT("%s: the transposed copy %s of the weight %s does not match it", fn,
                      wt ? tg_shape_str(wt, s1, sizeof s1) : "NULL", tg_shape_str(w, s2, sizeof s2));
}

static tg_tensor *linear(const char *fn, tg_tensor *x, tg_tensor *weight, tg_tensor *weight_t, tg_tensor *bias)
{
    if (!tg__check_float(fn, x) || !tg__check_float(fn, weight)) return NULL;
    if (bias && !tg__check_float(fn, bias)) return NULL;
    char s1[128], s2[128];
    if (weight->ndim != 2) return tg_error("%s: weight must be 2-D (out, in), got %s", fn, tg_shape_str(weight, s1, sizeof s1));
    if (x->ndim < 1)
        return tg_error("%s: both arguments to linear need to be at least 1D, but they are 0D and 2D (input %s, weight %s)",
                        fn, tg_shape_str(x, s1, sizeof s1), tg_shape_str(weight, s2, sizeof s2));
    if (x->shape[x->ndim - 1] != weight->shape[1])
        return tg_error("%s: mat1 and mat2 shapes cannot be multiplied (input %s, weight %s: %lld != %lld)", fn,
                        tg_shape_str(x, s1, sizeof s1), tg_shape_str(weight, s2, sizeof s2),
                        (long long)x->shape[x->ndim - 1], (long long)weight->shape[1]);
    if (x->dtype != weight->dtype || (bias && bias->dtype != x->dtype))
        return tg_error("%s: expected input, weight and bias of one dtype, got %s, %s and %s", fn,
                        tg_dtype_name(x->dtype), tg_dtype_name(weight->dtype),
                        bias ? tg_dtype_name(bias->dtype) : "none");
    int64_t out_f = weight->shape[0];
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = out_f;
    if (bias) {
        tg_tensor out_shape = tg__header(x, x->ndim, shape, x->stride, 0);
        int nd;
        int64_t b[TG_MAX_DIMS];
        if (tg__broadcast_shape(fn, &out_shape, bias, &nd, b) < 0 || nd != x->ndim ||
            memcmp(b, shape, sizeof(int64_t) * (size_t)nd) != 0)
            return tg_error("%s: bias of shape %s does not broadcast to the output shape %s", fn,
                            tg_shape_str(bias, s1, sizeof s1), tg_shape_str(&out_shape, s2, sizeof s2));
    }
    tg_tensor *y = tg__new(fn, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    bool was = tg_set_grad_enabled(false);
    tg_tensor x2, y2, wt = weight_t ? *weight_t : tg__transposed(weight);
    /* Leading dims that do not merge need a contiguous copy of x: a
     * temporary of this call, in a scope of its own when none is open. */
    bool merges = as_matrix(x, &x2);
    bool own_scope = !merges && tg__scope_depth() == 0;
    tg_scope *scratch = own_scope ? tg_scope_begin() : NULL;
    tg_tensor *xc = merges ? x : own_scope && !scratch ? NULL : tg__contiguous(x);
    bool done = xc && (merges || as_matrix(xc, &x2));
    if (done) {
        as_matrix(y, &y2);
        if (bias_row(bias, y)) {
            done = gemm2d_bias(&y2, &x2, &wt, bias) == 0;
        } else {
            if (bias) tg_copy_(y, bias); /* broadcast; the GEMM adds onto it */
            done = gemm2d(&y2, &x2, &wt, bias ? 1.0 : 0.0) == 0;
        }
    }
    if (scratch) tg_scope_end(scratch);
    tg_set_grad_enabled(was);
    if (!done) {
        tg_free(y);
        return tg_error("%s: %s", fn, tg_last_error());
    }
    tg_tensor *in[3] = {x, weight, bias};
    tg__unread(tg_record("linear", linear_backward, y, bias ? 3 : 2, in), 4 | tg__product_unread(1, in), true);
    return y;
}

tg_tensor *tg_linear(tg_tensor *x, tg_tensor *weight, tg_tensor *bias) { return linear("tg_linear", x, weight, NULL, bias); }

tg_tensor *tg__linear_sum(int n, tg_tensor *const *x, tg_tensor *const *weight, tg_tensor *const *weight_t,
                          tg_tensor *bias)
{
    const char *fn = "tg_linear";
    if (n < 1 || n > TG__LINEAR_SUM_MAX) return tg_error("%s: %d terms, expected 1 to %d", fn, n, TG__LINEAR_SUM_MAX);
    for (int k = 0; k < n; k++)
        if (!tg__check_float(fn, x[k]) || !tg__check_float(fn, weight[k])) return NULL;
    if (bias && !tg__check_float(fn, bias)) return NULL;
    int64_t rows = x[0]->ndim == 2 ? x[0]->shape[0] : -1, out_f = weight[0]->ndim == 2 ? weight[0]->shape[0] : -1;
    tg_tensor xm[TG__LINEAR_SUM_MAX];
    for (int k = 0; k < n; k++) {
        const tg_tensor *wt = weight_t ? weight_t[k] : NULL;
        char s1[128], s2[128];
        if (x[k]->ndim != 2 || weight[k]->ndim != 2 || x[k]->shape[0] != rows || weight[k]->shape[0] != out_f ||
            x[k]->shape[1] != weight[k]->shape[1] || x[k]->dtype != x[0]->dtype || weight[k]->dtype != x[0]->dtype ||
            !as_matrix(x[k], &xm[k]))
            return tg_error("%s: term %d: input %s and weight %s do not make (%lld, %lld) rows of one dtype", fn, k,
                            tg_shape_str(x[k], s1, sizeof s1), tg_shape_str(weight[k], s2, sizeof s2),
                            (long long)rows, (long long)out_f);
        if (wt && !transposed_copy_matches(fn, weight[k], wt)) return NULL;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != out_f || bias->dtype != x[0]->dtype))
        return tg_error("%s: bias must be (%lld) of the inputs' dtype", fn, (long long)out_f);
    tg_tensor *y = tg__new(fn, x[0]->dtype, 2, (int64_t[]){rows, out_f});
    if (!y) return NULL;
    bool was = tg_set_grad_enabled(false);
    /* The first product adds the bias itself where it can (tg__gemm_bias);
     * otherwise the broadcast bias is copied in and the products add onto it. */
    bool in_product = bias_row(bias, y);
    bool done = !bias || in_product || tg_copy_(y, bias) == 0;
    for (int k = 0; k < n && done; k++) {
        tg_tensor wt = weight_t && weight_t[k] ? *weight_t[k] : tg__transposed(weight[k]);
        done = (k == 0 && in_product ? gemm2d_bias(y, &xm[k], &wt, bias)
                                     : gemm2d(y, &xm[k], &wt, bias || k > 0 ? 1.0 : 0.0)) == 0;
    }
    tg_set_grad_enabled(was);
    if (!done) {
        tg_free(y);
        return tg_error("%s: %s", fn, tg_last_error());
    }
    tg_tensor *in[2 * TG__LINEAR_SUM_MAX + 1];
    for (int k = 0; k < n; k++) in[2 * k] = x[k], in[2 * k + 1] = weight[k];
    in[2 * n] = bias;
    tg_node *node = tg__unread(tg_record("linear", linear_backward, y, 2 * n + (bias != NULL), in),
                               (1u << (2 * n)) | tg__product_unread(n, in), true);
    if (node) node->iarg[0] = n;
    return y;
}

tg_tensor *tg__linear_t(tg_tensor *x, tg_tensor *weight, tg_tensor *weight_t, tg_tensor *bias)
{
    const char *fn = "tg_linear";
    if (weight_t && (!tg__check_float(fn, weight) || !transposed_copy_matches(fn, weight, weight_t))) return NULL;
    return linear(fn, x, weight, weight_t, bias);
}
