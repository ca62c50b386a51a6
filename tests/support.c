#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Fixture files are small; keep the last one read. */
static char cached_path[1024];
static char *cached_text;

tg_tensor *golden(const char *file, const char *name, tg_dtype dtype)
{
    const char *dir = getenv("TG_GOLDEN_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/golden", file);
    if (strcmp(path, cached_path) != 0) {
        free(cached_text);
        cached_text = read_file(path);
        snprintf(cached_path, sizeof cached_path, "%s", path);
    }
    if (!cached_text) fail_msg("golden: cannot read %s", path);
    size_t name_len = strlen(name);
    for (const char *line = cached_text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, name_len) != 0 || line[name_len] != ' ') continue;
        char *p = (char *)line + name_len;
        int ndim = (int)strtol(p, &p, 10);
        int64_t shape[TG_MAX_DIMS];
        int64_t numel = 1;
        for (int d = 0; d < ndim; d++) {
            shape[d] = strtoll(p, &p, 10);
            numel *= shape[d];
        }
        double *values = malloc(sizeof(double) * (size_t)(numel ? numel : 1));
        for (int64_t i = 0; i < numel; i++) values[i] = strtod(p, &p);
        tg_tensor *t64 = tg_from_array(TG_F64, ndim, shape, values);
        free(values);
        if (dtype == TG_F64) return t64;
        bool was = tg_set_grad_enabled(false);
        tg_tensor *t = tg_cast(t64, dtype);
        tg_set_grad_enabled(was);
        return t;
    }
    fail_msg("golden: no tensor '%s' in %s", name, path);
    return NULL;
}

void assert_close_impl(const tg_tensor *actual, const tg_tensor *expected, double rtol, double atol,
                       const char *what, const char *file, int line)
{
    char s1[128], s2[128];
    if (!actual) fail_at(file, line, "%s: result is NULL (%s)", what, tg_last_error());
    if (!expected) fail_at(file, line, "%s: expected is NULL", what);
    if (!tg_same_shape(actual, expected))
        fail_at(file, line, "%s: shape %s, expected %s", what, tg_shape_str(actual, s1, sizeof s1),
                     tg_shape_str(expected, s2, sizeof s2));
    int64_t n = tg_numel(actual);
    double *a = malloc(sizeof(double) * (size_t)(n ? n : 1)), *e = malloc(sizeof(double) * (size_t)(n ? n : 1));
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    tg_copy_to_array(tg_cast((tg_tensor *)actual, TG_F64), a);
    tg_copy_to_array(tg_cast((tg_tensor *)expected, TG_F64), e);
    tg_set_grad_enabled(was);
    tg_scope_end(s);
    for (int64_t i = 0; i < n; i++) {
        bool ok = (isnan(a[i]) && isnan(e[i])) || (isinf(e[i]) && a[i] == e[i]) ||
                  fabs(a[i] - e[i]) <= atol + rtol * fabs(e[i]);
        if (!ok) {
            double ai = a[i], ei = e[i];
            free(a);
            free(e);
            fail_at(file, line, "%s: element %lld is %.17g, expected %.17g", what, (long long)i, ai, ei);
        }
    }
    free(a);
    free(e);
}

void assert_near_impl(double actual, double expected, double tol, const char *file, int line)
{
    if (!(fabs(actual - expected) <= tol))
        fail_at(file, line, "%.17g is not within %g of %.17g", actual, tol, expected);
}

void assert_gradcheck_impl(tg_gradcheck_fn fn, tg_tensor **inputs, int n, void *ctx, const char *what,
                           const char *file, int line)
{
    tg_gradcheck_result r;
    int status = tg_gradcheck(fn, n, inputs, ctx, 1e-6, 1e-6, 1e-4, &r);
    if (status < 0) fail_at(file, line, "%s: gradcheck error: %s", what, tg_last_error());
    if (status > 0)
        fail_at(file, line, "%s: gradcheck failed at input %d element %lld: analytic %.10g, numeric %.10g",
                     what, r.worst_input, (long long)r.worst_index, r.analytic, r.numeric);
}

void assert_error_contains_impl(const char *needle, const char *file, int line)
{
    if (!strstr(tg_last_error(), needle))
        fail_at(file, line, "expected an error containing '%s', got '%s'", needle, tg_last_error());
}

tg_tensor *leaf_f64(int ndim, const int64_t *shape, double lo, double hi)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *t = tg_keep(tg_rand(TG_F64, ndim, shape, lo, hi));
    tg_scope_end(s);
    return tg_requires_grad(t, true);
}

tg_tensor *golden_leaf(const char *file, const char *name, tg_dtype dtype, bool requires_grad)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *t = tg_keep(golden(file, name, dtype));
    tg_scope_end(s);
    return requires_grad ? tg_requires_grad(t, true) : t;
}

/* t's values in a non-contiguous layout (dims reversed in memory, or every
 * other element for 1-D), reached through differentiable ops. */
static tg_tensor *strided(tg_tensor *t)
{
    if (t->ndim == 0) return t;
    if (t->ndim == 1) return tg_select(tg_stack(2, (tg_tensor *[]){t, t}, 1), 1, 1);
    int reverse[TG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) reverse[d] = t->ndim - 1 - d;
    return tg_permute(tg_contiguous(tg_permute(t, reverse)), reverse);
}

