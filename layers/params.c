#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad/autograd.h>
#include "../core/internal.h"
#include <tapegrad/params.h>
#include <tapegrad/random.h>

tg_params tg_params_new(void) { return (tg_params){0}; }

int tg_params_add(tg_params *p, const char *prefix, const char *name, tg_tensor *tensor)
{
    if (!p || !name || !tensor) return tg_fail("tg_params_add: NULL collection, name or tensor");
    char full[TG_PARAM_NAME_MAX];
    int n = prefix && *prefix ? snprintf(full, sizeof full, "%s.%s", prefix, name)
                              : snprintf(full, sizeof full, "%s", name);
    if (n < 0 || n >= (int)sizeof full)
        return tg_fail("tg_params_add: name '%s%s%s' is longer than %d characters", prefix && *prefix ? prefix : "",
                       prefix && *prefix ? "." : "", name, TG_PARAM_NAME_MAX - 1);
    if (tg_params_find(p, full)) return tg_fail("tg_params_add: duplicate parameter name '%s'", full);
    if (p->count == p->capacity) {
        int cap = p->capacity ? 2 * p->capacity : 16;
        tg_param *items = tg__realloc(p->items, sizeof *items * (size_t)cap);
        if (!items) return tg_fail("tg_params_add: out of memory");
        p->items = items;
        p->capacity = cap;
    }
    tg_param *e = &p->items[p->count++];
    memcpy(e->name, full, (size_t)n + 1);
    e->tensor = tensor;
    e->group = 0;
    return 0;
}

int tg_params_extend(tg_params *dst, const char *prefix, const tg_params *src)
{
    if (!dst || !src) return tg_fail("tg_params_extend: NULL collection");
    /* src may be dst itself: only its entries from before the call are added. */
    int count = src->count;
    for (int i = 0; i < count; i++) {
        if (tg_params_add(dst, prefix, src->items[i].name, src->items[i].tensor) < 0) return -1;
        dst->items[dst->count - 1].group = src->items[i].group;
    }
    return 0;
}

tg_tensor *tg_params_find(const tg_params *p, const char *name)
{
    for (int i = 0; p && name && i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0) return p->items[i].tensor;
    return NULL;
}

int tg_params_set_group(tg_params *p, const char *suffix, int group)
{
    int changed = 0;
    size_t ls = suffix ? strlen(suffix) : 0;
    for (int i = 0; p && suffix && i < p->count; i++) {
        size_t ln = strlen(p->items[i].name);
        if (ln >= ls && strcmp(p->items[i].name + ln - ls, suffix) == 0) {
            p->items[i].group = group;
            changed++;
        }
    }
    return changed;
}

int64_t tg_params_numel(const tg_params *p)
{
    int64_t n = 0;
    for (int i = 0; p && i < p->count; i++) n += tg_numel(p->items[i].tensor);
    return n;
}

void tg_params_zero_grad(const tg_params *p)
{
    for (int i = 0; p && i < p->count; i++) tg_zero_grad(1, &p->items[i].tensor);
}

void tg_params_free(tg_params *p)
{
    if (!p) return;
    free(p->items);
    *p = tg_params_new();
}

/* --- making parameters ------------------------------------------------------ */

typedef enum { FILL_UNIFORM, FILL_NORMAL, FILL_CONSTANT } fill_kind;

static tg_tensor *param_new(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape, fill_kind kind,
                            double a, double b)
{
    if (!tg__float_dtype(fn, "parameters", dtype)) return NULL;
    if (!tg__valid_shape(fn, ndim, shape)) return NULL;
    if (kind == FILL_UNIFORM && !(a <= b))
        return tg_error("%s: uniform_ expects to return a [from, to) range, but found from=%g > to=%g", fn, a, b);
    /* An infinite range draws inf and NaN (inf - inf) in place of numbers. */
    if (kind == FILL_UNIFORM && !isfinite(b - a))
        return tg_error("%s: uniform_ expects a finite to-from, but found from=%g and to=%g", fn, a, b);
    if (kind == FILL_NORMAL && !(b >= 0)) return tg_error("%s: normal expects std >= 0.0, but found std %g", fn, b);
    /* torch's uniform_ and fill_ refuse a finite value beyond float's range. */
    const double bounds[2] = {a, b};
    for (int k = 0; dtype == TG_F32 && kind != FILL_NORMAL && k < (kind == FILL_UNIFORM ? 2 : 1); k++)
        if (isfinite(bounds[k]) && fabs(bounds[k]) > FLT_MAX)
            return tg_error("%s: %s is out of bounds for float: %g", fn,
                            kind == FILL_CONSTANT ? "value" : k ? "to" : "from", bounds[k]);
    tg_tensor *t = tg__new_persistent(fn, dtype, ndim, shape);
    if (!t) return NULL;
    char *data = tg_data(t);
    size_t size = tg_dtype_size(dtype);
    for (int64_t i = 0, n = tg_numel(t); i < n; i++) {
        double v = kind == FILL_UNIFORM ? a + (b - a) * tg_rand_uniform()
                 : kind == FILL_NORMAL  ? a + b * tg_rand_normal()
                                        : a;
        tg__store(data + (size_t)i * size, dtype, v);
    }
    return tg_requires_grad(t, true);
}

tg_tensor *tg_param_uniform(tg_dtype dtype, int ndim, const int64_t *shape, double low, double high)
{
    return param_new("tg_param_uniform", dtype, ndim, shape, FILL_UNIFORM, low, high);
}

tg_tensor *tg_param_normal(tg_dtype dtype, int ndim, const int64_t *shape, double mean, double std)
{
    return param_new("tg_param_normal", dtype, ndim, shape, FILL_NORMAL, mean, std);
}

tg_tensor *tg_param_full(tg_dtype dtype, int ndim, const int64_t *shape, double value)
{
    return param_new("tg_param_full", dtype, ndim, shape, FILL_CONSTANT, value, 0);
}
