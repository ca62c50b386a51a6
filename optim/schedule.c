/* Learning-rate schedules with torch.optim.lr_scheduler's recursive
 * formulas, in the same floating-point operation order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "optim_internal.h"
#include <tapegrad/schedule.h>

typedef enum {
    SCHED_STEP, SCHED_MULTISTEP, SCHED_EXPONENTIAL, SCHED_COSINE, SCHED_LAMBDA, SCHED_LINEAR, SCHED_PLATEAU
} sched_kind;

/* Exported state, in this order (see schedule.h). */
enum { EX_LAST_EPOCH, EX_BASE_LRS, EX_LAST_LR, EX_BEST, EX_NUM_BAD, EX_COOLDOWN, EX_COUNT };
static const char *const export_names[EX_COUNT] = {"last_epoch", "base_lrs", "last_lr", "best",
                                                   "num_bad_epochs", "cooldown_counter"};

struct tg_sched {
    sched_kind kind;
    tg_optim *optim;
    int n_groups;
    int64_t last_epoch;
    double *base_lrs, *last_lr; /* [n_groups] */
    /* Options of the kinds that use them. */
    int64_t step_size, t_max, total_iters;
    double gamma, eta_min, start_factor, end_factor;
    int n_milestones;
    int64_t *milestones;
    tg_lr_lambda fn;
    void *user;
    /* ReduceLROnPlateau */
    tg_plateau_config plateau;
    double *min_lrs;            /* [n_groups] */
    double best;
    int64_t num_bad_epochs, cooldown_counter;
    tg_tensor *exported[EX_COUNT]; /* made on first export */
};

