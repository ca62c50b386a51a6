/* Shape and indexing ops. Data movement goes through tg_copy_ and tg_add_
 * on headers built on the stack (regions, flipped strides), so every op
 * handles any strides and its backward adds into the input's gradient
 * buffer in place. */
#include <stdio.h>
#include <string.h>

#include "../core/internal.h"
#include <tapegrad/shape.h>

/* --- helpers -----------------------------------------------------------------
 * Parts of tensors are stack headers from core (tg__slice, tg__region, ...). */

/* t with its element order reversed along the dims where flip[d] is set. */
static tg_tensor flipped(const tg_tensor *t, const bool *flip)
{
    int64_t stride[TG_MAX_DIMS], offset = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        bool reverse = flip[d] && t->shape[d] > 1;
        if (reverse) offset += (t->shape[d] - 1) * t->stride[d];
        stride[d] = reverse ? -t->stride[d] : t->stride[d];
    }
    return tg__header(t, t->ndim, t->shape, stride, offset);
}

/* A contiguous t seen as a (count, dim) matrix of rows. */
static tg_tensor as_rows(const tg_tensor *t, int64_t count, int64_t dim)
{
    return tg__header(t, 2, (int64_t[]){count, dim}, (int64_t[]){dim, 1}, t->offset);
}

/* t seen with ndim >= t->ndim dims: leading size-1 dims added. */
static tg_tensor with_leading_dims(const tg_tensor *t, int ndim)
{
    int64_t shape[TG_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) shape[d] = d < lead ? 1 : t->shape[d - lead];
    return tg__spread(t, ndim, shape);
}

/* --- cat, stack -------------------------------------------------------------
 * y = [x0, x1, ...] along dim;  dx_i = the slice of g that x_i filled */
/* torch.cat skips 1-D tensors of size 0 whatever the others' shapes, the
 * "no tensor" of older PyTorch versions. */
static bool legacy_empty(const tg_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

static void cat_backward(tg_node *n, tg_tensor *g)
{
    int dim = (int)n->iarg[0];
    int64_t start = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        tg_tensor *x = n->inputs[i];
        if (legacy_empty(x) && g->ndim != 1) {
            /* torch's gradient for it: empty, like it */
            if (tg_needs_grad(x)) tg_accum_grad(x, tg_zeros(x->dtype, 1, x->shape));
            continue;
        }
        int64_t len = x->shape[dim];
        if (tg_needs_grad(x)) tg_accum_grad(x, tg_narrow(g, dim, start, len));
        start += len;
    }
}

static bool same_dtype_all(const char *fn, tg_tensor *const *ts, int n)
{
    if (!ts || n < 1) return TG__REJECT("%s: expected a non-empty list of Tensors", fn);
    for (int i = 0; i < n; i++) {
        if (!tg__check(fn, ts[i])) return false;
        if (ts[i]->dtype != ts[0]->dtype)
            return TG__REJECT("%s: expected all tensors to have dtype %s, but tensor %d has %s", fn,
                              tg_dtype_name(ts[0]->dtype), i, tg_dtype_name(ts[i]->dtype));
    }
    return true;
}

