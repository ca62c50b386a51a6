/* Tensor creation, inspection and lifetime; in-place updates are in inplace.c. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include <tapegrad/random.h>

size_t tg_dtype_size(tg_dtype dtype) { return dtype == TG_F32 ? 4 : 8; }

const char *tg_dtype_name(tg_dtype dtype)
{
    switch (dtype) {
    case TG_F32: return "float32";
    case TG_F64: return "float64";
    case TG_I64: return "int64";
    }
    return "unknown";
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t len)
{
    if (!buf || len == 0) return buf;
    size_t n = 0;
    n += (size_t)snprintf(buf, len, "[");
    for (int d = 0; t && d < t->ndim && n < len; d++)
        n += (size_t)snprintf(buf + n, len - n, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

static void set_contiguous_strides(tg_tensor *t)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->stride[d] = s;
        s *= t->shape[d];
    }
}

/* "[2,3]" for an array shape, into buf. */
static char *shape_text(int ndim, const int64_t *shape, char *buf, size_t len)
{
    tg_tensor t = {.ndim = ndim};
    for (int d = 0; d < ndim && d < TG_MAX_DIMS; d++) t.shape[d] = shape[d];
    return tg_shape_str(&t, buf, len);
}

bool tg__valid_shape(const char *fn, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return TG__REJECT("%s: ndim must be in [0, %d], got %d", fn, TG_MAX_DIMS, ndim);
    if (ndim > 0 && !shape) return TG__REJECT("%s: shape is NULL for ndim %d", fn, ndim);
    /* Zero sizes count as ones, so that strides and offsets of empty
     * tensors fit as well. */
    int64_t extent = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return TG__REJECT("%s: Trying to create tensor with negative dimension %lld at dim %d", fn,
                              (long long)shape[d], d);
        if (shape[d] > 1 && extent > TG_MAX_NUMEL / shape[d]) {
            char s[160];
            return TG__REJECT("%s: a tensor of shape %s is too large (its sizes multiply to 2^60 or more)", fn,
                              shape_text(ndim, shape, s, sizeof s));
        }
        if (shape[d] > 1) extent *= shape[d];
    }
    return true;
}

static bool valid_dtype(const char *fn, tg_dtype dtype)
{
    if (dtype != TG_F32 && dtype != TG_F64 && dtype != TG_I64)
        return TG__REJECT("%s: unknown dtype %d", fn, (int)dtype);
    return true;
}

static void *out_of_memory(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape, size_t nbytes)
{
    char s[160];
    return tg_error("%s: can't allocate memory: you tried to allocate %zu bytes for a %s tensor of shape %s", fn,
                    nbytes, tg_dtype_name(dtype), shape_text(ndim, shape, s, sizeof s));
}

/* Persistent data keeps TG_ALIGN bytes of slack past the end for kernels
 * that round a length up; sanitizer builds poison it. */