const char *tg__sched_kind_name(const tg_sched *s)
{
    static const char *const names[] = {"StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                        "LambdaLR", "LinearLR", "ReduceLROnPlateau"};
    return names[s->kind];
}

void tg_sched_free(tg_sched *s)
{
    if (!s) return;
    for (int k = 0; k < EX_COUNT; k++) tg_free(s->exported[k]);
    free(s->base_lrs);
    free(s->last_lr);
    free(s->milestones);
    free(s->min_lrs);
    free(s);
}

static tg_sched *sched_new(const char *fn, sched_kind kind, tg_optim *o)
{
    if (!o) return tg_error("%s: NULL optimizer", fn);
    tg_sched *s = tg__calloc(1, sizeof *s);
    if (!s) return tg_error("%s: out of memory", fn);
    s->kind = kind;
    s->optim = o;
    s->n_groups = o->n_groups;
    s->base_lrs = tg__malloc(sizeof *s->base_lrs * (size_t)s->n_groups);
    s->last_lr = tg__malloc(sizeof *s->last_lr * (size_t)s->n_groups);
    if (!s->base_lrs || !s->last_lr) {
        tg_sched_free(s);
        return tg_error("%s: out of memory", fn);
    }
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = tg_optim_get_lr(o, g);
    return s;
}

/* The lr of group g at s->last_epoch, from the group's current lr. */
static double next_lr(const tg_sched *s, int g)
{
    const double lr = tg_optim_get_lr(s->optim, g), base_lr = s->base_lrs[g];
    const int64_t epoch = s->last_epoch;
    switch (s->kind) {
    case SCHED_STEP:
        return epoch == 0 || epoch % s->step_size != 0 ? lr : lr * s->gamma;
    case SCHED_MULTISTEP: {
        int hits = 0;
        for (int k = 0; k < s->n_milestones; k++) hits += s->milestones[k] == epoch;
        return hits == 0 ? lr : lr * pow(s->gamma, hits);
    }
    case SCHED_EXPONENTIAL:
        return epoch == 0 ? lr : lr * s->gamma;
    case SCHED_COSINE: {
        const double t_max = (double)s->t_max, eta_min = s->eta_min;
        if (epoch == 0) return lr;
        /* One epoch past a minimum the ratio below is 0/0: step up directly.
         * PyTorch's (epoch - 1 - t_max) % (2 t_max) == 0, in unsigned
         * arithmetic (epoch >= 1 here), where 2 t_max cannot overflow. */
        if ((uint64_t)(epoch - 1) % (2 * (uint64_t)s->t_max) == (uint64_t)s->t_max)
            return lr + (base_lr - eta_min) * (1 - cos(M_PI / t_max)) / 2;
        return (1 + cos(M_PI * (double)epoch / t_max)) / (1 + cos(M_PI * (double)(epoch - 1) / t_max)) *
                   (lr - eta_min) +
               eta_min;
    }
    case SCHED_LAMBDA:
        return base_lr * s->fn(epoch, g, s->user);
    case SCHED_LINEAR:
        if (epoch == 0) return lr * s->start_factor;
        if (epoch > s->total_iters) return lr;
        return lr * (1. + (s->end_factor - s->start_factor) /
                              ((double)s->total_iters * s->start_factor +
                               (double)(epoch - 1) * (s->end_factor - s->start_factor)));
    case SCHED_PLATEAU:
        break;
    }
    return lr;
}

static void apply_epoch(tg_sched *s)
{
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = next_lr(s, g);
    for (int g = 0; g < s->n_groups; g++) *(double *)tg_data(s->optim->lr[g]) = s->last_lr[g];
}

/* PyTorch's _LRScheduler.__init__: base_lrs from the groups' initial_lr
 * (set by the first schedule), then the step to epoch 0. */
static tg_sched *sched_start(tg_sched *s)
{
    tg_optim *o = s->optim;
    for (int g = 0; g < s->n_groups; g++) {
        if (isnan(o->initial_lr[g])) o->initial_lr[g] = tg_optim_get_lr(o, g);
        s->base_lrs[g] = o->initial_lr[g];
    }
    s->last_epoch = 0;
    apply_epoch(s);
    return s;
}

tg_sched *tg_sched_step_lr(tg_optim *o, int64_t step_size, double gamma)
{
    if (step_size <= 0) return tg_error("tg_sched_step_lr: step_size must be > 0 (got %lld)", (long long)step_size);
    tg_sched *s = sched_new("tg_sched_step_lr", SCHED_STEP, o);
    if (!s) return NULL;
    s->step_size = step_size;
    s->gamma = gamma;
    return sched_start(s);
}

tg_sched *tg_sched_multistep_lr(tg_optim *o, int n, const int64_t *milestones, double gamma)
{
    const char *fn = "tg_sched_multistep_lr";
    if (n < 0 || (n > 0 && !milestones)) return tg_error("%s: %d milestones but no array", fn, n);
    for (int k = 1; k < n; k++)
        if (milestones[k] < milestones[k - 1])
            return tg_error("%s: milestones must be non-decreasing (%lld after %lld)", fn, (long long)milestones[k],
                            (long long)milestones[k - 1]);
    tg_sched *s = sched_new(fn, SCHED_MULTISTEP, o);
    if (!s) return NULL;
    s->milestones = tg__malloc(sizeof *s->milestones * (size_t)(n ? n : 1));
    if (!s->milestones) {
        tg_sched_free(s);
        return tg_error("%s: out of memory", fn);
    }
    if (n) memcpy(s->milestones, milestones, sizeof *milestones * (size_t)n);
    s->n_milestones = n;
    s->gamma = gamma;
    return sched_start(s);
}

tg_sched *tg_sched_exponential_lr(tg_optim *o, double gamma)
{
    tg_sched *s = sched_new("tg_sched_exponential_lr", SCHED_EXPONENTIAL, o);
    if (!s) return NULL;
    s->gamma = gamma;
    return sched_start(s);
}

tg_sched *tg_sched_cosine_lr(tg_optim *o, int64_t t_max, double eta_min)
{
    if (t_max <= 0) return tg_error("tg_sched_cosine_lr: t_max must be > 0 (got %lld)", (long long)t_max);
    tg_sched *s = sched_new("tg_sched_cosine_lr", SCHED_COSINE, o);
    if (!s) return NULL;
    s->t_max = t_max;
    s->eta_min = eta_min;
    return sched_start(s);
}

tg_sched *tg_sched_lambda_lr(tg_optim *o, tg_lr_lambda fn, void *user)
{
    if (!fn) return tg_error("tg_sched_lambda_lr: NULL lambda");
    tg_sched *s = sched_new("tg_sched_lambda_lr", SCHED_LAMBDA, o);
    if (!s) return NULL;
    s->fn = fn;
    s->user = user;
    return sched_start(s);
}

tg_sched *tg_sched_linear_lr(tg_optim *o, double start_factor, double end_factor, int64_t total_iters)
{
    const char *fn = "tg_sched_linear_lr";
    if (!(start_factor > 0 && start_factor <= 1))
        return tg_error("%s: Starting multiplicative factor expected to be in (0, 1] (got %g)", fn, start_factor);
    if (!(end_factor >= 0 && end_factor <= 1))
        return tg_error("%s: Ending multiplicative factor expected to be between 0 and 1 (got %g)", fn, end_factor);
    if (total_iters <= 0) return tg_error("%s: total_iters must be > 0 (got %lld)", fn, (long long)total_iters);
    tg_sched *s = sched_new(fn, SCHED_LINEAR, o);
    if (!s) return NULL;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total_iters = total_iters;
    return sched_start(s);
}

tg_plateau_config tg_plateau_defaults(void)
{
    return (tg_plateau_config){.factor = 0.1, .patience = 10, .threshold = 1e-4, .eps = 1e-8};
}

tg_sched *tg_sched_plateau(tg_optim *o, const tg_plateau_config *cfg)
{
    const char *fn = "tg_sched_plateau";
    if (!cfg) return tg_error("%s: NULL config", fn);
    if (!(cfg->factor >= 0 && cfg->factor < 1)) return tg_error("%s: Factor should be < 1.0 and >= 0 (got %g)", fn, cfg->factor);
    if (cfg->patience < 0 || cfg->cooldown < 0)
        return tg_error("%s: patience (%lld) and cooldown (%lld) must be >= 0", fn, (long long)cfg->patience,
                        (long long)cfg->cooldown);
    tg_sched *s = sched_new(fn, SCHED_PLATEAU, o);
    if (!s) return NULL;
    s->plateau = *cfg;
    s->plateau.min_lrs = NULL;
    s->min_lrs = tg__malloc(sizeof *s->min_lrs * (size_t)s->n_groups);
    if (!s->min_lrs) {
        tg_sched_free(s);
        return tg_error("%s: out of memory", fn);
    }
    for (int g = 0; g < s->n_groups; g++) s->min_lrs[g] = cfg->min_lrs ? cfg->min_lrs[g] : cfg->min_lr;
    for (int g = 0; g < s->n_groups; g++) s->base_lrs[g] = tg_optim_get_lr(o, g);
    s->best = cfg->mode_max ? -INFINITY : INFINITY;
    return s;
}

/* --- stepping -------------------------------------------------------------------- */

int tg_sched_step(tg_sched *s)
{
    if (!s) return tg_fail("tg_sched_step: NULL schedule");
    if (s->kind == SCHED_PLATEAU)
        return tg_fail("tg_sched_step: ReduceLROnPlateau needs the metric: use tg_sched_step_metric");
    s->last_epoch++;
    apply_epoch(s);
    return 0;
}

static bool is_better(const tg_plateau_config *c, double a, double best)
{
    if (!c->mode_max) return c->threshold_abs ? a < best - c->threshold : a < best * (1. - c->threshold);
    return c->threshold_abs ? a > best + c->threshold : a > best * (c->threshold + 1.);
}

int tg_sched_step_metric(tg_sched *s, double metric)
{
    if (!s || s->kind != SCHED_PLATEAU)
        return tg_fail("tg_sched_step_metric: only ReduceLROnPlateau takes a metric (use tg_sched_step)");
    s->last_epoch++;
    if (is_better(&s->plateau, metric, s->best)) {
        s->best = metric;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0; /* bad epochs in cooldown do not count */
    }
    if (s->num_bad_epochs > s->plateau.patience) {
        for (int g = 0; g < s->n_groups; g++) {
            const double old_lr = tg_optim_get_lr(s->optim, g);
            const double new_lr = fmax(old_lr * s->plateau.factor, s->min_lrs[g]);
            if (old_lr - new_lr > s->plateau.eps) *(double *)tg_data(s->optim->lr[g]) = new_lr;
        }
        s->cooldown_counter = s->plateau.cooldown;
        s->num_bad_epochs = 0;
    }
    for (int g = 0; g < s->n_groups; g++) s->last_lr[g] = tg_optim_get_lr(s->optim, g);
    return 0;
}

double tg_sched_last_lr(const tg_sched *s, int group)
{
    if (!s || group < 0 || group >= s->n_groups)
        return TG__NAN("tg_sched_last_lr: group %d is out of range (the schedule has %d)", group, s ? s->n_groups : 0);
    return s->last_lr[group];
}

int64_t tg_sched_last_epoch(const tg_sched *s) { return s ? s->last_epoch : -1; }

/* --- export / import --------------------------------------------------------------- */

static bool exports(const tg_sched *s, int k)
{
    if (k == EX_BASE_LRS) return s->kind != SCHED_PLATEAU;
    if (k >= EX_BEST) return s->kind == SCHED_PLATEAU;
    return true;
}

static bool is_vector(int k) { return k == EX_BASE_LRS || k == EX_LAST_LR; }

int tg_sched_state_export(tg_sched *s, tg_params *out)
{
    if (!s || !out) return tg_fail("tg_sched_state_export: NULL schedule or output collection");
    const int count = out->count;
    for (int k = 0; k < EX_COUNT; k++) {
        if (!exports(s, k)) continue;
        tg_tensor *t = s->exported[k];
        if (!t) {
            const int64_t n = s->n_groups;
            const bool int_valued = k == EX_LAST_EPOCH || k == EX_NUM_BAD || k == EX_COOLDOWN;
            t = s->exported[k] = tg__new_persistent("tg_sched_state_export", int_valued ? TG_I64 : TG_F64, is_vector(k) ? 1 : 0, &n);
            if (!t) goto fail;
        }
        switch (k) {
        case EX_LAST_EPOCH: *(int64_t *)tg_data(t) = s->last_epoch; break;
        case EX_BASE_LRS: memcpy(tg_data(t), s->base_lrs, sizeof(double) * (size_t)s->n_groups); break;
        case EX_LAST_LR: memcpy(tg_data(t), s->last_lr, sizeof(double) * (size_t)s->n_groups); break;
        case EX_BEST: *(double *)tg_data(t) = s->best; break;
        case EX_NUM_BAD: *(int64_t *)tg_data(t) = s->num_bad_epochs; break;
        case EX_COOLDOWN: *(int64_t *)tg_data(t) = s->cooldown_counter; break;
        }
        if (tg_params_add(out, NULL, export_names[k], t) < 0) goto fail;
    }
    return 0;
fail:
    out->count = count;
    return -1;
}

int tg_sched_state_import(tg_sched *s, const tg_params *in)
{
    const char *fn = "tg_sched_state_import";
    if (!s || !in) return tg_fail("%s: NULL schedule or input collection", fn);
    const tg_tensor *src[EX_COUNT] = {0};
    for (int j = 0; j < in->count; j++) {
        int k = 0;
        while (k < EX_COUNT && strcmp(in->items[j].name, export_names[k]) != 0) k++;
        if (k == EX_COUNT || !exports(s, k))
            return tg_fail("%s: unexpected entry '%s'", fn, in->items[j].name);
        src[k] = in->items[j].tensor;
    }
    for (int k = 0; k < EX_COUNT; k++) {
        if (!exports(s, k)) continue;
        const tg_tensor *t = src[k];
        if (!t) return tg_fail("%s: no '%s' entry", fn, export_names[k]);
        if (!tg__check(fn, t)) return -1;
        const int64_t want = is_vector(k) ? s->n_groups : 1;
        const char *expected = is_vector(k) ? "one value per group" : "one whole number >= 0";
        if (tg_numel(t) != want || (is_vector(k) && t->ndim != 1)) {
            char shape[128];
            return tg_fail("%s: entry '%s' has shape %s; expected %s", fn, export_names[k], tg_shape_str(t, shape, sizeof shape),
                           expected);
        }
        if (k == EX_BEST || is_vector(k)) continue;
        double v = tg_item(t); /* counters: whole and >= 0 */
        if (!(v >= 0 && v == floor(v) && v < 9e15))
            return tg_fail("%s: entry '%s' holds %g; expected %s", fn, export_names[k], v, expected);
    }
    for (int k = 0; k < EX_COUNT; k++) {
        if (!exports(s, k)) continue;
        const tg_tensor *t = src[k];
        double *vec = k == EX_BASE_LRS ? s->base_lrs : k == EX_LAST_LR ? s->last_lr : NULL;
        if (vec)
            for (int64_t g = 0; g < s->n_groups; g++) vec[g] = tg_get(t, &g);
        else if (k == EX_LAST_EPOCH) s->last_epoch = (int64_t)tg_item(t);
        else if (k == EX_BEST) s->best = tg_item(t);
        else if (k == EX_NUM_BAD) s->num_bad_epochs = (int64_t)tg_item(t);
        else s->cooldown_counter = (int64_t)tg_item(t);
    }
    return 0;
}