tg_tensor *tg_cat(int n, tg_tensor *const *ts, int dim)
{
    const char *fn = "tg_cat";
    if (!same_dtype_all(fn, ts, n)) return NULL;
    for (int i = 0; i < n; i++)
        if (ts[i]->ndim == 0)
            return tg_error("%s: zero-dimensional tensor (at position %d) cannot be concatenated", fn, i);
    /* The first tensor that is not a legacy empty one sets the shape and
     * the range of dim; with none, the result is one of them, (0). */
    int ref = 0;
    while (ref < n && legacy_empty(ts[ref])) ref++;
    const tg_tensor *first = ts[ref < n ? ref : 0];
    int d = ref < n ? tg__dim(fn, dim, first->ndim) : 0;
    if (d < 0) return NULL;
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    shape[d] = 0;
    for (int i = 0; i < n; i++) {
        if (legacy_empty(ts[i]) && first->ndim != 1) continue;
        bool ok = ts[i]->ndim == first->ndim;
        for (int k = 0; ok && k < first->ndim; k++) ok = k == d || ts[i]->shape[k] == first->shape[k];
        if (!ok) {
            char s1[128], s2[128];
            return tg_error("%s: Sizes of tensors must match except in dimension %d (tensor %d is %s, tensor %d is %s)",
                            fn, d, ref, tg_shape_str(first, s1, sizeof s1), i, tg_shape_str(ts[i], s2, sizeof s2));
        }
        if (ts[i]->shape[d] > TG_MAX_NUMEL - shape[d])
            return tg_error("%s: the result would have 2^60 or more elements along dim %d (too large)", fn, d);
        shape[d] += ts[i]->shape[d];
    }
    tg_tensor *y = tg__new(fn, first->dtype, first->ndim, shape);
    if (!y) return NULL;
    bool was = tg_set_grad_enabled(false);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        if (legacy_empty(ts[i]) && first->ndim != 1) continue;
        tg_tensor part = tg__slice(y, d, start, ts[i]->shape[d]);
        tg_copy_(&part, ts[i]);
        start += ts[i]->shape[d];
    }
    tg_set_grad_enabled(was);
    tg_node *node = tg__unread(tg_record("cat", cat_backward, y, n, ts), 0xff, true);
    if (node) node->iarg[0] = d;
    return y;
}

/* y[..., i, ...] = x_i;  dx_i = g[..., i, ...] */
static void stack_backward(tg_node *n, tg_tensor *g)
{
    for (int i = 0; i < n->n_inputs; i++)
        if (tg_needs_grad(n->inputs[i])) tg_accum_grad(n->inputs[i], tg_select(g, (int)n->iarg[0], i));
}

tg_tensor *tg_stack(int n, tg_tensor *const *ts, int dim)
{
    const char *fn = "tg_stack";
    if (!same_dtype_all(fn, ts, n)) return NULL;
    const tg_tensor *first = ts[0];
    if (first->ndim >= TG_MAX_DIMS) return tg_error("%s: inputs already have %d dims", fn, TG_MAX_DIMS);
    int d = tg__dim(fn, dim, first->ndim + 1);
    if (d < 0) return NULL;
    for (int i = 1; i < n; i++)
        if (!tg_same_shape(ts[i], first)) {
            char s1[128], s2[128];
            return tg_error("%s: stack expects each tensor to be equal size, but got %s at entry 0 and %s at entry %d",
                            fn, tg_shape_str(first, s1, sizeof s1), tg_shape_str(ts[i], s2, sizeof s2), i);
        }
    int64_t shape[TG_MAX_DIMS];
    for (int k = 0, j = 0; k <= first->ndim; k++) shape[k] = k == d ? n : first->shape[j++];
    tg_tensor *y = tg__new(fn, first->dtype, first->ndim + 1, shape);
    if (!y) return NULL;
    bool was = tg_set_grad_enabled(false);
    for (int i = 0; i < n; i++) {
        tg_tensor part = tg__selected(y, d, i);
        tg_copy_(&part, ts[i]);
    }
    tg_set_grad_enabled(was);
    return tg__stacked(n, ts, d, y);
}

tg_tensor *tg__stacked(int n, tg_tensor *const *ts, int dim, tg_tensor *y)
{
    tg_node *node = tg__unread(tg_record("stack", stack_backward, y, n, ts), 0xff, true);
    if (node) node->iarg[0] = dim;
    return y;
}

/* --- flip ---------------------------------------------------------------------
 * y[i] = x[n-1-i] along each flipped dim;  dx = g read with the same flips */
static void flip_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    bool flip[TG_MAX_DIMS];
    for (int d = 0; d < TG_MAX_DIMS; d++) flip[d] = n->iarg[d] != 0;
    tg_tensor source = flipped(g, flip);
    if (slot) tg_add_(slot, &source, 1.0);
}