static void *persistent_data(size_t nbytes)
{
    size_t padded = (nbytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN + TG_ALIGN;
    char *data = tg__aligned_alloc(padded, true);
    if (data) TG_POISON(data + nbytes, padded - nbytes);
    return data;
}

static _Thread_local uint64_t storages_made;

uint64_t tg__storage_serial(void) { return storages_made; }

static tg_tensor *alloc_tensor(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape, bool persistent)
{
    if (!valid_dtype(fn, dtype) || !tg__valid_shape(fn, ndim, shape)) return NULL;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    size_t nbytes = (size_t)numel * tg_dtype_size(dtype);
    tg_tensor *t;
    tg_storage *s;
    void *data;
    if (persistent) {
        t = tg__calloc(1, sizeof(tg__persistent_header));
        s = tg__calloc(1, sizeof *s);
        data = persistent_data(nbytes);
        if (!t || !s || !data || !tg__live_add(t)) {
            free(t);
            free(s);
            free(data);
            return out_of_memory(fn, dtype, ndim, shape, nbytes);
        }
        s->refcount = 1;
        tg__graph_register(t);
    } else {
        t = tg__arena_take(sizeof *t);
        s = t ? tg__arena_take(sizeof *s) : NULL;
        data = s ? tg__scope_reuse((int64_t)nbytes) : NULL;
        if (!data) data = s ? tg__arena_take(nbytes) : NULL;
        if (!data) return out_of_memory(fn, dtype, ndim, shape, nbytes);
        memset(t, 0, sizeof *t);
        memset(s, 0, sizeof *s);
        s->reuse = tg__pass_memory_kind((int64_t)nbytes);
        tg__scope_register(t);
    }
    s->data = data;
    s->nbytes = (int64_t)nbytes;
    s->serial = ++storages_made;
    s->persistent = persistent;
    t->magic = TG_MAGIC;
    t->ndim = ndim;
    t->dtype = dtype;
    t->persistent = persistent;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    set_contiguous_strides(t);
    t->storage = s;
    return t;
}

tg_tensor *tg__new(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape)
{
    return alloc_tensor(fn, dtype, ndim, shape, tg__scope_depth() == 0);
}

tg_tensor *tg__new_persistent(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape)
{
    return alloc_tensor(fn, dtype, ndim, shape, true);
}

tg_tensor *tg__new_like(const char *fn, const tg_tensor *t) { return tg__new(fn, t->dtype, t->ndim, t->shape); }

tg_tensor *tg__view_of(const char *fn, const tg_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                       int64_t offset)
{
    bool persistent = tg__scope_depth() == 0;
    tg_tensor *v = persistent ? tg__calloc(1, sizeof(tg__persistent_header)) : tg__arena_take(sizeof *v);
    if (v && persistent && !tg__live_add(v)) {
        free(v);
        v = NULL;
    }
    if (!v) return tg_error("%s: out of memory for a tensor header", fn);
    memset(v, 0, sizeof *v);
    if (persistent) tg__graph_register(v);
    else tg__scope_register(v);
    v->magic = TG_MAGIC;
    v->ndim = ndim;
    v->dtype = t->dtype;
    v->persistent = persistent;
    for (int d = 0; d < ndim; d++) {
        v->shape[d] = shape[d];
        v->stride[d] = stride[d];
    }
    v->offset = offset;
    v->storage = t->storage;
    /* A persistent header keeps persistent storage alive; scope headers
     * borrow, since the scope ends before anything they could outlive.
     * Atomic: threads may take views of one shared tensor at once. */
    if (persistent && t->storage->persistent) __atomic_fetch_add(&t->storage->refcount, 1, __ATOMIC_RELAXED);
    return v;
}

/* An int64 tensor cannot hold NaN, infinities or values beyond its range. */
bool tg__fits_dtype(const char *fn, tg_dtype dtype, double value)
{
    if (dtype == TG_I64 && !(value >= -0x1p63 && value < 0x1p63))
        return TG__REJECT("%s: value cannot be converted to type int64 without overflow: %g", fn, value);
    /* torch's check: a finite value beyond float's range (not inf, NaN). */
    if (dtype == TG_F32 && isfinite(value) && fabs(value) > FLT_MAX)
        return TG__REJECT("%s: value cannot be converted to type float without overflow: %g", fn, value);
    return true;
}

static tg_tensor *empty_named(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape)
{
    return tg__new(fn, dtype, ndim, shape);
}

static tg_tensor *full_named(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape, double value)
{
    if (!valid_dtype(fn, dtype) || !tg__fits_dtype(fn, dtype, value)) return NULL;
    tg_tensor *t = tg__new(fn, dtype, ndim, shape);
    if (t) tg_fill_(t, value);
    return t;
}

tg_tensor *tg_empty(tg_dtype dtype, int ndim, const int64_t *shape) { return empty_named("tg_empty", dtype, ndim, shape); }
tg_tensor *tg_full(tg_dtype dtype, int ndim, const int64_t *shape, double value)
{
    return full_named("tg_full", dtype, ndim, shape, value);
}
tg_tensor *tg_zeros(tg_dtype dtype, int ndim, const int64_t *shape) { return full_named("tg_zeros", dtype, ndim, shape, 0.0); }
tg_tensor *tg_ones(tg_dtype dtype, int ndim, const int64_t *shape) { return full_named("tg_ones", dtype, ndim, shape, 1.0); }
tg_tensor *tg_scalar(tg_dtype dtype, double value) { return full_named("tg_scalar", dtype, 0, NULL, value); }

tg_tensor *tg_zeros_like(const tg_tensor *t)
{
    return tg__check("tg_zeros_like", t) ? tg_full(t->dtype, t->ndim, t->shape, 0.0) : NULL;
}

tg_tensor *tg_ones_like(const tg_tensor *t)
{
    return tg__check("tg_ones_like", t) ? tg_full(t->dtype, t->ndim, t->shape, 1.0) : NULL;
}

/* int64: start, end and step become integers first (truncated toward zero,
 * as PyTorch converts them), then the range is counted exactly. */
static tg_tensor *arange_int64(double start, double end, double step)
{
    if (!tg__fits_dtype("tg_arange", TG_I64, start) || !tg__fits_dtype("tg_arange", TG_I64, end) ||
        !tg__fits_dtype("tg_arange", TG_I64, step))
        return NULL;
    int64_t first = (int64_t)start, last = (int64_t)end, stride = (int64_t)step;
    if (stride == 0)
        return tg_error("tg_arange: step must be nonzero (step=%g is 0 as int64)", step);
    if ((stride > 0 && last < first) || (stride < 0 && last > first))
        return tg_error("tg_arange: upper bound and larger bound inconsistent with step sign "
                        "(start=%lld end=%lld step=%lld as int64)", (long long)first, (long long)last, (long long)stride);
    __int128 span = (__int128)last - first, count = span / stride + (span % stride != 0);
    if (count > INT64_MAX / 8)
        return tg_error("tg_arange: invalid size for int64 (start=%g end=%g step=%g)", start, end, step);
    int64_t n = (int64_t)count;
    tg_tensor *t = empty_named("tg_arange", TG_I64, 1, &n);
    if (!t) return NULL;
    int64_t *p = tg_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = first + i * stride;
    return t;
}

tg_tensor *tg_arange(tg_dtype dtype, double start, double end, double step)
{
    if (!valid_dtype("tg_arange", dtype)) return NULL;
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step))
        return tg_error("tg_arange: step must be nonzero and bounds finite (start=%g end=%g step=%g)",
                        start, end, step);
    if (dtype == TG_I64) return arange_int64(start, end, step);
    if ((step > 0 && end < start) || (step < 0 && end > start))
        return tg_error("tg_arange: upper bound and larger bound inconsistent with step sign "
                        "(start=%g end=%g step=%g)", start, end, step);
    double count = ceil((end - start) / step);
    if (!(count <= (double)(INT64_MAX / 8)) || !tg__fits_dtype("tg_arange", dtype, start) || !tg__fits_dtype("tg_arange", dtype, end))
        return tg_error("tg_arange: invalid size %g for %s (start=%g end=%g step=%g)", count, tg_dtype_name(dtype),
                        start, end, step);
    int64_t n = (int64_t)count;
    tg_tensor *t = empty_named("tg_arange", dtype, 1, &n);
    if (!t) return NULL;
    char *p = tg_data(t);
    for (int64_t i = 0; i < n; i++) tg__store(p + i * (int64_t)tg_dtype_size(dtype), dtype, start + (double)i * step);
    return t;
}

