/* Optimizers: construction and checks, state, step, export/import. The
 * update formulas are in update_tmpl.h. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "optim_internal.h"

/* --- defaults (torch.optim 1.13) ------------------------------------------ */

tg_sgd_config tg_sgd_defaults(double lr) { return (tg_sgd_config){.lr = lr}; }

tg_adam_config tg_adam_defaults(void)
{
    return (tg_adam_config){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

tg_adam_config tg_adamw_defaults(void)
{
    tg_adam_config c = tg_adam_defaults();
    c.weight_decay = 1e-2;
    return c;
}

tg_rmsprop_config tg_rmsprop_defaults(void)
{
    return (tg_rmsprop_config){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8};
}

tg_adagrad_config tg_adagrad_defaults(void) { return (tg_adagrad_config){.lr = 1e-2, .eps = 1e-10}; }

/* --- state slots ------------------------------------------------------------ */

static const char *const slot_names[][OPTIM_SLOTS] = {
    [OPTIM_SGD] = {"momentum_buffer", NULL, NULL},
    [OPTIM_ADAM] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    [OPTIM_ADAMW] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    [OPTIM_RMSPROP] = {"square_avg", "momentum_buffer", "grad_avg"},
    [OPTIM_ADAGRAD] = {"sum", NULL, NULL},
};

/* Whether a group with these options keeps moment slot k (as PyTorch's
 * state holds the key). */
static bool slot_used(optim_kind kind, const optim_hyper *h, int k)
{
    switch (kind) {
    case OPTIM_SGD: return k == 0 && h->momentum != 0;
    case OPTIM_ADAM:
    case OPTIM_ADAMW: return k < 2 || h->amsgrad;
    case OPTIM_RMSPROP: return k == 0 || (k == 1 && h->momentum > 0) || (k == 2 && h->centered);
    case OPTIM_ADAGRAD: return k == 0;
    }
    return false;
}

const char *tg__optim_kind_name(const tg_optim *o)
{
    static const char *const names[] = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"};
    return names[o->kind];
}

static bool has_step(const tg_optim *o) { return o->kind != OPTIM_SGD; }

/* A zeroed persistent tensor: state must outlive whatever scope step() runs in. */
static tg_tensor *persistent_zeros(const char *fn, tg_dtype dtype, int ndim, const int64_t *shape)
{
    tg_tensor *t = tg__new_persistent(fn, dtype, ndim, shape);
    if (t) memset(tg_data(t), 0, (size_t)tg_numel(t) * tg_dtype_size(dtype));
    return t;
}

/* Allocate parameter i's state tensors if they do not exist yet (once per
 * parameter for the optimizer's lifetime). */
static int ensure_state(const char *fn, tg_optim *o, int i)
{
    optim_state *st = &o->state[i];
    const tg_tensor *p = o->params[i].tensor;
    const optim_hyper *h = &o->hyper[o->params[i].group];
    if (has_step(o) && !st->step && !(st->step = persistent_zeros(fn, TG_I64, 0, NULL))) return -1;
    for (int k = 0; k < OPTIM_SLOTS; k++)
        if (slot_used(o->kind, h, k) && !st->slot[k] && !(st->slot[k] = persistent_zeros(fn, p->dtype, p->ndim, p->shape)))
            return -1;
    return 0;
}

/* Back to the state of a newly made optimizer: none (zeroed, kept
 * allocated), except Adagrad's accumulator, which PyTorch fills when the
 * optimizer is made. */
static int reset_state(const char *fn, tg_optim *o, int i)
{
    optim_state *st = &o->state[i];
    st->initialized = false;
    if (st->step) *(int64_t *)tg_data(st->step) = 0;
    for (int k = 0; k < OPTIM_SLOTS; k++)
        if (st->slot[k]) memset(tg_data(st->slot[k]), 0, (size_t)tg_numel(st->slot[k]) * tg_dtype_size(st->slot[k]->dtype));
    if (o->kind == OPTIM_ADAGRAD) {
        if (ensure_state(fn, o, i) < 0) return -1;
        tg_fill_(st->slot[0], o->hyper[o->params[i].group].initial_accumulator_value);
        st->initialized = true;
    }
    return 0;
}

/* --- construction ------------------------------------------------------------ */

void tg_optim_free(tg_optim *o)
{
    if (!o) return;
    if (o->state)
        for (int i = 0; i < o->n_params; i++) {
            tg_free(o->state[i].step);
            for (int k = 0; k < OPTIM_SLOTS; k++) tg_free(o->state[i].slot[k]);
        }
    if (o->lr)
        for (int g = 0; g < o->n_groups; g++) tg_free(o->lr[g]);
    free(o->state);
    free(o->lr);
    free(o->initial_lr);
    free(o->hyper);
    free(o->params);
    free(o);
}

static bool check_param(const char *fn, const tg_params *params, int i, int n_groups)
{
    const tg_param *e = &params->items[i];
    const tg_tensor *t = e->tensor;
    if (!t) return TG__REJECT("%s: parameter '%s' is NULL", fn, e->name);
    if (!tg__check_float(fn, t)) return false;
    const char *problem = t->node ? "is not a leaf (can't optimize a non-leaf Tensor)"
                          : !t->persistent ? "belongs to a scope (parameters must be persistent)"
                          : !tg_is_contiguous(t) ? "is not contiguous"
                          : NULL;
    if (problem) return TG__REJECT("%s: parameter '%s' %s", fn, e->name, problem);
    if (e->group < 0 || e->group >= n_groups)
        return TG__REJECT("%s: parameter '%s' is in group %d but %d group config%s given", fn, e->name, e->group, n_groups,
                          n_groups == 1 ? " was" : "s were");
    for (int j = 0; j < i; j++)
        if (params->items[j].tensor == t)
            return TG__REJECT("%s: parameter '%s' appears more than once (also as '%s')", fn, e->name, params->items[j].name);
    return true;
}

/* The shared part of every constructor; the caller fills hyper and lr. */
static tg_optim *optim_new(const char *fn, optim_kind kind, const tg_params *params, int n_groups, const void *groups)
{
    if (!params || !groups) return tg_error("%s: NULL parameter collection or group configs", fn);
    if (params->count == 0) return tg_error("%s: optimizer got an empty parameter list", fn);
    if (n_groups < 1) return tg_error("%s: n_groups must be at least 1 (got %d)", fn, n_groups);
    for (int i = 0; i < params->count; i++)
        if (!check_param(fn, params, i, n_groups)) return NULL;
    tg_optim *o = tg__calloc(1, sizeof *o);
    if (!o) return tg_error("%s: out of memory", fn);
    o->kind = kind;
    o->name = fn;
    o->n_groups = n_groups;
    o->n_params = params->count;
    o->hyper = tg__calloc((size_t)n_groups, sizeof *o->hyper);
    o->lr = tg__calloc((size_t)n_groups, sizeof *o->lr);
    o->initial_lr = tg__malloc(sizeof *o->initial_lr * (size_t)n_groups);
    o->params = tg__malloc(sizeof *o->params * (size_t)params->count);
    o->state = tg__calloc((size_t)params->count, sizeof *o->state);
    bool ok = o->hyper && o->lr && o->initial_lr && o->params && o->state;
    for (int g = 0; ok && g < n_groups; g++) {
        o->initial_lr[g] = NAN;
        ok = (o->lr[g] = persistent_zeros(fn, TG_F64, 0, NULL)) != NULL;
    }
    if (!ok) {
        tg_optim_free(o);
        return tg_error("%s: out of memory", fn);
    }
    memcpy(o->params, params->items, sizeof *o->params * (size_t)params->count);
    return o;
}

/* PyTorch's checks, each "Invalid <what> value: <v>"; !(v >= 0) also
 * rejects NaN. */
#define REQUIRE(cond, what, value) \
    do { \
        if (!(cond)) { \
            tg_error("%s: group %d: Invalid %s: %g", fn, g, what, (double)(value)); \
            return false; \
        } \
    } while (0)

static bool check_sgd(const char *fn, int g, const tg_sgd_config *c)
{
    REQUIRE(c->lr >= 0, "learning rate", c->lr);
    REQUIRE(c->momentum >= 0, "momentum value", c->momentum);
    REQUIRE(c->weight_decay >= 0, "weight_decay value", c->weight_decay);
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return TG__REJECT("%s: group %d: Nesterov momentum requires a momentum and zero dampening (momentum %g, dampening %g)",
                          fn, g, c->momentum, c->dampening);
    return true;
}

static bool check_adam(const char *fn, int g, const tg_adam_config *c)
{
    REQUIRE(c->lr >= 0, "learning rate", c->lr);
    REQUIRE(c->eps >= 0, "epsilon value", c->eps);
    REQUIRE(c->beta1 >= 0 && c->beta1 < 1, "beta parameter at index 0", c->beta1);
    REQUIRE(c->beta2 >= 0 && c->beta2 < 1, "beta parameter at index 1", c->beta2);
    REQUIRE(c->weight_decay >= 0, "weight_decay value", c->weight_decay);
    return true;
}

static bool check_rmsprop(const char *fn, int g, const tg_rmsprop_config *c)
{
    REQUIRE(c->lr >= 0, "learning rate", c->lr);
    REQUIRE(c->eps >= 0, "epsilon value", c->eps);
    REQUIRE(c->momentum >= 0, "momentum value", c->momentum);
    REQUIRE(c->weight_decay >= 0, "weight_decay value", c->weight_decay);
    REQUIRE(c->alpha >= 0, "alpha value", c->alpha);
    return true;
}

static bool check_adagrad(const char *fn, int g, const tg_adagrad_config *c)
{
    REQUIRE(c->lr >= 0, "learning rate", c->lr);
    REQUIRE(c->lr_decay >= 0, "lr_decay value", c->lr_decay);
    REQUIRE(c->weight_decay >= 0, "weight_decay value", c->weight_decay);
    REQUIRE(c->initial_accumulator_value >= 0, "initial_accumulator_value value", c->initial_accumulator_value);
    REQUIRE(c->eps >= 0, "epsilon value", c->eps);
    return true;
}

#undef REQUIRE

static void set_group_lr(tg_optim *o, int g, double lr) { *(double *)tg_data(o->lr[g]) = lr; }

tg_optim *tg_sgd(const tg_params *params, int n_groups, const tg_sgd_config *groups)
{
    for (int g = 0; groups && g < n_groups; g++)
        if (!check_sgd("tg_sgd", g, &groups[g])) return NULL;
    tg_optim *o = optim_new("tg_sgd", OPTIM_SGD, params, n_groups, groups);
    for (int g = 0; o && g < n_groups; g++) {
        const tg_sgd_config *c = &groups[g];
        o->hyper[g] = (optim_hyper){.momentum = c->momentum, .dampening = c->dampening,
                                    .weight_decay = c->weight_decay, .nesterov = c->nesterov};
        set_group_lr(o, g, c->lr);
    }
    return o;
}

static tg_optim *adam_new(const char *fn, optim_kind kind, const tg_params *params, int n_groups,
                          const tg_adam_config *groups)
{
    for (int g = 0; groups && g < n_groups; g++)
        if (!check_adam(fn, g, &groups[g])) return NULL;
    tg_optim *o = optim_new(fn, kind, params, n_groups, groups);
    for (int g = 0; o && g < n_groups; g++) {
        const tg_adam_config *c = &groups[g];
        o->hyper[g] = (optim_hyper){.beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                                    .weight_decay = c->weight_decay, .amsgrad = c->amsgrad};
        set_group_lr(o, g, c->lr);
    }
    return o;
}

tg_optim *tg_adam(const tg_params *params, int n_groups, const tg_adam_config *groups)
{
    return adam_new("tg_adam", OPTIM_ADAM, params, n_groups, groups);
}

tg_optim *tg_adamw(const tg_params *params, int n_groups, const tg_adam_config *groups)
{
    return adam_new("tg_adamw", OPTIM_ADAMW, params, n_groups, groups);
}

tg_optim *tg_rmsprop(const tg_params *params, int n_groups, const tg_rmsprop_config *groups)
{
    for (int g = 0; groups && g < n_groups; g++)
        if (!check_rmsprop("tg_rmsprop", g, &groups[g])) return NULL;
    tg_optim *o = optim_new("tg_rmsprop", OPTIM_RMSPROP, params, n_groups, groups);
    for (int g = 0; o && g < n_groups; g++) {
        const tg_rmsprop_config *c = &groups[g];
        o->hyper[g] = (optim_hyper){.alpha = c->alpha, .eps = c->eps, .weight_decay = c->weight_decay,
                                    .momentum = c->momentum, .centered = c->centered};
        set_group_lr(o, g, c->lr);
    }
    return o;
}

tg_optim *tg_adagrad(const tg_params *params, int n_groups, const tg_adagrad_config *groups)
{
    for (int g = 0; groups && g < n_groups; g++)
        if (!check_adagrad("tg_adagrad", g, &groups[g])) return NULL;
    tg_optim *o = optim_new("tg_adagrad", OPTIM_ADAGRAD, params, n_groups, groups);
    if (!o) return NULL;
    for (int g = 0; g < n_groups; g++) {
        const tg_adagrad_config *c = &groups[g];
        o->hyper[g] = (optim_hyper){.lr_decay = c->lr_decay, .weight_decay = c->weight_decay,
                                    .initial_accumulator_value = c->initial_accumulator_value, .eps = c->eps};
        set_group_lr(o, g, c->lr);
    }
    for (int i = 0; i < o->n_params; i++)
        if (reset_state("tg_adagrad", o, i) < 0) {
            tg_optim_free(o);
            return NULL;
        }
    return o;
}

/* --- stepping ------------------------------------------------------------------ */

static bool check_grad(const tg_optim *o, int i)
{
    const tg_param *e = &o->params[i];
    const tg_tensor *p = e->tensor, *g = p->grad;
    if (!tg__check("tg_optim_step", g)) return false;
    if (!tg_same_shape(p, g) || g->dtype != p->dtype || !tg_is_contiguous(g)) {
        char s1[128], s2[128];
        return TG__REJECT("tg_optim_step: gradient of parameter '%s' is %s %s%s but the parameter is %s %s", e->name,
                          tg_dtype_name(g->dtype), tg_shape_str(g, s1, sizeof s1), tg_is_contiguous(g) ? "" : " (strided)",
                          tg_dtype_name(p->dtype), tg_shape_str(p, s2, sizeof s2));
    }
    return true;
}

int tg_optim_step(tg_optim *o)
{
    if (!o) return tg_fail("tg_optim_step: NULL optimizer");
    /* Check and allocate everything first so that a failure updates nothing. */
    for (int i = 0; i < o->n_params; i++)
        if (o->params[i].tensor->grad && (!check_grad(o, i) || ensure_state("tg_optim_step", o, i) < 0)) return -1;
    for (int i = 0; i < o->n_params; i++) {
        optim_state *st = &o->state[i];
        if (!o->params[i].tensor->grad) continue;
        if (st->step) ++*(int64_t *)tg_data(st->step);
        tg__optim_update(o, i, !st->initialized);
        st->initialized = true;
    }
    return 0;
}

void tg_optim_zero_grad(tg_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n_params; i++) {
        tg_tensor *g = o->params[i].tensor->grad;
        if (!g) continue;
        memset(tg_data(g), 0, (size_t)tg_numel(g) * tg_dtype_size(g->dtype));
        g->storage->version++;
    }
}

/* --- learning rates ------------------------------------------------------------- */

int tg_optim_num_groups(const tg_optim *o) { return o ? o->n_groups : 0; }

static bool check_group(const char *fn, const tg_optim *o, int group)
{
    if (!o) return TG__REJECT("%s: NULL optimizer", fn);
    if (group < 0 || group >= o->n_groups)
        return TG__REJECT("%s: group %d is out of range (the optimizer has %d)", fn, group, o->n_groups);
    return true;
}

double tg_optim_get_lr(const tg_optim *o, int group)
{
    if (!check_group("tg_optim_get_lr", o, group)) return NAN;
    return *(const double *)tg_data(o->lr[group]);
}

int tg_optim_set_lr(tg_optim *o, int group, double lr)
{
    if (!check_group("tg_optim_set_lr", o, group)) return -1;
    if (!(lr >= 0)) return tg_fail("tg_optim_set_lr: Invalid learning rate: %g", lr);
    set_group_lr(o, group, lr);
    return 0;
}

int64_t tg_optim_param_steps(const tg_optim *o, int index)
{
    if (!o || index < 0 || index >= o->n_params)
        return tg_fail("tg_optim_param_steps: parameter index %d is out of range (the optimizer has %d)", index,
                       o ? o->n_params : 0);
    const optim_state *st = &o->state[index];
    return st->step ? *(const int64_t *)tg_data(st->step) : 0;
}

/* --- export / import ------------------------------------------------------------- */

/* PyTorch numbers an optimizer's parameters as its param_groups list them,
 * group by group: group 0's (in collection order here), then group 1's,
 * and so on; collection order itself when the groups are not interleaved
 * (an LSTM's biases put in group 1 are). order[k] is the parameter that
 * PyTorch numbers k, and rank[i] (when rank is not NULL) the number of
 * parameter i. */
static void torch_order(const tg_optim *o, int *order, int *rank)
{
    int k = 0;
    for (int g = 0; g < o->n_groups; g++)
        for (int i = 0; i < o->n_params; i++)
            if (o->params[i].group == g) {
                if (rank) rank[i] = k;
                order[k++] = i;
            }
}

int tg_optim_state_export(const tg_optim *o, tg_params *out)
{
    if (!o || !out) return tg_fail("tg_optim_state_export: NULL optimizer or output collection");
    const int count = out->count;
    char name[TG_PARAM_NAME_MAX];
    int *order = tg__malloc(sizeof *order * (size_t)(o->n_params ? o->n_params : 1));
    if (!order) return tg_fail("tg_optim_state_export: out of memory");
    torch_order(o, order, NULL);
    for (int g = 0; g < o->n_groups; g++) {
        snprintf(name, sizeof name, "param_groups.%d.lr", g);
        if (tg_params_add(out, NULL, name, o->lr[g]) < 0) goto fail;
    }
    for (int k = 0; k < o->n_params; k++) {
        const int i = order[k];
        const optim_state *st = &o->state[i];
        if (!st->initialized) continue;
        if (st->step) {
            snprintf(name, sizeof name, "state.%d.step", k);
            if (tg_params_add(out, NULL, name, st->step) < 0) goto fail;
        }
        for (int s = 0; s < OPTIM_SLOTS; s++) {
            if (!st->slot[s]) continue;
            snprintf(name, sizeof name, "state.%d.%s", k, slot_names[o->kind][s]);
            if (tg_params_add(out, NULL, name, st->slot[s]) < 0) goto fail;
        }
    }
    free(order);
    return 0;
fail:
    free(order);
    out->count = count;
    return -1;
}

/* A non-negative decimal index followed by '.', or -1. */
static int parse_index(const char *s, const char **rest)
{
    if (!isdigit((unsigned char)*s)) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '.' || v > 1000000000L) return -1;
    *rest = end + 1;
    return (int)v;
}