tg_tensor *tg_flip(tg_tensor *x, int ndims, const int *dims)
{
    const char *fn = "tg_flip";
    if (!tg__check(fn, x)) return NULL;
    if (ndims < 0 || ndims > TG_MAX_DIMS)
        return tg_error("%s: expected a list of up to %d dims, got %d", fn, TG_MAX_DIMS, ndims);
    if (ndims > 0 && !dims) return tg_error("%s: dims is NULL for ndims %d", fn, ndims);
    bool flip[TG_MAX_DIMS] = {false};
    for (int i = 0; i < ndims; i++) {
        int d = tg__dim(fn, dims[i], x->ndim);
        if (d < 0) return NULL;
        if (flip[d]) return tg_error("%s: dim %d appears multiple times in the list of dims", fn, dims[i]);
        flip[d] = true;
    }
    tg_tensor *y = tg__new_like(fn, x);
    if (!y) return NULL;
    tg_tensor source = flipped(x, flip);
    tg_copy_(y, &source);
    tg_node *node = tg_record("flip", flip_backward, y, 1, &x);
    for (int d = 0; node && d < TG_MAX_DIMS; d++) node->iarg[d] = flip[d];
    return y;
}

/* --- repeat -------------------------------------------------------------------
 * y = x tiled repeats[d] times along each dim;  dx = sum of g over the tiles */

/* Copy x into every tile of y, or (backward) add every tile of y into x.
 * x has y's ndim. */
static void repeat_tiles(tg_tensor *x, const tg_tensor *y, const int64_t *repeats, bool backward)
{
    if (tg_numel(y) == 0) return;
    int nd = y->ndim;
    int64_t tile[TG_MAX_DIMS] = {0}, start[TG_MAX_DIMS], ntiles = 1;
    for (int d = 0; d < nd; d++) ntiles *= repeats[d];
    for (int64_t k = 0; k < ntiles; k++) {
        for (int d = 0; d < nd; d++) start[d] = tile[d] * x->shape[d];
        tg_tensor part = tg__region(y, start, x->shape);
        if (backward) tg_add_(x, &part, 1.0);
        else tg_copy_(&part, x);
        for (int d = nd - 1; d >= 0 && ++tile[d] == repeats[d]; d--) tile[d] = 0;
    }
}

static void repeat_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    if (!slot) return;
    tg_tensor target = with_leading_dims(slot, g->ndim);
    repeat_tiles(&target, g, n->iarg, true);
}

tg_tensor *tg_repeat(tg_tensor *x, int ndim, const int64_t *repeats)
{
    const char *fn = "tg_repeat";
    if (!tg__check(fn, x)) return NULL;
    if (ndim > 0 && !repeats) return tg_error("%s: repeats is NULL for ndim %d", fn, ndim);
    if (ndim < x->ndim || ndim > TG_MAX_DIMS)
        return tg_error("%s: Number of dimensions of repeat dims (%d) can not be smaller than number of "
                        "dimensions of tensor (%d) or larger than %d", fn, ndim, x->ndim, TG_MAX_DIMS);
    tg_tensor source = with_leading_dims(x, ndim);
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        if (repeats[d] < 0)
            return tg_error("%s: Trying to create tensor with negative dimension %lld (repeats[%d])", fn,
                            (long long)repeats[d], d);
        if (source.shape[d] > 0 && repeats[d] > INT64_MAX / 8 / source.shape[d])
            return tg_error("%s: result too large at dim %d (size %lld, repeats %lld)", fn, d,
                            (long long)source.shape[d], (long long)repeats[d]);
        shape[d] = source.shape[d] * repeats[d];
    }
    if (!tg__valid_shape(fn, ndim, shape)) return NULL;
    tg_tensor *y = tg__new(fn, x->dtype, ndim, shape);
    if (!y) return NULL;
    repeat_tiles(&source, y, repeats, false);
    tg_node *node = tg_record("repeat", repeat_backward, y, 1, &x);
    for (int d = 0; node && d < ndim; d++) node->iarg[d] = repeats[d];
    return y;
}

/* --- pad ------------------------------------------------------------------------
 * y = value everywhere, with the kept part of x copied in at its offset;
 * dx = the matching part of g (padding gets no gradient, cropped parts 0) */
typedef struct {
    int64_t in_start[TG_MAX_DIMS], out_start[TG_MAX_DIMS], len[TG_MAX_DIMS];
} pad_geometry;