tg_tensor *tg_linspace(tg_dtype dtype, double start, double end, int64_t steps)
{
    if (steps < 0) return tg_error("tg_linspace: number of steps must be non-negative, got %lld", (long long)steps);
    if (!tg__fits_dtype("tg_linspace", dtype, start) || !tg__fits_dtype("tg_linspace", dtype, end)) return NULL;
    tg_tensor *t = empty_named("tg_linspace", dtype, 1, &steps);
    if (!t) return NULL;
    char *p = tg_data(t);
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0.0;
    /* One step is start, as in PyTorch (the fill from the end below would give end). */
    if (steps == 1) end = start;
    /* Fill the second half from the end, as PyTorch does, so the last value is exactly end. */
    for (int64_t i = 0; i < steps; i++) {
        double v = i < steps / 2 ? start + step * (double)i : end - step * (double)(steps - 1 - i);
        tg__store(p + i * (int64_t)tg_dtype_size(dtype), dtype, v);
    }
    return t;
}

tg_tensor *tg_eye(tg_dtype dtype, int64_t n)
{
    int64_t shape[2] = {n, n};
    tg_tensor *t = full_named("tg_eye", dtype, 2, shape, 0.0);
    if (!t) return NULL;
    char *p = tg_data(t);
    for (int64_t i = 0; i < n; i++) tg__store(p + (i * n + i) * (int64_t)tg_dtype_size(dtype), dtype, 1.0);
    return t;
}

