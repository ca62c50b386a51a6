#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define fail_at(file, line, ...) \
    do { \
        print_error(__VA_ARGS__); \
        print_error("\n"); \
        _fail(file, line); \
    } while (0)

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
    int status = tg_gradcheck(fn, inputs, n, ctx, 1e-6, 1e-6, 1e-4, &r);
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