/* What an import entry refers to: a group's lr, a parameter's step (slot
 * -1) or one of its moment slots. */
typedef struct {
    bool is_lr;
    int index;  /* group or parameter */
    int slot;   /* -1: step */
} entry_ref;

static bool parse_entry(const tg_optim *o, const int *order, const tg_param *e, entry_ref *ref)
{
    const char *fn = "tg_optim_state_import", *rest;
    const tg_tensor *t = e->tensor;
    if (!tg__check(fn, t)) {
        if (!t) tg_error("%s: entry '%s' has no tensor", fn, e->name);
        return false;
    }
    if (strncmp(e->name, "param_groups.", 13) == 0) {
        int g = parse_index(e->name + 13, &rest);
        if (g < 0 || strcmp(rest, "lr") != 0) goto unknown;
        if (g >= o->n_groups)
            return TG__REJECT("%s: entry '%s': group %d is out of range (the optimizer has %d)", fn, e->name, g, o->n_groups);
        /* Any value, as PyTorch's load_state_dict takes any: a checkpoint
         * must load what save wrote, and a chain of schedules can take the
         * rate below 0 (a CosineAnnealingLR after an ExponentialLR took it
         * below eta_min) or to NaN (a LambdaLR whose function returned
         * NaN). tg_optim_set_lr still refuses both. */
        if (tg_numel(t) != 1) {
            char s1[128];
            return TG__REJECT("%s: entry '%s' is %s but must hold one learning rate", fn, e->name, tg_shape_str(t, s1, sizeof s1));
        }
        *ref = (entry_ref){true, g, 0};
        return true;
    }
    if (strncmp(e->name, "state.", 6) != 0) goto unknown;
    int k = parse_index(e->name + 6, &rest);
    if (k < 0) goto unknown;
    if (k >= o->n_params)
        return TG__REJECT("%s: entry '%s': parameter %d is out of range (the optimizer has %d)", fn, e->name, k, o->n_params);
    const int i = order[k];
    const tg_tensor *p = o->params[i].tensor;
    if (has_step(o) && strcmp(rest, "step") == 0) {
        double step = tg_numel(t) == 1 ? tg_item(t) : NAN;
        if (!(step >= 0 && step == floor(step) && step < 9e15))
            return TG__REJECT("%s: entry '%s' must hold one whole step count >= 0", fn, e->name);
        *ref = (entry_ref){false, i, -1};
        return true;
    }
    for (int s = 0; s < OPTIM_SLOTS; s++) {
        if (!slot_names[o->kind][s] || strcmp(rest, slot_names[o->kind][s]) != 0) continue;
        if (!slot_used(o->kind, &o->hyper[o->params[i].group], s)) goto unknown;
        if (t->dtype == TG_I64 || !tg_same_shape(t, p)) {
            char s1[128], s2[128];
            return TG__REJECT("%s: entry '%s' is %s %s but parameter %d ('%s') is %s %s", fn, e->name, tg_dtype_name(t->dtype),
                              tg_shape_str(t, s1, sizeof s1), k, o->params[i].name, tg_dtype_name(p->dtype),
                              tg_shape_str(p, s2, sizeof s2));
        }
        *ref = (entry_ref){false, i, s};
        return true;
    }
unknown:
    return TG__REJECT("%s: unexpected entry '%s' for %s with these options", fn, e->name, o->name + 3);
}