static void pad_backward(tg_node *n, tg_tensor *g)
{
    const pad_geometry *geo = n->ctx;
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    if (!slot) return;
    tg_tensor dst = tg__region(slot, geo->in_start, geo->len), src = tg__region(g, geo->out_start, geo->len);
    tg_add_(&dst, &src, 1.0);
}

tg_tensor *tg_pad(tg_tensor *x, int npad, const int64_t *pad, double value)
{
    const char *fn = "tg_pad";
    if (!tg__check(fn, x)) return NULL;
    if (npad < 0 || npad % 2 != 0) return tg_error("%s: Padding length must be divisible by 2 (got %d)", fn, npad);
    if (npad > 0 && !pad) return tg_error("%s: pad is NULL for npad %d", fn, npad);
    if (npad / 2 > x->ndim)
        return tg_error("%s: Padding length too large: %d values pad %d dims but the input has %d", fn, npad,
                        npad / 2, x->ndim);
    pad_geometry geo;
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        int k = x->ndim - 1 - d; /* pad[2k], pad[2k+1] belong to dim d */
        int64_t size = x->shape[d], left = k < npad / 2 ? pad[2 * k] : 0, right = k < npad / 2 ? pad[2 * k + 1] : 0;
        /* Bounded amounts keep the sum below from overflowing. */
        if (left > INT64_MAX / 4 || left < -(INT64_MAX / 4) || right > INT64_MAX / 4 || right < -(INT64_MAX / 4))
            return tg_error("%s: padding (%lld, %lld) of dimension %d is too large", fn, (long long)left,
                            (long long)right, d);
        shape[d] = size + left + right;
        if (shape[d] < 0)
            return tg_error("%s: The input size %lld, plus negative padding %lld and %lld resulted in a negative "
                            "output size, which is invalid. Check dimension %d of your input.", fn,
                            (long long)size, (long long)left, (long long)right, d);
        geo.in_start[d] = left < 0 ? -left : 0;
        geo.out_start[d] = left > 0 ? left : 0;
        geo.len[d] = size - geo.in_start[d] - (right < 0 ? -right : 0);
        if (geo.len[d] <= 0) geo.len[d] = geo.in_start[d] = geo.out_start[d] = 0;
    }
    if (!tg__valid_shape(fn, x->ndim, shape)) return NULL;
    if (x->dtype == TG_I64 && !(value >= -0x1p63 && value < 0x1p63))
        return tg_error("%s: value cannot be converted to type int64 without overflow: %g", fn, value);
    /* The node's copy of the geometry first: out of memory then, nothing
     * is made (after y, outside any scope, y would be left to no one). */
    pad_geometry *kept = NULL;
    if (tg_is_grad_enabled() && x->requires_grad && !(kept = tg__arena_alloc(sizeof geo))) return NULL;
    tg_tensor *y = tg_full(x->dtype, x->ndim, shape, value);
    if (!y) return NULL;
    tg_tensor dst = tg__region(y, geo.out_start, geo.len), src = tg__region(x, geo.in_start, geo.len);
    tg_copy_(&dst, &src);
    tg_node *node = tg_record("pad", pad_backward, y, 1, &x);
    if (node) {
        memcpy(kept, &geo, sizeof geo);
        node->ctx = kept;
    }
    return y;
}

/* --- index checks ---------------------------------------------------------------- */

/* index as a contiguous I64 tensor, or NULL with a message. */
/* A contiguous copy of a strided index is a temporary that the node keeps:
 * the index ops bracket themselves (TG__BRACKET), so that outside any scope
 * it goes with the call or with the graph, failures included. */
static tg_tensor *index_arg(const char *fn, tg_tensor *index)
{
    if (!tg__check(fn, index)) return NULL;
    if (index->dtype != TG_I64)
        return tg_error("%s: expected an index tensor of dtype int64, got %s", fn, tg_dtype_name(index->dtype));
    return tg__contiguous(index);
}

/* Every entry of a contiguous I64 index in [0, size), checked before anything
 * is read through it. */
