/* Writing safetensors files, atomically: the bytes go to a temporary file
 * in the target's directory, which is flushed, fsync'd and renamed over the
 * target only when every write succeeded. A path that is a symbolic link
 * saves into the file it names (the link stays, as with PyTorch's save,
 * which writes through it), and a file saved over keeps its permissions
 * (a checkpoint kept private stays private). */
#include <tapegrad/safetensors.h>

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tapegrad/autograd.h>
#include "internal.h"

static const char *const SAVE = "tg_safetensors_save";

/* --- the test seam ------------------------------------------------------------ */

static _Thread_local int64_t fault_countdown, io_calls;
static _Thread_local int fault_errno;

void tg__io_fault(int64_t k, int err)
{
    fault_countdown = k;
    fault_errno = err;
    io_calls = 0;
}

int64_t tg__io_calls(void) { return io_calls; }

/* Counts one I/O call; true (errno set) when the seam makes it fail. */
static bool injected_failure(void)
{
    io_calls++;
    if (fault_countdown > 0 && --fault_countdown == 0) {
        errno = fault_errno;
        return true;
    }
    return false;
}

/* --- checking the arguments --------------------------------------------------- */

/* Valid UTF-8; names (not metadata values) also without control characters. */
static bool valid_string(const char *s, bool is_name)
{
    const unsigned char *p = (const unsigned char *)s;
    for (int64_t left = (int64_t)strlen(s); left > 0;) {
        int len = tg__utf8_length(p, left);
        if (!len || (is_name && (*p < 0x20 || *p == 0x7F))) return false;
        p += len;
        left -= len;
    }
    return true;
}

static int by_string(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The first string that occurs twice among n, or NULL. */
static const char *first_duplicate(int n, const char **strings)
{
    qsort(strings, (size_t)n, sizeof *strings, by_string);
    for (int i = 1; i < n; i++)
        if (strcmp(strings[i - 1], strings[i]) == 0) return strings[i];
    return NULL;
}

static bool check_arguments(const char *path, int n, const tg_named_tensor *tensors, int n_metadata,
                            const tg_metadata_item *metadata)
{
    if (!path || !*path) return TG__REJECT("%s: no path", SAVE);
    if (n < 0 || (n > 0 && !tensors) || n_metadata < 0 || (n_metadata > 0 && !metadata))
        return TG__REJECT("%s: '%s': %d tensors and %d metadata entries with %s", SAVE, path, n, n_metadata,
                          n < 0 || n_metadata < 0 ? "a negative count" : "a NULL array");
    int most = n > n_metadata ? n : n_metadata;
    const char **names = tg__malloc(sizeof *names * (size_t)(most ? most : 1));
    if (!names) return TG__REJECT("%s: '%s': out of memory", SAVE, path);
    const char *dup = NULL;
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        const char *name = tensors[i].name;
        const tg_tensor *t = tensors[i].tensor;
        /* An empty name is a name: the format allows any string, and
         * safetensors.torch.save_file writes "" (named_modules() calls the
         * root module so, and outputs are saved under it). */
        if (!name || !valid_string(name, true) || strcmp(name, "__metadata__") == 0)
            ok = TG__REJECT("%s: '%s': tensor %d has %s name", SAVE, path, i,
                            !name          ? "a NULL"
                            : *name == '_' ? "the reserved"
                                           : "a non-UTF-8 or control-character");
        else if (!t)
            ok = TG__REJECT("%s: '%s': tensor '%s' is NULL", SAVE, path, name);
        else if (t->magic != TG_MAGIC)
            ok = TG__REJECT("%s: '%s': tensor '%s' was used after its scope ended (or is not a tensor)", SAVE, path,
                            name);
        names[i] = name;
    }
    if (ok && (dup = first_duplicate(n, names)))
        ok = TG__REJECT("%s: '%s': duplicate tensor name '%s'", SAVE, path, dup);
    for (int i = 0; ok && i < n_metadata; i++) {
        const tg_metadata_item *m = &metadata[i];
        if (!m->key || !m->value || !valid_string(m->key, true) || !valid_string(m->value, false))
            ok = TG__REJECT("%s: '%s': metadata entry %d has a NULL, non-UTF-8 or control-character key or value", SAVE,
                            path, i);
        names[i] = m->key;
    }
    if (ok && (dup = first_duplicate(n_metadata, names)))
        ok = TG__REJECT("%s: '%s': duplicate metadata key '%s'", SAVE, path, dup);
    free(names);
    return ok;
}

/* --- the header ----------------------------------------------------------------- */

static const char *file_dtype(tg_dtype dtype) { return dtype == TG_F32 ? "F32" : dtype == TG_F64 ? "F64" : "I64"; }

/* A whole number as a raw JSON token: cJSON would print large ones with an
 * exponent, which readers of the format refuse. */
static bool add_number(cJSON *array, int64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, v);
    return cJSON_AddItemToArray(array, cJSON_CreateRaw(text));
}