int tg_optim_state_import(tg_optim *o, const tg_params *in)
{
    const char *fn = "tg_optim_state_import";
    if (!o || !in) return tg_fail("%s: NULL optimizer or input collection", fn);
    /* seen[i * (1 + OPTIM_SLOTS) + 1 + slot]: which entries parameter i has. */
    const int stride = 1 + OPTIM_SLOTS;
    entry_ref *refs = tg__malloc(sizeof *refs * (size_t)(in->count ? in->count : 1));
    unsigned char *seen = tg__calloc((size_t)o->n_params * stride, 1);
    int *order = tg__malloc(sizeof *order * 2 * (size_t)(o->n_params ? o->n_params : 1)), *rank = NULL;
    int status = -1;
    if (!refs || !seen || !order) {
        tg_error("%s: out of memory", fn);
        goto done;
    }
    rank = order + o->n_params;
    torch_order(o, order, rank);
    for (int j = 0; j < in->count; j++) {
        if (!parse_entry(o, order, &in->items[j], &refs[j])) goto done;
        if (refs[j].is_lr) continue;
        unsigned char *mark = &seen[refs[j].index * stride + 1 + refs[j].slot];
        if (*mark) {
            tg_error("%s: entry '%s' appears twice", fn, in->items[j].name);
            goto done;
        }
        *mark = 1;
    }
    for (int i = 0; i < o->n_params; i++) {
        const unsigned char *s = &seen[i * stride];
        bool any = false;
        for (int k = 0; k < stride; k++) any |= s[k];
        if (!any) continue;
        const optim_hyper *h = &o->hyper[o->params[i].group];
        for (int k = -1; k < OPTIM_SLOTS; k++) {
            bool needed = k < 0 ? has_step(o) : slot_used(o->kind, h, k);
            if (needed && !s[1 + k]) {
                tg_error("%s: parameter %d ('%s') has state but no 'state.%d.%s' entry", fn, rank[i], o->params[i].name,
                         rank[i], k < 0 ? "step" : slot_names[o->kind][k]);
                goto done;
            }
        }
        if (ensure_state(fn, o, i) < 0) goto done;
    }
    /* Everything is checked and allocated: apply. Parameters with entries
     * get every slot overwritten (the entries may be this optimizer's own
     * tensors, so they are not cleared first). */
    for (int i = 0; i < o->n_params; i++) {
        bool any = false;
        for (int k = 0; k < stride; k++) any |= seen[i * stride + k];
        if (!any && reset_state(fn, o, i) < 0) goto done;
    }
    for (int j = 0; j < in->count; j++) {
        const tg_tensor *t = in->items[j].tensor;
        const entry_ref *r = &refs[j];
        if (r->is_lr) {
            set_group_lr(o, r->index, tg_item(t));
            continue;
        }
        optim_state *st = &o->state[r->index];
        st->initialized = true;
        if (r->slot < 0) *(int64_t *)tg_data(st->step) = (int64_t)tg_item(t);
        else tg_copy_(st->slot[r->slot], t);
    }
    status = 0;
done:
    free(refs);
    free(seen);
    free(order);
    return status;
}