static bool indices_in_range(const char *fn, const tg_tensor *index, int64_t size, int dim)
{
    const int64_t *iv = tg_data(index);
    for (int64_t k = 0, n = tg_numel(index); k < n; k++) {
        if (iv[k] >= 0 && iv[k] < size) continue;
        if (size == 0)
            return TG__REJECT("%s: index %lld is out of bounds for dimension %d with size 0 (no index is valid)", fn,
                              (long long)iv[k], dim);
        return TG__REJECT("%s: index %lld is out of bounds for dimension %d with size %lld (valid range is [0, %lld])",
                          fn, (long long)iv[k], dim, (long long)size, (long long)(size - 1));
    }
    return true;
}

/* Hand the checked index and an integer argument to the node's backward;
 * without a node, free the index's contiguous copy (made persistent outside
 * a scope, and referred to by nothing else). */
static void keep_index(tg_node *node, tg_tensor *idx, const tg_tensor *index, int64_t arg)
{
    if (node) {
        node->iarg[0] = arg;
        tg_save_for_backward(node, 0, idx);
    } else if (idx != index) {
        tg_free(idx);
    }
}

/* dst += src for one element of dtype. */
static void add_element(char *dst, const char *src, tg_dtype dtype)
{
    switch (dtype) {
    case TG_F32: *(float *)dst += *(const float *)src; break;
    case TG_F64: *(double *)dst += *(const double *)src; break;
    /* int64 sums wrap around, as PyTorch's do, without signed overflow. */
    default: *(int64_t *)dst = (int64_t)((uint64_t)*(int64_t *)dst + (uint64_t)*(const int64_t *)src); break;
    }
}

/* --- index_select ------------------------------------------------------------------
 * y[..., k, ...] = x[..., index[k], ...];  dx[..., index[k], ...] += g[..., k, ...] */
static void index_select_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    if (!slot) return;
    int dim = (int)n->iarg[0];
    const int64_t *iv = tg_data(n->saved[0]);
    for (int64_t k = 0; k < g->shape[dim]; k++) {
        tg_tensor dst = tg__slice(slot, dim, iv[k], 1), src = tg__slice(g, dim, k, 1);
        tg_add_(&dst, &src, 1.0);
    }
}

