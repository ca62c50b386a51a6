#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "params.h"

tg_params tg_params_new(void) { return (tg_params){0}; }

int tg_params_add(tg_params *p, const char *prefix, const char *name, tg_tensor *tensor)
{
    if (!p || !name || !tensor) {
        tg_error("tg_params_add: NULL collection, name or tensor");
        return -1;
    }
    char full[TG_PARAM_NAME_MAX];
    int n = prefix && *prefix ? snprintf(full, sizeof full, "%s.%s", prefix, name)
                              : snprintf(full, sizeof full, "%s", name);
    if (n < 0 || n >= (int)sizeof full) {
        tg_error("tg_params_add: name '%s.%s' is longer than %d characters", prefix, name, TG_PARAM_NAME_MAX - 1);
        return -1;
    }
    if (tg_params_find(p, full)) {
        tg_error("tg_params_add: duplicate parameter name '%s'", full);
        return -1;
    }
    if (p->count == p->capacity) {
        int cap = p->capacity ? 2 * p->capacity : 16;
        tg_param *items = realloc(p->items, sizeof *items * (size_t)cap);
        if (!items) {
            tg_error("tg_params_add: out of memory");
            return -1;
        }
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
    if (!dst || !src) {
        tg_error("tg_params_extend: NULL collection");
        return -1;
    }
    for (int i = 0; i < src->count; i++) {
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
    for (int i = 0; p && i < p->count; i++) tg_zero_grad(&p->items[i].tensor, 1);
}

void tg_params_free(tg_params *p)
{
    if (!p) return;
    free(p->items);
    *p = tg_params_new();
}