tg_tensor *tg_rand(tg_dtype dtype, int ndim, const int64_t *shape, double low, double high)
{
    if (!(low <= high) || !isfinite(high - low))
        return tg_error("tg_rand: expected finite low <= high, got low=%g high=%g", low, high);
    if (dtype == TG_I64) return tg_error("tg_rand: expected a float dtype, got int64 (tg_randint draws integers)");
    if (!tg__fits_dtype("tg_rand", dtype, low) || !tg__fits_dtype("tg_rand", dtype, high)) return NULL;
    tg_tensor *t = empty_named("tg_rand", dtype, ndim, shape);
    if (!t) return NULL;
    char *p = tg_data(t);
    size_t es = tg_dtype_size(dtype);
    for (int64_t i = 0; i < tg_numel(t); i++) tg__store(p + i * (int64_t)es, dtype, low + (high - low) * tg_rand_uniform());
    return t;
}

tg_tensor *tg_randn(tg_dtype dtype, int ndim, const int64_t *shape, double mean, double std)
{
    if (!(std >= 0)) return tg_error("tg_randn: std must be >= 0, got %g", std);
    if (dtype == TG_I64) return tg_error("tg_randn: expected a float dtype, got int64");
    tg_tensor *t = empty_named("tg_randn", dtype, ndim, shape);
    if (!t) return NULL;
    char *p = tg_data(t);
    size_t es = tg_dtype_size(dtype);
    for (int64_t i = 0; i < tg_numel(t); i++) tg__store(p + i * (int64_t)es, dtype, mean + std * tg_rand_normal());
    return t;
}

tg_tensor *tg_randint(int ndim, const int64_t *shape, int64_t low, int64_t high)
{
    if (high <= low)
        return tg_error("tg_randint: random_ expects 'from' to be less than 'to', but got from=%lld >= to=%lld",
                        (long long)low, (long long)high);
    tg_tensor *t = empty_named("tg_randint", TG_I64, ndim, shape);
    if (!t) return NULL;
    int64_t *p = tg_data(t);
    /* Unsigned arithmetic: the range may exceed INT64_MAX. */
    uint64_t range = (uint64_t)high - (uint64_t)low;
    for (int64_t i = 0; i < tg_numel(t); i++) p[i] = (int64_t)((uint64_t)low + tg_rand_below(range));
    return t;
}

tg_tensor *tg_from_array(tg_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    tg_tensor *t = empty_named("tg_from_array", dtype, ndim, shape);
    if (!t || tg_numel(t) == 0) return t; /* no element to read: data may be NULL */
    if (!data) {
        char s[128];
        tg_error("tg_from_array: data is NULL for a tensor of shape %s", tg_shape_str(t, s, sizeof s));
        tg_free(t);
        return NULL;
    }
    memcpy(tg_data(t), data, (size_t)tg_numel(t) * tg_dtype_size(dtype));
    return t;
}

int64_t tg_numel(const tg_tensor *t)
{
    if (!t) return 0;
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

int64_t tg_size(const tg_tensor *t, int dim)
{
    if (!tg__check("tg_size", t)) return -1;
    if (t->ndim == 0) return tg_fail("tg_size: Dimension specified as %d but tensor has no dimensions", dim);
    int d = tg__dim("tg_size", dim, t->ndim);
    return d < 0 ? -1 : t->shape[d];
}

bool tg_is_contiguous(const tg_tensor *t)
{
    if (!t) return false;
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s) return false;
        s *= t->shape[d];
    }
    return true;
}