tg_tensor *tg_index_select(tg_tensor *x, int dim, tg_tensor *index)
{
    const char *fn = "tg_index_select";
    TG__BRACKET(false, tg_index_select(x, dim, index), x);
    if (!tg__check(fn, x) || !tg__check(fn, index)) return NULL;
    if (x->ndim == 0) {
        /* torch: a 0-dim x is one element along dim 0 (or -1), picked by an
         * index of one entry, and the result is 0-dim too */
        if (tg__dim(fn, dim, 0) < 0) return NULL;
        if (tg_numel(index) != 1 || index->ndim > 1) {
            char s[128];
            return tg_error("%s: index_select(): Index to scalar can have only 1 value, got index of shape %s", fn,
                            tg_shape_str(index, s, sizeof s));
        }
        tg_tensor *y = tg_index_select(tg_reshape(x, 1, (int64_t[]){1}), 0, tg_reshape(index, 1, (int64_t[]){1}));
        return y ? tg_reshape(y, 0, NULL) : NULL;
    }
    int d = tg__dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    if (index->ndim > 1) {
        char s[128];
        return tg_error("%s: Index is supposed to be a vector (got shape %s)", fn, tg_shape_str(index, s, sizeof s));
    }
    tg_tensor *idx = index_arg(fn, index);
    if (!idx || !indices_in_range(fn, idx, x->shape[d], d)) return NULL;
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = tg_numel(idx);
    tg_tensor *y = tg__new(fn, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    const int64_t *iv = tg_data(idx);
    for (int64_t k = 0; k < shape[d]; k++) {
        tg_tensor dst = tg__slice(y, d, k, 1), src = tg__slice(x, d, iv[k], 1);
        tg_copy_(&dst, &src);
    }
    tg_node *node = tg__unread(tg_record("index_select", index_select_backward, y, 1, &x), 1, true); /* reads the index */
    keep_index(node, idx, index, d);
    return y;
}

/* --- gather, scatter_add -------------------------------------------------------------
 * For each position p of index, q is p with q[dim] = index[p]:
 * gather y[p] = x[q], dx[q] += g[p];  scatter_add y = x, y[q] += src[p],
 * dx = g, dsrc[p] = g[q]. */
typedef enum { GATHER, GATHER_ADD, SCATTER_ADD } index_walk_mode;

/* GATHER: other[p] = indexed[q]; GATHER_ADD: other[p] += indexed[q];
 * SCATTER_ADD: indexed[q] += other[p]. index is contiguous and checked. */
static void index_walk(index_walk_mode mode, const tg_tensor *indexed, int dim, const tg_tensor *index,
                       const tg_tensor *other)
{
    const int64_t *iv = tg_data(index);
    size_t es = tg_dtype_size(other->dtype);
    char *a = indexed->storage->data, *b = other->storage->data;
    int64_t pos[TG_MAX_DIMS] = {0};
    for (int64_t k = 0, n = tg_numel(index); k < n; k++) {
        int64_t oa = indexed->offset, ob = other->offset;
        for (int d = 0; d < index->ndim; d++) {
            if (d != dim) oa += pos[d] * indexed->stride[d];
            ob += pos[d] * other->stride[d];
        }
        if (index->ndim > 0) oa += iv[k] * indexed->stride[dim];
        char *pa = a + oa * (int64_t)es, *pb = b + ob * (int64_t)es;
        if (mode == GATHER) memcpy(pb, pa, es);
        else if (mode == GATHER_ADD) add_element(pb, pa, other->dtype);
        else add_element(pa, pb, other->dtype);
        for (int d = index->ndim - 1; d >= 0 && ++pos[d] == index->shape[d]; d--) pos[d] = 0;
    }
}

/* index has t's ndim and index.shape[d] <= t.shape[d] for every d (but dim
 * when skip_dim). */
static bool index_fits(const char *fn, const tg_tensor *index, const tg_tensor *t, int dim, bool skip_dim,
                       const char *what)
{
    char s1[128], s2[128];
    if (tg_numel(index) == 0) return true; /* torch checks no shape of an empty index */
    if (index->ndim != t->ndim)
        return TG__REJECT("%s: Index tensor must have the same number of dimensions as %s tensor (index %s, %s %s)", fn,
                          what, tg_shape_str(index, s1, sizeof s1), what, tg_shape_str(t, s2, sizeof s2));
    char apart[48] = "";
    if (skip_dim) snprintf(apart, sizeof apart, " apart from dimension %d", dim);
    for (int d = 0; d < t->ndim; d++)
        if ((d != dim || !skip_dim) && index->shape[d] > t->shape[d])
            return TG__REJECT("%s: Size does not match at dimension %d expected index %s to be smaller than %s %s%s", fn, d,
                              tg_shape_str(index, s1, sizeof s1), what, tg_shape_str(t, s2, sizeof s2), apart);
    return true;
}

static int64_t size_along(const tg_tensor *t, int dim) { return t->ndim ? t->shape[dim] : 1; }

static void gather_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    if (slot) index_walk(SCATTER_ADD, slot, (int)n->iarg[0], n->saved[0], g);
}

tg_tensor *tg_gather(tg_tensor *x, int dim, tg_tensor *index)
{
    const char *fn = "tg_gather";
    TG__BRACKET(false, tg_gather(x, dim, index), x);
    if (!tg__check(fn, x) || !tg__check(fn, index)) return NULL;
    int d = tg__dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    tg_tensor *idx = index_arg(fn, index);
    if (!idx || !index_fits(fn, idx, x, d, true, "input") || !indices_in_range(fn, idx, size_along(x, d), d))
        return NULL;
    tg_tensor *y = tg__new(fn, x->dtype, idx->ndim, idx->shape);
    if (!y) return NULL;
    index_walk(GATHER, x, d, idx, y);
    /* x is kept as torch keeps it (its gather saves self), though only the index is read */
    tg_node *node = tg__unread(tg_record("gather", gather_backward, y, 1, &x), 0, true);
    keep_index(node, idx, index, d);
    return y;
}

static void scatter_add_backward(tg_node *n, tg_tensor *g)
{
    tg_accum_grad(n->inputs[0], g);
    tg_tensor *slot = tg_grad_slot(n->inputs[1]);
    if (slot) index_walk(GATHER_ADD, g, (int)n->iarg[0], n->saved[0], slot);
}

