/* Checkpoints: the model, optimizer, schedule, RNG and counters in one
 * safetensors file. Loading reads everything but the parameters into
 * temporaries, checks it, and applies it with the old optimizer and
 * schedule state kept aside, so that a failure at any later point puts
 * them back. */
#include <tapegrad/checkpoint.h>

#include <stdlib.h>
#include <string.h>

#include <tapegrad/random.h>
#include <tapegrad/state.h>
#include <tapegrad/version.h>
#include "../core/internal.h"
#include "optim_internal.h"

#define FORMAT "tapegrad.checkpoint"
#define RNG_WORDS 6
#define SCHEDS (1 + TG_CHECKPOINT_MORE_SCHEDS)

static const char *const SAVE = "tg_checkpoint_save";
static const char *const LOAD = "tg_checkpoint_load";

/* The generator as six int64: its words, the spare flag, the spare's bits. */
static void rng_to_words(const tg_rng_state *rng, int64_t *words)
{
    for (int i = 0; i < 4; i++) words[i] = (int64_t)rng->words[i];
    words[4] = rng->has_spare_normal;
    memcpy(&words[5], &rng->spare_normal, sizeof rng->spare_normal);
}

static tg_rng_state rng_from_words(const int64_t *words)
{
    tg_rng_state rng;
    for (int i = 0; i < 4; i++) rng.words[i] = (uint64_t)words[i];
    rng.has_spare_normal = words[4] != 0;
    memcpy(&rng.spare_normal, &words[5], sizeof rng.spare_normal);
    return rng;
}

/* Schedule slot k of ck: sched, then more_scheds[0], ... */
static tg_sched *sched_at(const tg_checkpoint *ck, int k) { return k ? ck->more_scheds[k - 1] : ck->sched; }

/* Its part's name in the file and its metadata key: "scheduler",
 * "scheduler1", ... */
static const char *const SCHED_PART[SCHEDS] = {"scheduler", "scheduler1", "scheduler2", "scheduler3"};

/* Append src's entries under prefix; the entries of src are then dropped
 * (src is reused for the next part). */
static int add_part(tg_params *all, const char *prefix, tg_params *src)
{
    int status = tg_params_extend(all, prefix, src);
    src->count = 0;
    return status;
}

int tg_checkpoint_save(const char *path, const tg_checkpoint *ck)
{
    if (!ck || !ck->params) return tg_fail("%s: NULL checkpoint or parameters", SAVE);
    if (ck->step < 0 || ck->epoch < 0)
        return tg_fail("%s: step (%lld) and epoch (%lld) must be >= 0", SAVE, (long long)ck->step,
                       (long long)ck->epoch);
    tg_scope *scope = tg_scope_begin();
    if (!scope) return tg_fail("%s: out of memory", SAVE);
    int64_t rng_words[RNG_WORDS];
    tg_rng_state rng = tg_get_rng_state();
    rng_to_words(&rng, rng_words);
    tg_params all = tg_params_new(), part = tg_params_new();
    /* not add_part, which empties its source: this one is the caller's */
    int status = tg_params_extend(&all, "model", ck->params);
    if (status == 0 && ck->optim)
        status = tg_optim_state_export(ck->optim, &part) < 0 ? -1 : add_part(&all, "optimizer", &part);
    for (int k = 0; k < SCHEDS && status == 0; k++)
        if (sched_at(ck, k))
            status = tg_sched_state_export(sched_at(ck, k), &part) < 0 ? -1 : add_part(&all, SCHED_PART[k], &part);
    if (status == 0) {
        /* Made first: a NULL from a failed one would be reported by
         * tg_params_add as a NULL argument. */
        tg_tensor *rng_state = tg_from_array(TG_I64, 1, (int64_t[]){RNG_WORDS}, rng_words);
        tg_tensor *step = tg_from_array(TG_I64, 0, NULL, &ck->step);
        tg_tensor *epoch = tg_from_array(TG_I64, 0, NULL, &ck->epoch);
        if (!rng_state || !step || !epoch) status = tg_fail("%s: out of memory", SAVE);
        else
            status = tg_params_add(&all, NULL, "rng_state", rng_state) | tg_params_add(&all, NULL, "step", step) |
                     tg_params_add(&all, NULL, "epoch", epoch);
    }
    tg_metadata_item metadata[3 + SCHEDS] = {{"format", FORMAT}, {"tapegrad_version", tg_version()}};
    int n_metadata = 2;
    if (ck->optim) metadata[n_metadata++] = (tg_metadata_item){"optimizer", tg__optim_kind_name(ck->optim)};
    for (int k = 0; k < SCHEDS; k++)
        if (sched_at(ck, k))
            metadata[n_metadata++] = (tg_metadata_item){SCHED_PART[k], tg__sched_kind_name(sched_at(ck, k))};
    if (status == 0) status = tg_state_save(path, &all, n_metadata, metadata);
    tg_params_free(&all);
    tg_params_free(&part);
    tg_scope_end(scope);
    return status;
}