static void run_golden(const char *file, const golden_case *c, tg_dtype dtype, bool make_strided)
{
    const char *tag = dtype == TG_F32 ? "f32" : "f64";
    double rtol = dtype == TG_F32 ? 1e-5 : 1e-12, atol = dtype == TG_F32 ? 1e-6 : 1e-12;
    char key[128];
    tg_tensor *leaves[8] = {0}, *in[8];
    tg_scope *s = tg_scope_begin();
    for (int k = 0; k < c->n_inputs; k++) {
        snprintf(key, sizeof key, "%s.in%d", c->name, k);
        tg_tensor *t = golden(file, key, (c->index_inputs >> k & 1) ? TG_I64 : dtype);
        if (c->grad_inputs >> k & 1) t = leaves[k] = tg_requires_grad(tg_keep(t), true);
        in[k] = make_strided ? strided(t) : t;
    }
    tg_tensor *out = c->op(in);
    snprintf(key, sizeof key, "%s.out.%s", c->name, tag);
    assert_close(out, golden(file, key, dtype), rtol, atol, key);
    if (c->grad_inputs) {
        snprintf(key, sizeof key, "%s.gout", c->name);
        assert_int_equal(tg_backward(out, golden(file, key, dtype)), 0);
        for (int k = 0; k < c->n_inputs; k++) {
            if (!(c->grad_inputs >> k & 1)) continue;
            snprintf(key, sizeof key, "%s.grad%d.%s", c->name, k, tag);
            assert_close(leaves[k]->grad, golden(file, key, dtype), rtol, atol, key);
        }
    }
    for (int k = 0; k < c->n_inputs; k++) tg_free(leaves[k]);
    tg_scope_end(s);
}

void run_golden_cases(const char *file, const golden_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int strided_inputs = 0; strided_inputs < 2; strided_inputs++) {
            run_golden(file, &cases[i], TG_F32, strided_inputs);
            run_golden(file, &cases[i], TG_F64, strided_inputs);
        }
}

/* A leaf whose view in layout l has the given shape. */
static tg_tensor *layout_leaf(test_layout l, int ndim, const int64_t *shape, double lo, double hi)
{
    int64_t s[TG_MAX_DIMS];
    memcpy(s, shape, sizeof(int64_t) * (size_t)ndim);
    if (l == LAYOUT_TRANSPOSED) {
        s[0] = shape[ndim - 1];
        s[ndim - 1] = shape[0];
    }
    if (l == LAYOUT_SLICED) s[ndim - 1] += 3;
    if (l == LAYOUT_EXPANDED) s[0] = 1;
    return leaf_f64(ndim, s, lo, hi);
}

tg_tensor *layout_view(tg_tensor *leaf, const layout_input *x)
{
    switch (x->layout) {
    case LAYOUT_TRANSPOSED: return tg_transpose(leaf, 0, -1);
    case LAYOUT_SLICED: return tg_narrow(leaf, -1, 1, leaf->shape[leaf->ndim - 1] - 3);
    case LAYOUT_EXPANDED: return tg_expand(leaf, x->ndim, x->shape);
    default: return leaf;
    }
}

void assert_gradcheck_layouts_impl(tg_gradcheck_fn fn, void *ctx, layout_input *x, double lo, double hi, int n_extra,
                                   const leaf_spec *extra, const char *what, const char *file, int line)
{
    tg_tensor *in[8] = {0};
    if (n_extra > 7) fail_at(file, line, "%s: at most 7 extra leaves", what);
    for (test_layout l = LAYOUT_CONTIGUOUS; l < N_LAYOUTS; l++) {
        x->layout = l;
        in[0] = layout_leaf(l, x->ndim, x->shape, lo, hi);
        for (int k = 0; k < n_extra; k++) in[1 + k] = leaf_f64(extra[k].ndim, extra[k].shape, extra[k].lo, extra[k].hi);
        char name[128];
        snprintf(name, sizeof name, "%s (layout %d)", what, (int)l);
        assert_gradcheck_impl(fn, in, 1 + n_extra, ctx, name, file, line);
        for (int k = 0; k <= n_extra; k++) tg_free(in[k]);
    }
}

static tg_tensor *grad_after_change(tg_tensor *(*op)(tg_tensor *), tg_tensor *x, const tg_tensor *gout,
                                    bool change_x, bool change_y)
{
    tg_free(x->grad);
    x->grad = NULL;
    tg_tensor *y = op(x);
    bool was = tg_set_grad_enabled(false);
    if (change_x) assert_int_equal(tg_mul_scalar_(x, 2.0), 0);
    if (change_y) assert_int_equal(tg_mul_scalar_(y, 3.0), 0);
    tg_set_grad_enabled(was);
    assert_int_equal(tg_backward(y, gout ? gout : tg_ones_like(y)), 0);
    was = tg_set_grad_enabled(false);
    if (change_x) assert_int_equal(tg_mul_scalar_(x, 0.5), 0); /* x as it was */
    tg_set_grad_enabled(was);
    return tg_keep(x->grad);
}

void assert_change_keeps_grad(tg_tensor *(*op)(tg_tensor *), tg_tensor *x, const tg_tensor *gout, bool change_x,
                              bool change_y)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *want = grad_after_change(op, x, gout, false, false);
    tg_tensor *got = grad_after_change(op, x, gout, change_x, change_y);
    assert_close(got, want, 0, 0, "gradient after an in-place change");
    assert_true(tg_item(tg_sum(tg_abs(want), 0, NULL, false)) > 0);
    tg_free(want);
    tg_free(got);
    tg_scope_end(s);
}

char *graph_dot_text(const tg_tensor *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(tg_graph_dot(t, f), 0);
    fclose(f);
    return buf;
}