/* The JSON header, unformatted, or NULL. */
static char *make_header(int n, const tg_named_tensor *tensors, int n_metadata, const tg_metadata_item *metadata)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    int64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const tg_tensor *t = tensors[i].tensor;
        int64_t nbytes = tg_numel(t) * (int64_t)tg_dtype_size(t->dtype);
        /* Each item is attached as soon as it is made, so that deleting
         * the root frees everything after a failure. */
        cJSON *entry = cJSON_CreateObject();
        if (!entry || !cJSON_AddItemToObject(root, tensors[i].name, entry)) {
            cJSON_Delete(entry);
            ok = false;
            break;
        }
        ok = cJSON_AddStringToObject(entry, "dtype", file_dtype(t->dtype)) != NULL;
        cJSON *shape = ok ? cJSON_AddArrayToObject(entry, "shape") : NULL;
        cJSON *offsets = shape ? cJSON_AddArrayToObject(entry, "data_offsets") : NULL;
        ok = offsets != NULL;
        for (int d = 0; ok && d < t->ndim; d++) ok = add_number(shape, t->shape[d]);
        ok = ok && add_number(offsets, offset) && add_number(offsets, offset + nbytes);
        offset += nbytes;
    }
    if (ok && n_metadata > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < n_metadata; i++)
            ok = cJSON_AddStringToObject(meta, metadata[i].key, metadata[i].value);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* --- writing -------------------------------------------------------------------- */

/* fwrite through the seam. */
static bool write_bytes(FILE *out, const void *data, size_t n)
{
    return !injected_failure() && (n == 0 || fwrite(data, 1, n, out) == n);
}

/* t's values, row-major; a non-contiguous tensor goes through a temporary
 * contiguous copy in a scope of its own. */
static bool write_tensor(FILE *out, tg_tensor *t)
{
    size_t nbytes = (size_t)tg_numel(t) * tg_dtype_size(t->dtype);
    if (tg_is_contiguous(t)) return write_bytes(out, tg_data(t), nbytes);
    tg_scope *s = tg_scope_begin();
    bool was = tg_no_grad_begin();
    tg_tensor *c = s ? tg_contiguous(t) : NULL;
    bool ok = c && write_bytes(out, tg_data(c), nbytes);
    if (!c) errno = ENOMEM;
    tg_no_grad_end(was);
    if (s) tg_scope_end(s);
    return ok;
}

/* A new file next to path (same directory, so rename is atomic), created
 * with O_EXCL under a name no one else uses. */
static FILE *create_temporary(const char *path, char **tmp_path)
{
    static _Thread_local unsigned counter;
    size_t len = strlen(path) + 48;
    *tmp_path = tg__malloc(len);
    if (!*tmp_path) {
        errno = ENOMEM;
        return NULL;
    }
    /* The file's name and a suffix, unless that would pass the 255 bytes a
     * name may have (a file name of 250 bytes saves): then a short name in
     * the same directory. */
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    bool short_name = strlen(base) + 32 > 255;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (short_name)
            snprintf(*tmp_path, len, "%.*s.tg-tmp-%ld-%u", (int)(base - path), path, (long)getpid(), counter++);
        else
            snprintf(*tmp_path, len, "%s.tmp-%ld-%u", path, (long)getpid(), counter++);
        if (injected_failure()) return NULL;
        int fd = open(*tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) return NULL;
        FILE *out = fdopen(fd, "wb");
        if (!out) {
            int err = errno;
            close(fd);
            unlink(*tmp_path);
            errno = err;
        }
        return out;
    }
    errno = EEXIST;
    return NULL;
}

/* fsync the directory so that the rename itself survives a crash; the new
 * file is already in place, so a failure here is not reported. */
static void sync_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = tg__strdup(slash ? path : ".");
    if (dir && slash) dir[slash == path ? 1 : slash - path] = '\0';
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int tg_safetensors_save(const char *path, int n, const tg_named_tensor *tensors, int n_metadata,
                        const tg_metadata_item *metadata)
{
    if (!check_arguments(path, n, tensors, n_metadata, metadata)) return -1;
    char *json = make_header(n, tensors, n_metadata, metadata);
    if (!json) return tg_fail("%s: '%s': out of memory for the header", SAVE, path);
    /* Spaces pad the header so that the data starts 8-byte aligned. */
    size_t json_len = strlen(json), padded = (json_len + 7) / 8 * 8;
    unsigned char length[8];
    for (int i = 0; i < 8; i++) length[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    /* The file a link names (a dangling one is replaced, as before). */
    struct stat st;
    char *target = lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? realpath(path, NULL) : NULL;
    const char *dest = target ? target : path;
    const bool exists = stat(dest, &st) == 0;
    /* The rename would put a regular file in the place of a device
     * (/dev/null), a FIFO or a socket. */
    if (exists && !S_ISREG(st.st_mode)) {
        free(json);
        free(target);
        return tg_fail("%s: cannot write '%s': it is not a regular file (saving replaces the file it names)", SAVE,
                       path);
    }
    char *tmp_path = NULL;
    FILE *out = create_temporary(dest, &tmp_path);
    if (out && exists) fchmod(fileno(out), st.st_mode & 07777);
    bool ok = out && write_bytes(out, length, 8) && write_bytes(out, json, json_len) &&
              write_bytes(out, "        ", padded - json_len);
    for (int i = 0; ok && i < n; i++) ok = write_tensor(out, tensors[i].tensor);
    ok = ok && !injected_failure() && fflush(out) == 0;
    ok = ok && !injected_failure() && fsync(fileno(out)) == 0;
    int err = ok ? 0 : errno;
    if (out) {
        /* Closing can report a write error too; the file is closed either way. */
        if (ok && injected_failure()) {
            ok = false;
            err = errno;
            fclose(out);
        } else if (fclose(out) != 0 && ok) {
            ok = false;
            err = errno;
        }
    }
    if (ok && (injected_failure() || rename(tmp_path, dest) != 0)) {
        ok = false;
        err = errno;
    }
    free(json);
    if (!ok) {
        tg_fail("%s: cannot write '%s': %s", SAVE, path, strerror(err ? err : EIO));
        if (out) unlink(tmp_path);
        free(tmp_path);
        free(target);
        return -1;
    }
    free(tmp_path);
    sync_directory(dest);
    free(target);
    return 0;
}