/* --- loading ------------------------------------------------------------------- */

/* Persistent temporaries: what the file holds besides the model, and the
 * optimizer's and schedules' state before the load. */
typedef struct {
    tg_params optim, optim_before, sched[SCHEDS], sched_before[SCHEDS];
    tg_tensor *rng, *step, *epoch;
} pending;

static void free_tensors(tg_params *p)
{
    for (int i = 0; i < p->count; i++) tg_free(p->items[i].tensor);
    tg_params_free(p);
}

static void pending_free(pending *p)
{
    free_tensors(&p->optim);
    free_tensors(&p->optim_before);
    for (int k = 0; k < SCHEDS; k++) {
        free_tensors(&p->sched[k]);
        free_tensors(&p->sched_before[k]);
    }
    tg_free(p->rng);
    tg_free(p->step);
    tg_free(p->epoch);
}

/* Tensor j of f as a new persistent tensor. */
static tg_tensor *read_entry(tg_safetensors *f, int j)
{
    const tg_safetensors_entry *e = tg_safetensors_entry_at(f, j);
    if (!e->readable)
        return tg_error("%s: '%s': entry '%s' is %s, which tapegrad cannot read", LOAD, tg_safetensors_path(f), e->name,
                        e->dtype);
    tg_tensor *t = tg__new_persistent(LOAD, e->read_dtype, e->ndim, e->shape);
    if (t && tg_safetensors_read_into(f, j, t) < 0) {
        tg_free(t);
        return NULL;
    }
    return t;
}

/* Add a read entry to list under name (the list owns it). */
static bool collect(tg_params *list, const char *name, tg_tensor *t)
{
    if (!t) return false;
    if (tg_params_add(list, NULL, name, t) < 0) {
        tg_free(t);
        return false;
    }
    return true;
}

/* Sort f's entries into p (all but model.*), then check the parts that
 * nothing else checks: which parts are present, the RNG words, the counters. */
static bool read_parts(tg_safetensors *f, const tg_checkpoint *ck, pending *p)
{
    const char *path = tg_safetensors_path(f);
    const char *format = tg_safetensors_metadata(f, "format");
    if (!format || strcmp(format, FORMAT) != 0)
        return TG__REJECT("%s: '%s' is not a tapegrad checkpoint (its metadata has no \"format\": \"" FORMAT "\")",
                          LOAD, path);
    for (int j = 0; j < tg_safetensors_count(f); j++) {
        const char *name = tg_safetensors_entry_at(f, j)->name;
        tg_tensor **scalar = strcmp(name, "rng_state") == 0 ? &p->rng
                             : strcmp(name, "step") == 0    ? &p->step
                             : strcmp(name, "epoch") == 0   ? &p->epoch
                                                            : NULL;
        int slot = -1;
        for (int k = 0; k < SCHEDS && slot < 0; k++) {
            size_t len = strlen(SCHED_PART[k]);
            if (strncmp(name, SCHED_PART[k], len) == 0 && name[len] == '.') slot = k;
        }
        if (strncmp(name, "model.", 6) == 0) continue;
        if (strncmp(name, "optimizer.", 10) == 0) {
            if (!collect(&p->optim, name + 10, read_entry(f, j))) return false;
        } else if (slot >= 0) {
            if (!collect(&p->sched[slot], name + strlen(SCHED_PART[slot]) + 1, read_entry(f, j))) return false;
        } else if (scalar) {
            if (!(*scalar = read_entry(f, j))) return false;
        } else {
            return TG__REJECT("%s: '%s': unexpected entry '%s'", LOAD, path, name);
        }
    }
    /* Part 0 the optimizer, 1 + k schedule slot k. */
    static const char *const parts[1 + SCHEDS] = {"optimizer", "schedule", "schedule (more_scheds[0])",
                                                  "schedule (more_scheds[1])", "schedule (more_scheds[2])"};
    for (int k = 0; k <= SCHEDS; k++) {
        bool given = k ? sched_at(ck, k - 1) != NULL : ck->optim != NULL;
        bool in_file = (k ? p->sched[k - 1].count : p->optim.count) > 0;
        if (given != in_file)
            return TG__REJECT("%s: '%s' holds %s%s state but %s was given", LOAD, path, in_file ? "" : "no ", parts[k],
                              in_file ? "none" : "one");
        /* Kinds whose state has the same names (Adam and AdamW, most
         * schedules) are told apart by the metadata (absent from files of
         * 0.2.0's first releases, which load as before). */
        const char *kind = !given ? NULL : k ? tg__sched_kind_name(sched_at(ck, k - 1)) : tg__optim_kind_name(ck->optim);
        const char *saved = kind ? tg_safetensors_metadata(f, k ? SCHED_PART[k - 1] : "optimizer") : NULL;
        if (saved && strcmp(saved, kind) != 0)
            return TG__REJECT("%s: '%s' holds the %s state of %s, not of %s (the one given)", LOAD, path, parts[k], saved,
                              kind);
    }
    /* Import keeps the rate of a group without an entry (a partial import
     * is allowed), but a checkpoint holds every group's: a missing one
     * would resume with the rate of the moment. */
    for (int g = 0; ck->optim && g < tg_optim_num_groups(ck->optim); g++) {
        char name[64];
        snprintf(name, sizeof name, "param_groups.%d.lr", g);
        if (!tg_params_find(&p->optim, name))
            return TG__REJECT("%s: '%s' has no entry 'optimizer.%s' (groups in the optimizer given: %d)", LOAD, path,
                              name, tg_optim_num_groups(ck->optim));
    }
    const tg_tensor *rng = p->rng, *counters[2] = {p->step, p->epoch};
    if (!rng || rng->dtype != TG_I64 || rng->ndim != 1 || rng->shape[0] != RNG_WORDS)
        return TG__REJECT("%s: '%s': expected 'rng_state', int64 of shape [%d]", LOAD, path, RNG_WORDS);
    const int64_t *words = tg_data(rng);
    if (!(words[0] | words[1] | words[2] | words[3]) || (words[4] != 0 && words[4] != 1))
        return TG__REJECT("%s: '%s': 'rng_state' is not a generator state (zero words or a spare flag other than 0/1)",
                          LOAD, path);
    for (int k = 0; k < 2; k++) {
        const tg_tensor *c = counters[k];
        if (!c || c->dtype != TG_I64 || c->ndim != 0 || *(const int64_t *)tg_data(c) < 0)
            return TG__REJECT("%s: '%s': expected '%s', an int64 0-dim tensor >= 0", LOAD, path, k ? "epoch" : "step");
    }
    return true;
}