tg_tensor *tg_scatter_add(tg_tensor *x, int dim, tg_tensor *index, tg_tensor *src)
{
    const char *fn = "tg_scatter_add";
    TG__BRACKET(false, tg_scatter_add(x, dim, index, src), x, src);
    if (!tg__check(fn, x) || !tg__check(fn, index) || !tg__check(fn, src)) return NULL;
    if (src->dtype != x->dtype)
        return tg_error("%s: Expected self.dtype to be equal to src.dtype (got %s and %s)", fn,
                        tg_dtype_name(x->dtype), tg_dtype_name(src->dtype));
    int d = tg__dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    tg_tensor *idx = index_arg(fn, index);
    if (!idx || !index_fits(fn, idx, x, d, true, "self") || !index_fits(fn, idx, src, d, false, "src") ||
        !indices_in_range(fn, idx, size_along(x, d), d))
        return NULL;
    tg_tensor *y = tg__new_like(fn, x);
    if (!y) return NULL;
    tg_copy_(y, x);
    index_walk(SCATTER_ADD, y, d, idx, src);
    tg_node *node = tg_record("scatter_add", scatter_add_backward, y, 2, (tg_tensor *[]){x, src});
    keep_index(node, idx, index, d);
    return y;
}

/* --- embedding ------------------------------------------------------------------------
 * y[k, :] = weight[indices[k], :];  dweight[indices[k], :] += g[k, :] unless
 * indices[k] is padding_idx */
static void embedding_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    if (!slot) return;
    const tg_tensor *idx = n->saved[0];
    const int64_t *iv = tg_data(idx);
    int64_t dim = slot->shape[1], count = tg_numel(idx);
    tg_tensor rows = as_rows(g, count, dim);
    for (int64_t k = 0; k < count; k++) {
        if (iv[k] == n->iarg[0]) continue;
        tg_tensor dst = tg__slice(slot, 0, iv[k], 1), src = tg__slice(&rows, 0, k, 1);
        tg_add_(&dst, &src, 1.0);
    }
}

tg_tensor *tg_embedding(tg_tensor *weight, tg_tensor *indices, int64_t padding_idx)
{
    const char *fn = "tg_embedding";
    TG__BRACKET(false, tg_embedding(weight, indices, padding_idx), weight);
    if (!tg__check_float(fn, weight) || !tg__check(fn, indices)) return NULL;
    char s[128];
    if (weight->ndim != 2)
        return tg_error("%s: 'weight' must be 2-D (num_embeddings, embedding_dim), got shape %s", fn,
                        tg_shape_str(weight, s, sizeof s));
    if (indices->ndim >= TG_MAX_DIMS)
        return tg_error("%s: indices have %d dims; the result would exceed %d", fn, indices->ndim, TG_MAX_DIMS);
    int64_t num = weight->shape[0], dim = weight->shape[1];
    if (padding_idx != -1 && (padding_idx < 0 || padding_idx >= num))
        return tg_error("%s: padding_idx must be -1 (none) or within [0, %lld) for a weight of shape %s, got %lld",
                        fn, (long long)num, tg_shape_str(weight, s, sizeof s), (long long)padding_idx);
    tg_tensor *idx = index_arg(fn, indices);
    if (!idx || !indices_in_range(fn, idx, num, 0)) return NULL;
    int64_t shape[TG_MAX_DIMS], count = tg_numel(idx);
    memcpy(shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim);
    shape[idx->ndim] = dim;
    tg_tensor *y = tg__new(fn, weight->dtype, idx->ndim + 1, shape);
    if (!y) return NULL;
    tg_tensor rows = as_rows(y, count, dim);
    const int64_t *iv = tg_data(idx);
    for (int64_t k = 0; k < count; k++) {
        tg_tensor dst = tg__slice(&rows, 0, k, 1), src = tg__slice(weight, 0, iv[k], 1);
        tg_copy_(&dst, &src);
    }
    tg_node *node = tg__unread(tg_record("embedding", embedding_backward, y, 1, &weight), 1, true); /* reads the indices */
    keep_index(node, idx, indices, padding_idx);
    return y;
}