void *tg_data(const tg_tensor *t)
{
    if (!t) return NULL;
    return (char *)t->storage->data + t->offset * (int64_t)tg_dtype_size(t->dtype);
}

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

double tg_get(const tg_tensor *t, const int64_t *index)
{
    if (!tg__check("tg_get", t)) return NAN;
    if (!index && t->ndim > 0) return TG__NAN("tg_get: index is NULL for a tensor of %d dims", t->ndim);
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d])
            return TG__NAN("tg_get: index %lld is out of bounds for dimension %d with size %lld",
                           (long long)index[d], d, (long long)t->shape[d]);
        off += index[d] * t->stride[d];
    }
    return tg__load((char *)t->storage->data + off * (int64_t)tg_dtype_size(t->dtype), t->dtype);
}

double tg_item(const tg_tensor *t)
{
    if (!tg__check("tg_item", t)) return NAN;
    if (tg_numel(t) != 1) {
        char s[128];
        return TG__NAN("tg_item: a Tensor with %lld elements cannot be converted to Scalar (shape %s)",
                       (long long)tg_numel(t), tg_shape_str(t, s, sizeof s));
    }
    return tg__load(tg_data(t), t->dtype);
}

int tg_copy_to_array(const tg_tensor *t, void *out)
{
    if (!tg__check("tg_copy_to_array", t)) return -1;
    if (tg_numel(t) == 0) return 0; /* no element to write: out may be NULL */
    if (!out) return tg_fail("tg_copy_to_array: out is NULL");
    tg_storage s = {.data = out, .nbytes = tg_numel(t) * (int64_t)tg_dtype_size(t->dtype)};
    tg_tensor dst = tg__header(t, t->ndim, t->shape, t->stride, 0);
    dst.storage = &s;
    set_contiguous_strides(&dst);
    return tg_copy_(&dst, t);
}

/* --- lifetime ------------------------------------------------------------ */

void tg_free(tg_tensor *t)
{
    /* A scope tensor is left to its scope. Anything else must be a live
     * persistent tensor: debug builds ask their set of live headers before
     * reading t, so that a second tg_free is reported, not done. */
    if (!t || tg__arena_owns(t)) return;
    if (!tg__live_remove(t)) {
        tg_error("tg_free: %p is not a live persistent tensor (freed twice?)", (void *)t);
        return;
    }
    /* A graph recorded outside any scope still reads it: it goes with that
     * graph, as PyTorch's graph holds its own references. */
    if (TG__BASE_READS(t) > 0) {
        tg__graph_free_later(t);
        return;
    }
    /* So may a graph or a view of an open scope, which count no
     * references: a parameter freed before the step's backward. */
    if (tg__scope_depth() > 0 && tg__scope_frees_later(t)) return;
    tg__free_header(t);
}

void tg__free_header(tg_tensor *t)
{
    /* Base-level graphs outlive their tensors: the node forgets this one,
     * so that tg_release_thread_memory does not touch it; a leaf's hook
     * nodes forget it too, here rather than in tg_free, as a leaf that a
     * graph still read is freed later, with that graph. */
    if (!t->node) tg__tape_forget_leaf(t);
    if (t->node && t->node->tombstone) free(t->node);
    else if (t->node && t->node->out == t) t->node->out = NULL;
    tg__graph_unlink(t);
    if (t->grad) tg_free(t->grad);
    tg_storage *s = t->storage;
    if (s->persistent && __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
        free(s->data);
        free(s);
    }
    t->magic = 0;
    free(t);
}

tg_tensor *tg_requires_grad(tg_tensor *t, bool requires_grad)
{
    if (!tg__check("tg_requires_grad", t)) return NULL;
    if (t->node) {
        if (!requires_grad)
            return tg_error("tg_requires_grad: you can only change requires_grad flags of leaf variables "
                            "(this tensor was made by '%s')", t->node->op);
        return t;
    }
    if (requires_grad && t->dtype == TG_I64)
        return tg_error("tg_requires_grad: only Tensors of floating point dtype can require gradients (got int64)");
    t->requires_grad = requires_grad;
    return t;
}
