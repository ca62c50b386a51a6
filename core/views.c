/* Views: new (shape, strides, offset) over the same storage, and their
 * backward. Reshape-like views pass the gradient back reshaped; narrow and
 * select add it into the matching region of the input's gradient in place;
 * expand sums it back down (tg_accum_grad does that for any broadcast). */
#include <string.h>

#include "internal.h"

/* --- reshape family: view, reshape, squeeze, unsqueeze, flatten ----------
 * y = x viewed with another shape;  dx = dy viewed with x's shape */
static void reshape_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0];
    tg_accum_grad(x, tg_view(tg__contiguous(g), x->ndim, x->shape));
}

/* Strides for viewing t with a new shape, or false when its strides do not
 * allow it (PyTorch's computeStride: each run of merged dims must be
 * contiguous within itself). */
static bool view_strides(const tg_tensor *t, int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t numel = tg_numel(t);
    if (numel == 0 || t->ndim == 0) {
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; d--) {
            stride[d] = s;
            s *= shape[d] > 0 ? shape[d] : 1;
        }
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->stride[t->ndim - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int td = t->ndim - 1; td >= 0; td--) {
        tensor_numel *= t->shape[td];
        if (td == 0 || (t->shape[td - 1] != 1 && t->stride[td - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (td > 0) {
                chunk_base_stride = t->stride[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

/* Resolve a -1 entry and check the element count. */
static bool infer_shape(const char *fn, const tg_tensor *t, int ndim, const int64_t *shape, int64_t *out)
{
    if (ndim < 0 || ndim > TG_MAX_DIMS) return TG__REJECT("%s: invalid ndim %d", fn, ndim);
    if (ndim > 0 && !shape) return TG__REJECT("%s: shape is NULL for ndim %d", fn, ndim);
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        out[d] = shape[d];
        if (shape[d] == -1) {
            if (infer >= 0) return TG__REJECT("%s: only one dimension can be inferred", fn);
            infer = d;
        } else if (shape[d] < 0) return TG__REJECT("%s: invalid shape dimension %lld", fn, (long long)shape[d]); else if (shape[d] > 0 && known > INT64_MAX / shape[d]) return TG__REJECT("%s: shape too large at dim %d", fn, d); else {
            known *= shape[d];
        }
    }
    int64_t numel = tg_numel(t);
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) goto mismatch;
        out[infer] = numel / known;
    } else if (known != numel) {
        goto mismatch;
    }
    return true;
mismatch:;
    char s[128];
    char want[160];
    size_t n = (size_t)snprintf(want, sizeof want, "[");
    for (int d = 0; d < ndim && n < sizeof want; d++)
        n += (size_t)snprintf(want + n, sizeof want - n, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (n < sizeof want) snprintf(want + n, sizeof want - n, "]");
    return TG__REJECT("%s: shape '%s' is invalid for input of size %lld (input shape %s)", fn, want,
                      (long long)numel, tg_shape_str(t, s, sizeof s));
}

static tg_tensor *view_impl(const char *fn, tg_tensor *t, int ndim, const int64_t *shape, bool copy_ok)
{
    if (!tg__check(fn, t)) return NULL;
    int64_t resolved[TG_MAX_DIMS], stride[TG_MAX_DIMS];
    if (!infer_shape(fn, t, ndim, shape, resolved) || !tg__valid_shape(fn, ndim, resolved)) return NULL;
    if (!view_strides(t, ndim, resolved, stride)) {
        if (!copy_ok)
            return tg_error("%s: view size is not compatible with input tensor's size and stride "
                            "(at least one dimension spans across two contiguous subspaces). "
                            "Use tg_reshape instead.", fn);
        /* The copy is the result's storage; only its header is a temporary. */
        tg_scope *s = tg__autoscope(1, &t);
        return tg__autoscope_keep(s, view_impl(fn, tg__contiguous(t), ndim, resolved, false));
    }
    tg_tensor *v = tg__view_of(fn, t, ndim, resolved, stride, t->offset);
    if (v) tg__unread(tg_record("view", reshape_backward, v, 1, &t), 1, true);
    return v;
}

tg_tensor *tg_view(tg_tensor *t, int ndim, const int64_t *shape) { return view_impl("tg_view", t, ndim, shape, false); }
tg_tensor *tg_reshape(tg_tensor *t, int ndim, const int64_t *shape) { return view_impl("tg_reshape", t, ndim, shape, true); }

tg_tensor *tg_squeeze(tg_tensor *t, int dim)
{
    if (!tg__check("tg_squeeze", t)) return NULL;
    int d = tg__dim("tg_squeeze", dim, t->ndim);
    if (d < 0) return NULL;
    if (t->ndim == 0 || t->shape[d] != 1) return tg_view(t, t->ndim, t->shape);
    int64_t shape[TG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != d) shape[n++] = t->shape[i];
    return tg_view(t, n, shape);
}

tg_tensor *tg_squeeze_all(tg_tensor *t)
{
    if (!tg__check("tg_squeeze_all", t)) return NULL;
    int64_t shape[TG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != 1) shape[n++] = t->shape[i];
    return tg_view(t, n, shape);
}

tg_tensor *tg_unsqueeze(tg_tensor *t, int dim)
{
    if (!tg__check("tg_unsqueeze", t)) return NULL;
    if (t->ndim >= TG_MAX_DIMS) return tg_error("tg_unsqueeze: tensor already has %d dims", TG_MAX_DIMS);
    int d = tg__dim("tg_unsqueeze", dim, t->ndim + 1);
    if (d < 0) return NULL;
    int64_t shape[TG_MAX_DIMS];
    for (int i = 0, n = 0; i <= t->ndim; i++) shape[i] = i == d ? 1 : t->shape[n++];
    return tg_view(t, t->ndim + 1, shape);
}

tg_tensor *tg_flatten(tg_tensor *t, int start_dim, int end_dim)
{
    if (!tg__check("tg_flatten", t)) return NULL;
    int s = tg__dim("tg_flatten", start_dim, t->ndim), e = tg__dim("tg_flatten", end_dim, t->ndim);
    if (s < 0 || e < 0) return NULL;
    if (t->ndim == 0) return tg_reshape(t, 1, (int64_t[]){1});
    if (s > e) return tg_error("tg_flatten: start_dim (%d) cannot come after end_dim (%d)", start_dim, end_dim);
    int64_t shape[TG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i <= s || i > e) shape[n++] = t->shape[i];
        else shape[n - 1] *= t->shape[i];
    }
    return tg_reshape(t, n, shape);
}

/* --- permutations: transpose, permute ------------------------------------
 * y = x with dims reordered;  dx = dy with the inverse order */
static void permute_backward(tg_node *n, tg_tensor *g)
{
    int inverse[TG_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++) inverse[n->iarg[i]] = i;
    tg_accum_grad(n->inputs[0], tg_permute(g, inverse));
}

tg_tensor *tg_permute(tg_tensor *t, const int *perm)
{
    if (!tg__check("tg_permute", t)) return NULL;
    if (!perm && t->ndim > 0) return tg_error("tg_permute: perm is NULL");
    int64_t shape[TG_MAX_DIMS], stride[TG_MAX_DIMS];
    bool seen[TG_MAX_DIMS] = {false};
    int p[TG_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) {
        int d = tg__dim("tg_permute", perm[i], t->ndim);
        if (d < 0) return NULL;
        if (seen[d]) return tg_error("tg_permute: repeated dim %d in permutation", perm[i]);
        seen[d] = true;
        p[i] = d;
        shape[i] = t->shape[d];
        stride[i] = t->stride[d];
    }
    tg_tensor *v = tg__view_of("tg_permute", t, t->ndim, shape, stride, t->offset);
    tg_node *n = v ? tg__unread(tg_record("permute", permute_backward, v, 1, &t), 1, true) : NULL;
    for (int i = 0; n && i < t->ndim; i++) n->iarg[i] = p[i];
    return v;
}

tg_tensor *tg_transpose(tg_tensor *t, int dim0, int dim1)
{
    if (!tg__check("tg_transpose", t)) return NULL;
    int nd = t->ndim ? t->ndim : 1;
    int a = tg__dim("tg_transpose", dim0, nd), b = tg__dim("tg_transpose", dim1, nd);
    if (a < 0 || b < 0) return NULL;
    if (t->ndim == 0) return tg_view(t, 0, NULL);
    int perm[TG_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return tg_permute(t, perm);
}

/* --- regions: narrow, select ----------------------------------------------
 * y = x[..., start:start+len, ...];  dx[..., start:start+len, ...] += dy,
 * in place in x's gradient buffer, so T slices cost T small adds. The
 * first region to reach a new buffer is copied in and only the rest is
 * zeroed (PyTorch's zeros and copy_: -0.0 stays -0.0), where zeroing all
 * of it and adding made two passes over the region: a recurrent cell's
 * state halves, (B, H) each of its (B, 2H) output. */
static void narrow_backward(tg_node *n, tg_tensor *g)
{
    bool fresh;
    tg_tensor *slot = tg__grad_slot_unset(n->inputs[0], &fresh);
    if (!slot) return;
    int dim = (int)n->iarg[0];
    int64_t start = n->iarg[1], len = n->iarg[2], end = start + len, size = slot->shape[dim];
    tg_tensor part = tg__slice(slot, dim, start, len);
    if (!fresh) {
        tg_add_(&part, g, 1.0);
        return;
    }
    tg_tensor before = tg__slice(slot, dim, 0, start), after = tg__slice(slot, dim, end, size - end);
    if (start > 0) tg_fill_(&before, 0.0);
    if (end < size) tg_fill_(&after, 0.0);
    tg_copy_(&part, g);
}

tg_tensor *tg_narrow(tg_tensor *t, int dim, int64_t start, int64_t length)
{
    if (!tg__check("tg_narrow", t)) return NULL;
    if (t->ndim == 0) return tg_error("tg_narrow: narrow() cannot be applied to a 0-dim tensor.");
    int d = tg__dim("tg_narrow", dim, t->ndim);
    if (d < 0) return NULL;
    if (start < 0) start += t->shape[d];
    if (start < 0 || length < 0 || start > t->shape[d] || length > t->shape[d] - start)
        return tg_error("tg_narrow: start (%lld) + length (%lld) exceeds dimension size (%lld) of dim %d",
                        (long long)start, (long long)length, (long long)t->shape[d], dim);
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[d] = length;
    tg_tensor *v = tg__view_of("tg_narrow", t, t->ndim, shape, t->stride, t->offset + start * t->stride[d]);
    tg_node *n = v ? tg__unread(tg_record("narrow", narrow_backward, v, 1, &t), 1, true) : NULL;
    if (n) {
        n->iarg[0] = d;
        n->iarg[1] = start;
        n->iarg[2] = length;
    }
    return v;
}

static void select_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(n->inputs[0]);
    if (slot) tg_add_(tg_select(slot, (int)n->iarg[0], n->iarg[1]), g, 1.0);
}

tg_tensor *tg_select(tg_tensor *t, int dim, int64_t index)
{
    if (!tg__check("tg_select", t)) return NULL;
    if (t->ndim == 0) return tg_error("tg_select: select() cannot be applied to a 0-dim tensor.");
    int d = tg__dim("tg_select", dim, t->ndim);
    if (d < 0) return NULL;
    if (index < -t->shape[d] || index >= t->shape[d])
        return tg_error("tg_select: index %lld out of range for tensor of size %lld at dimension %d",
                        (long long)index, (long long)t->shape[d], dim);
    if (index < 0) index += t->shape[d];
    int64_t shape[TG_MAX_DIMS], stride[TG_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++)
        if (i != d) {
            shape[nd] = t->shape[i];
            stride[nd++] = t->stride[i];
        }
    tg_tensor *v = tg__view_of("tg_select", t, nd, shape, stride, t->offset + index * t->stride[d]);
    tg_node *n = v ? tg__unread(tg_record("select", select_backward, v, 1, &t), 1, true) : NULL;
    if (n) {
        n->iarg[0] = d;
        n->iarg[1] = index;
    }
    return v;
}

/* pieces narrow views of t along d, piece i starting at i * step and at
 * most step long: all of them in out[0..pieces), or none (the ones made
 * are freed) and -1. */
static int narrow_pieces(const char *fn, tg_tensor *t, int d, int64_t pieces, int64_t step, int max_out,
                         tg_tensor **out)
{
    if (pieces > max_out || !out)
        return tg_fail("%s: %lld pieces do not fit in an output array of %d", fn, (long long)pieces, max_out);
    int64_t size = t->shape[d];
    for (int64_t i = 0; i < pieces; i++) {
        int64_t start = i * step < size ? i * step : size;
        out[i] = tg_narrow(t, d, start, size - start < step ? size - start : step);
        if (out[i]) continue;
        for (int64_t k = 0; k < i; k++) {
            tg_free(out[k]);
            out[k] = NULL;
        }
        return -1;
    }
    return (int)pieces;
}

int tg_split(tg_tensor *t, int64_t split_size, int dim, int max_out, tg_tensor **out)
{
    if (!tg__check("tg_split", t)) return -1;
    if (t->ndim == 0) return tg_fail("tg_split: split expects at least a 1-dimensional tensor");
    int d = tg__dim("tg_split", dim, t->ndim);
    if (d < 0) return -1;
    int64_t size = t->shape[d];
    if (split_size < 0)
        return tg_fail("tg_split: split expects split_size be non-negative, but got split_size=%lld",
                       (long long)split_size);
    if (split_size == 0 && size > 0) /* an empty dim splits into one empty piece with any size, 0 too */
        return tg_fail("tg_split: split_size can only be 0 if dimension size is 0, but got dimension size of %lld",
                       (long long)size);
    int64_t pieces = size == 0 ? 1 : (size - 1) / split_size + 1; /* no overflow for huge split_size */
    return narrow_pieces("tg_split", t, d, pieces, split_size, max_out, out);
}

int tg_chunk(tg_tensor *t, int chunks, int dim, int max_out, tg_tensor **out)
{
    if (!tg__check("tg_chunk", t)) return -1;
    if (chunks <= 0) return tg_fail("tg_chunk: chunk expects `chunks` to be greater than 0, got: %d", chunks);
    if (t->ndim == 0) return tg_fail("tg_chunk: chunk expects at least a 1-dimensional tensor");
    if (!out) return tg_fail("tg_chunk: out is NULL");
    int d = tg__dim("tg_chunk", dim, t->ndim);
    if (d < 0) return -1;
    int64_t size = t->shape[d], split_size = (size + chunks - 1) / chunks;
    /* An empty dim gives `chunks` empty pieces, as in torch (tg_split gives one). */
    if (size == 0) return narrow_pieces("tg_chunk", t, d, chunks, 0, max_out, out);
    return narrow_pieces("tg_chunk", t, d, (size - 1) / split_size + 1, split_size, max_out, out);
}

/* --- expand ---------------------------------------------------------------
 * y = x broadcast to shape (stride 0);  dx = dy summed over broadcast dims */
static void expand_backward(tg_node *n, tg_tensor *g) { tg_accum_grad(n->inputs[0], g); }

tg_tensor *tg_expand(tg_tensor *t, int ndim, const int64_t *shape)
{
    if (!tg__check("tg_expand", t)) return NULL;
    if (ndim > 0 && !shape) return tg_error("tg_expand: shape is NULL for ndim %d", ndim);
    if (ndim < t->ndim || ndim > TG_MAX_DIMS)
        return tg_error("tg_expand: the number of sizes provided (%d) must be greater or equal to "
                        "the number of dimensions in the tensor (%d)", ndim, t->ndim);
    int64_t out[TG_MAX_DIMS], stride[TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        int td = d - (ndim - t->ndim);
        int64_t have = td >= 0 ? t->shape[td] : 1;
        int64_t want = shape[d] == -1 && td >= 0 ? have : shape[d];
        if (want < 0 || (have != want && have != 1)) {
            char s[128];
            return tg_error("tg_expand: the expanded size of the tensor (%lld) must match the existing "
                            "size (%lld) at non-singleton dimension %d. Target sizes given for input shape %s",
                            (long long)shape[d], (long long)have, d, tg_shape_str(t, s, sizeof s));
        }
        out[d] = want;
        stride[d] = (td >= 0 && have == want) ? t->stride[td] : 0;
    }
    /* Elements are counted in int64 everywhere, so the view's count must fit. */
    if (!tg__valid_shape("tg_expand", ndim, out)) return NULL;
    tg_tensor *v = tg__view_of("tg_expand", t, ndim, out, stride, t->offset);
    if (v) tg__unread(tg_record("expand", expand_backward, v, 1, &t), 1, true);
    return v;
}

/* --- copies: contiguous, clone, cast ---------------------------------------
 * y = x (a new buffer, maybe another float dtype);  dx = dy */
static void copy_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0];
    tg_accum_grad(x, g->dtype == x->dtype ? g : tg_cast(g, x->dtype));
}

static tg_tensor *copy_as(const char *fn, const char *op, tg_tensor *t, tg_dtype dtype)
{
    if (!tg__check(fn, t)) return NULL;
    /* The result first: the values' check reads every element of t, which
     * for an expanded view can be far more than any memory holds. */
    tg_tensor *out = tg__new(fn, dtype, t->ndim, t->shape);
    if (!out) return NULL;
    if (dtype == TG_I64 && !tg__fits_int64(fn, t)) {
        tg_free(out); /* a scope's tensor is left to its scope */
        return NULL;
    }
    bool was = tg_set_grad_enabled(false);
    tg_copy_(out, t);
    tg_set_grad_enabled(was);
    if (dtype != TG_I64 && t->dtype != TG_I64) tg__unread(tg_record(op, copy_backward, out, 1, &t), 1, true);
    return out;
}

tg_tensor *tg_clone(tg_tensor *t) { return copy_as("tg_clone", "clone", t, t ? t->dtype : TG_F32); }

/* y = x, a new header over x's storage;  dx = dy */
static void alias_backward(tg_node *n, tg_tensor *g) { tg_accum_grad(n->inputs[0], g); }

tg_tensor *tg__alias(const char *fn, const char *op, tg_tensor *t)
{
    tg_tensor *v = tg__view_of(fn, t, t->ndim, t->shape, t->stride, t->offset);
    if (v) tg__unread(tg_record(op, alias_backward, v, 1, &t), 1, true);
    return v;
}

tg_tensor *tg__contiguous(tg_tensor *t)
{
    if (!tg__check("tg_contiguous", t)) return NULL;
    return tg_is_contiguous(t) ? t : copy_as("tg_contiguous", "contiguous", t, t->dtype);
}

tg_tensor *tg_contiguous(tg_tensor *t)
{
    if (!tg__check("tg_contiguous", t)) return NULL;
    return tg_is_contiguous(t) ? tg__alias("tg_contiguous", "contiguous", t) : tg__contiguous(t);
}

tg_tensor *tg_cast(tg_tensor *t, tg_dtype dtype)
{
    if (dtype != TG_F32 && dtype != TG_F64 && dtype != TG_I64) return tg_error("tg_cast: unknown dtype %d", (int)dtype);
    return copy_as("tg_cast", "cast", t, dtype);
}

/* --- stack headers ------------------------------------------------------------ */

tg_tensor tg__slice(const tg_tensor *t, int dim, int64_t start, int64_t len)
{
    tg_tensor r = tg__header(t, t->ndim, t->shape, t->stride, t->offset + start * t->stride[dim]);
    r.shape[dim] = len;
    return r;
}

tg_tensor tg__region(const tg_tensor *t, const int64_t *start, const int64_t *len)
{
    int64_t offset = t->offset;
    for (int d = 0; d < t->ndim; d++) offset += start[d] * t->stride[d];
    return tg__header(t, t->ndim, len, t->stride, offset);
}

tg_tensor tg__selected(const tg_tensor *t, int dim, int64_t index)
{
    int64_t shape[TG_MAX_DIMS], stride[TG_MAX_DIMS];
    for (int d = 0, k = 0; d < t->ndim; d++)
        if (d != dim) {
            shape[k] = t->shape[d];
            stride[k++] = t->stride[d];
        }
    return tg__header(t, t->ndim - 1, shape, stride, t->offset + index * t->stride[dim]);
}

tg_tensor tg__spread(const tg_tensor *t, int ndim, const int64_t *shape)
{
    int64_t stride[TG_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++)
        stride[d] = d < lead || (t->shape[d - lead] == 1 && shape[d] != 1) ? 0 : t->stride[d - lead];
    return tg__header(t, ndim, shape, stride, t->offset);
}

tg_tensor tg__transposed(const tg_tensor *t)
{
    return tg__header(t, 2, (int64_t[]){t->shape[1], t->shape[0]}, (int64_t[]){t->stride[1], t->stride[0]},
                      t->offset);
}