/* Persistent copies of what export lists, to import back after a failure. */
static bool keep_copies(const tg_params *exported, tg_params *copies)
{
    for (int i = 0; i < exported->count; i++)
        if (!collect(copies, exported->items[i].name, tg_keep(exported->items[i].tensor))) return false;
    return true;
}

static bool save_before(const tg_checkpoint *ck, pending *p)
{
    tg_params exported = tg_params_new();
    bool ok = true;
    if (ck->optim) ok = tg_optim_state_export(ck->optim, &exported) == 0 && keep_copies(&exported, &p->optim_before);
    for (int k = 0; k < SCHEDS && ok; k++) {
        exported.count = 0;
        if (sched_at(ck, k))
            ok = tg_sched_state_export(sched_at(ck, k), &exported) == 0 && keep_copies(&exported, &p->sched_before[k]);
    }
    tg_params_free(&exported);
    return ok;
}

int tg_checkpoint_load(const char *path, tg_checkpoint *ck)
{
    if (!ck || !ck->params) return tg_fail("%s: NULL checkpoint or parameters", LOAD);
    tg_safetensors *f = tg_safetensors_open(path);
    if (!f) return -1;
    pending p = {tg_params_new(), tg_params_new(), {{0}}, {{0}}, NULL, NULL, NULL};
    for (int k = 0; k < SCHEDS; k++) p.sched[k] = p.sched_before[k] = tg_params_new();
    bool ok = read_parts(f, ck, &p) && save_before(ck, &p);
    /* From here each step checks its input before changing anything; a
     * failure puts back the parts already changed. */
    bool optim_changed = false, sched_changed[SCHEDS] = {false};
    if (ok && ck->optim) ok = optim_changed = tg_optim_state_import(ck->optim, &p.optim) == 0;
    for (int k = 0; k < SCHEDS && ok; k++)
        if (sched_at(ck, k)) ok = sched_changed[k] = tg_sched_state_import(sched_at(ck, k), &p.sched[k]) == 0;
    if (ok) ok = tg_state_load_from(f, "model.", ck->params, true, NULL) == 0;
    if (ok) {
        tg_rng_state rng = rng_from_words(tg_data(p.rng));
        tg_set_rng_state(&rng);
        ck->step = *(const int64_t *)tg_data(p.step);
        ck->epoch = *(const int64_t *)tg_data(p.epoch);
    } else {
        /* Putting back what the objects exported cannot fail. */
        if (optim_changed) tg_optim_state_import(ck->optim, &p.optim_before);
        for (int k = 0; k < SCHEDS; k++)
            if (sched_changed[k]) tg_sched_state_import(sched_at(ck, k), &p.sched_before[k]);
    }
    pending_free(&p);
    tg_safetensors_close(f);
    return ok ? 0 : -1;
}
