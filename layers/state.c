/* Saving and loading a parameter collection by name: match every
 * parameter with the file's tensor of the same name, check the whole
 * match, and only then copy values. */
#include <tapegrad/state.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

static const char *const LOAD = "tg_state_load";

int tg_state_save(const char *path, const tg_params *params, int n_metadata, const tg_metadata_item *metadata)
{
    if (!params) return tg_fail("tg_state_save: NULL collection");
    tg_named_tensor *list = tg__malloc(sizeof *list * (size_t)(params->count ? params->count : 1));
    if (!list) return tg_fail("tg_state_save: out of memory");
    for (int i = 0; i < params->count; i++) list[i] = (tg_named_tensor){params->items[i].name, params->items[i].tensor};
    int status = tg_safetensors_save(path, params->count, list, n_metadata, metadata);
    free(list);
    return status;
}

void tg_state_keys_free(tg_state_keys *keys)
{
    if (!keys) return;
    for (int i = 0; i < keys->n_missing; i++) free(keys->missing[i]);
    for (int i = 0; i < keys->n_unexpected; i++) free(keys->unexpected[i]);
    free(keys->missing);
    free(keys->unexpected);
    *keys = (tg_state_keys){0};
}

/* The error message, built piece by piece; it stops growing at the size of
 * the error slot, which could not show more. */
typedef struct {
    char text[1024];
    size_t used;
} message;

static void say(message *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(message *m, const char *fmt, ...)
{
    if (m->used >= sizeof m->text) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->text + m->used, sizeof m->text - m->used, fmt, ap);
    va_end(ap);
    m->used += n > 0 ? (size_t)n : 0;
}

static bool push_name(char ***list, int *n, const char *name)
{
    char **grown = tg__realloc(*list, sizeof *grown * (size_t)(*n + 1));
    if (!grown) return false;
    *list = grown;
    grown[*n] = tg__strdup(name);
    if (!grown[*n]) return false;
    (*n)++;
    return true;
}

/* Report the names of one kind as PyTorch does: "Missing key(s) in state_dict: "a", "b". " */
static void say_names(message *m, const char *what, int n, char *const *names)
{
    if (n == 0) return;
    say(m, " %s key(s) in state_dict: ", what);
    for (int i = 0; i < n; i++) say(m, "%s\"%s\"", i ? ", " : "", names[i]);
    say(m, ".");
}

int tg_state_load_from(tg_safetensors *f, const char *prefix, tg_params *params, bool strict, tg_state_keys *keys)
{
    tg_state_keys found = {0};
    if (keys) *keys = found;
    if (!f || !params) return tg_fail("%s: NULL file or collection", LOAD);
    for (int i = 0; i < params->count; i++) {
        const tg_param *p = &params->items[i];
        if (!p->tensor || p->tensor->magic != TG_MAGIC)
            return tg_fail("%s: parameter '%s' %s", LOAD, p->name,
                           p->tensor ? "was used after its scope ended (or is not a tensor)" : "is NULL");
    }
    prefix = prefix ? prefix : "";
    const size_t prefix_len = strlen(prefix);
    const int count = tg_safetensors_count(f);
    int *match = tg__malloc(sizeof *match * (size_t)(params->count ? params->count : 1));
    bool *used = tg__calloc((size_t)(count ? count : 1), sizeof *used);
    char *name = tg__malloc(prefix_len + TG_PARAM_NAME_MAX);
    message mismatches = {.used = 0};
    bool ok = match && used && name;
    for (int i = 0; ok && i < params->count; i++) {
        const tg_param *p = &params->items[i];
        snprintf(name, prefix_len + TG_PARAM_NAME_MAX, "%s%s", prefix, p->name);
        int j = match[i] = tg_safetensors_find(f, name);
        if (j < 0) {
            ok = push_name(&found.missing, &found.n_missing, p->name);
            continue;
        }
        used[j] = true;
        const tg_safetensors_entry *e = tg_safetensors_entry_at(f, j);
        bool same_shape = e->ndim == p->tensor->ndim;
        for (int d = 0; same_shape && d < e->ndim; d++) same_shape = e->shape[d] == p->tensor->shape[d];
        char from[160], to[160];
        if (!same_shape)
            say(&mismatches,
                " size mismatch for %s: copying a param with shape %s from checkpoint, the shape in current "
                "model is %s.",
                p->name, tg__shape_text(e->ndim, e->shape, from, sizeof from), tg_shape_str(p->tensor, to, sizeof to));
        else if (!e->readable || e->read_dtype != p->tensor->dtype)
            say(&mismatches, " dtype mismatch for %s: the checkpoint holds %s, the parameter in current model is %s.",
                p->name, e->dtype, tg_dtype_name(p->tensor->dtype));
        else if (!tg_is_contiguous(p->tensor))
            say(&mismatches, " %s: the parameter in current model is not contiguous.", p->name);
    }
    for (int j = 0; ok && j < count; j++) {
        const char *file_name = tg_safetensors_entry_at(f, j)->name;
        if (!used[j] && strncmp(file_name, prefix, prefix_len) == 0)
            ok = push_name(&found.unexpected, &found.n_unexpected, file_name + prefix_len);
    }
    int status = -1;
    if (!ok) {
        tg_fail("%s: '%s': out of memory", LOAD, tg_safetensors_path(f));
    } else if (mismatches.used || (strict && (found.n_missing || found.n_unexpected))) {
        message m = {.used = 0};
        say(&m, "%s: Error(s) in loading state_dict from '%s':", LOAD, tg_safetensors_path(f));
        if (strict) {
            say_names(&m, "Missing", found.n_missing, found.missing);
            say_names(&m, "Unexpected", found.n_unexpected, found.unexpected);
        }
        say(&m, "%s", mismatches.text);
        tg_fail("%s", m.text);
    } else {
        status = 0;
        for (int i = 0; status == 0 && i < params->count; i++)
            if (match[i] >= 0) status = tg_safetensors_read_into(f, match[i], params->items[i].tensor);
    }
    free(match);
    free(used);
    free(name);
    if (keys)
        *keys = found;
    else
        tg_state_keys_free(&found);
    return status;
}

int tg_state_load(const char *path, tg_params *params, bool strict, tg_state_keys *keys)
{
    if (keys) *keys = (tg_state_keys){0};
    tg_safetensors *f = tg_safetensors_open(path);
    if (!f) return -1;
    int status = tg_state_load_from(f, NULL, params, strict, keys);
    tg_safetensors_close(f);
    return status;
}
