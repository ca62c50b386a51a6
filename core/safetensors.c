/* Reading safetensors files: every byte of the header is checked before
 * anything is handed out, then tensor data is copied from the file straight
 * into its destination with pread. Writing lives in safetensors_save.c. */
#include <tapegrad/safetensors.h>

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian: tapegrad reads and writes it on little-endian hosts only"
#endif

/* Every dtype of the format, its element size, and what tapegrad reads it as. */
typedef struct {
    const char *name;
    int size;
    bool readable;
    tg_dtype read_dtype;
} dtype_info;

static const dtype_info dtypes[] = {
    {"F32", 4, true, TG_F32},      {"F64", 8, true, TG_F64},      {"I64", 8, true, TG_I64},  {"F16", 2, true, TG_F32},
    {"BF16", 2, true, TG_F32},     {"BOOL", 1, false, TG_F32},    {"U8", 1, false, TG_F32},  {"I8", 1, false, TG_F32},
    {"F8_E5M2", 1, false, TG_F32}, {"F8_E4M3", 1, false, TG_F32}, {"I16", 2, false, TG_F32}, {"U16", 2, false, TG_F32},
    {"I32", 4, false, TG_F32},     {"U32", 4, false, TG_F32},     {"U64", 8, false, TG_F32},
};
#define N_DTYPES (int)(sizeof dtypes / sizeof dtypes[0])

/* The format's nesting: root object, tensor (or metadata) object, array. */
#define MAX_DEPTH 3
/* cJSON spends about 100 bytes per value, and a hostile header can pack a
 * value into 2 bytes ("0,"): the values are counted (roughly, as opening
 * brackets and commas) before parsing and capped at 2^22, which bounds the
 * parse to under 1 GB (850 MB at the peak for a header of 100 MB, the cap,
 * holding 2^22 values) and still allows some 400,000 tensors. */
#define MAX_VALUES (1 << 22)
/* Numbers in the header are JSON doubles: whole numbers below 2^53 are
 * exact, and from 2^53 on the number read may not be the number written
 * (9007199254740993 reads as 2^53), so none of them is taken. */
#define MAX_EXACT 9007199254740992.0

typedef struct {
    const char *name;
    int index;
} name_ref;

/* The first number of the header that is not written as an unsigned
 * integer ("1.0", "1e0", "-0", "01"): cJSON reads every number as a
 * double, so its value alone would pass for a size or an offset, which the
 * format writes in digits (the Rust reader deserializes them as usize and
 * refuses the rest). Found by the scan, reported by the entry that holds
 * it. */
typedef struct {
    int64_t at;     /* file offset, or -1 for none */
    int key;        /* which key of the root object holds it */
    int element;    /* its place in its array */
    char field[16]; /* the key of that array ("shape", "data_offsets") */
    char text[24];  /* how it is written, cut short with "..." */
} odd_number;

struct tg_safetensors {
    char *path;
    int fd;
    int64_t buffer_start, buffer_size; /* the data buffer, in file bytes */
    cJSON *root;                       /* owns every name and metadata string */
    int count, n_metadata;
    tg_safetensors_entry *entries;
    name_ref *by_name;                 /* entries sorted by name */
    tg_metadata_item *metadata;
    name_ref *metadata_by_key;
};

static const char *const OPEN = "tg_safetensors_open";

int tg__utf8_length(const unsigned char *s, int64_t avail)
{
    int len;
    uint32_t cp, min;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) len = 2, cp = s[0] & 0x1F, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) len = 3, cp = s[0] & 0x0F, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) len = 4, cp = s[0] & 0x07, min = 0x10000;
    else return 0;
    if (avail < len) return 0;
    for (int k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    /* No overlong forms, no surrogates, nothing past U+10FFFF. */
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

char *tg__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = tg__malloc(n);
    return copy ? memcpy(copy, s, n) : NULL;
}

char *tg__shape_text(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && n < len; d++)
        n += (size_t)snprintf(buf + n, len - n, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

/* pread exactly n bytes at offset; false with errno set (0 at end of file). */
static bool read_exact(int fd, void *buf, int64_t n, int64_t offset)
{
    char *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, (size_t)(n < (1 << 30) ? n : (1 << 30)), (off_t)offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = 0;
            return false;
        }
        p += got;
        n -= got;
        offset += got;
    }
    return true;
}

static const char *read_reason(void) { return errno ? strerror(errno) : "unexpected end of file"; }

/* --- the header, before JSON parsing --------------------------------------- */

/* One pass over the raw header: UTF-8, no control characters or \u0000
 * inside strings, nesting at most MAX_DEPTH (so that no parser recursion
 * depends on the file). It also records where each key of the root object
 * starts, in order, which is cJSON's order of the root's children: errors
 * about a tensor then point at its entry; and the first number not written
 * as an unsigned integer, in odd. Other malformations are left to cJSON. */
static bool scan_header(const tg_safetensors *f, const unsigned char *h, int64_t n, int64_t **key_at, int *n_keys,
                        odd_number *odd)
{
    int depth = 0, cap = 0, element = 0;
    int64_t values = 0, string_start = 0, string_end = 0, array_key_start = 0, array_key_end = 0;
    bool in_string = false, expect_key = false;
    *key_at = NULL;
    *n_keys = 0;
    odd->at = -1;
    for (int64_t i = 0; i < n; i++) {
        const unsigned char c = h[i];
        const int64_t at = f->buffer_start - n + i; /* offset in the file */
        if (c >= 0x80) {
            int len = tg__utf8_length(h + i, n - i);
            if (!len)
                return TG__REJECT("%s: '%s': invalid UTF-8 in the header at byte %lld", OPEN, f->path, (long long)at);
            i += len - 1;
            continue;
        }
        if (in_string) {
            if (c < 0x20)
                return TG__REJECT("%s: '%s': control character 0x%02x inside a JSON string at byte %lld", OPEN, f->path,
                                  c, (long long)at);
            if (c == '\\') {
                if (n - i >= 6 && memcmp(h + i + 1, "u0000", 5) == 0)
                    return TG__REJECT("%s: '%s': \\u0000 inside a JSON string at byte %lld", OPEN, f->path,
                                      (long long)at);
                i++;
            } else if (c == '"') {
                in_string = false;
                string_end = i;
            }
            continue;
        }
        if ((c == '{' || c == '[' || c == ',') && ++values > MAX_VALUES)
            return TG__REJECT("%s: '%s': more than %d JSON values in the header (at byte %lld)", OPEN, f->path,
                              MAX_VALUES, (long long)at);
        if (c == '"') {
            in_string = true;
            string_start = i + 1;
            if (depth == 1 && expect_key) {
                if (*n_keys == cap) {
                    cap = cap ? 2 * cap : 64;
                    int64_t *grown = tg__realloc(*key_at, sizeof *grown * (size_t)cap);
                    if (!grown) return TG__REJECT("%s: '%s': out of memory", OPEN, f->path);
                    *key_at = grown;
                }
                (*key_at)[(*n_keys)++] = at;
                expect_key = false;
            }
        } else if (c == '{' || c == '[') {
            if (++depth > MAX_DEPTH)
                return TG__REJECT(
                    "%s: '%s': JSON nested deeper than %d levels at byte %lld (a safetensors header is an "
                    "object of objects)",
                    OPEN, f->path, MAX_DEPTH, (long long)at);
            if (depth == 1) expect_key = c == '{';
            if (c == '[') { /* its key is the string just before it */
                array_key_start = string_start;
                array_key_end = string_end;
                element = 0;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = true;
        } else if (c == ',') {
            element++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            int64_t len = 1;
            while (i + len < n && h[i + len] && strchr("0123456789+-.eE", h[i + len])) len++;
            bool digits = c != '-' && (c != '0' || len == 1);
            for (int64_t k = 1; digits && k < len; k++) digits = h[i + k] >= '0' && h[i + k] <= '9';
            if (!digits && odd->at < 0) {
                *odd = (odd_number){.at = at, .key = *n_keys - 1, .element = element};
                snprintf(odd->field, sizeof odd->field, "%.*s", (int)(array_key_end - array_key_start),
                         (const char *)h + array_key_start);
                snprintf(odd->text, sizeof odd->text, len < 20 ? "%.*s" : "%.*s...", len < 20 ? (int)len : 17,
                         (const char *)h + i);
            }
            i += len - 1;
        }
    }
    return true;
}

/* --- one tensor's entry ------------------------------------------------------ */

/* A JSON number that is a whole number in [0, 2^53). */
static bool whole_number(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < MAX_EXACT && d == floor(d))) return false;
    *out = (int64_t)d;
    return true;
}

/* A failure in tensor `name`'s entry, which starts at file byte `at`:
 * "tg_safetensors_open: 'FILE': tensor 'NAME' (entry at byte AT): WHAT". */
static bool bad_entry(const tg_safetensors *f, const char *name, int64_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool bad_entry(const tg_safetensors *f, const char *name, int64_t at, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return TG__REJECT("%s: '%s': tensor '%s' (entry at byte %lld): %s", OPEN, f->path, name, (long long)at, what);
}

/* Check the object describing tensor `name` (its entry starts at file byte
 * `at`) and fill e. Offsets are checked against the buffer here; overlaps
 * and gaps, which involve other tensors, in check_layout. */
static bool check_entry(const tg_safetensors *f, const cJSON *item, int64_t at, const odd_number *odd,
                        tg_safetensors_entry *e)
{
    const char *name = item->string;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return TG__REJECT("%s: '%s': tensor name with a control character (entry at byte %lld)", OPEN, f->path,
                              (long long)at);
    if (!cJSON_IsObject(item)) return bad_entry(f, name, at, "expected an object with dtype, shape and data_offsets");
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    const cJSON *field[3] = {0};
    for (const cJSON *c = item->child; c; c = c->next) {
        int k = 0;
        while (k < 3 && strcmp(c->string, fields[k]) != 0) k++;
        if (k == 3) return bad_entry(f, name, at, "unknown field \"%.40s\"", c->string);
        if (field[k]) return bad_entry(f, name, at, "field \"%s\" appears twice", fields[k]);
        field[k] = c;
    }
    for (int k = 0; k < 3; k++)
        if (!field[k]) return bad_entry(f, name, at, "no \"%s\" field", fields[k]);

    if (!cJSON_IsString(field[0])) return bad_entry(f, name, at, "dtype is not a string");
    const dtype_info *dt = NULL;
    for (int k = 0; k < N_DTYPES && !dt; k++)
        if (strcmp(field[0]->valuestring, dtypes[k].name) == 0) dt = &dtypes[k];
    if (!dt) return bad_entry(f, name, at, "dtype \"%.20s\" is not a safetensors dtype", field[0]->valuestring);

    const cJSON *shape = field[1];
    int ndim = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    if (ndim < 0 || ndim > TG_MAX_DIMS)
        return bad_entry(f, name, at, "shape must be an array of at most %d sizes", TG_MAX_DIMS);
    /* numel for the data size; extent (the product of the non-zero sizes)
     * so that strides never overflow either, even when numel is 0. */
    int64_t numel = 1, extent = 1;
    int d = 0;
    for (const cJSON *v = shape->child; v; v = v->next, d++) {
        int64_t size;
        if (cJSON_IsNumber(v) && v->valuedouble >= MAX_EXACT)
            return bad_entry(f, name, at, "shape entry %d is 2^53 or more, past what a JSON number holds exactly", d);
        if (!whole_number(v, &size)) return bad_entry(f, name, at, "shape entry %d is not a whole number >= 0", d);
        if (size > 0 && extent > TG_MAX_NUMEL / size) return bad_entry(f, name, at, "shape overflows at entry %d", d);
        if (size > 0) extent *= size;
        numel *= size;
        e->shape[d] = size;
    }

    const cJSON *offsets = field[2];
    int64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !whole_number(offsets->child, &begin) ||
        !whole_number(offsets->child->next, &end))
        return bad_entry(f, name, at, "data_offsets must be two whole numbers >= 0");
    /* A whole number written otherwise (1.0 for 1): the only numbers an
     * entry that got here holds are its sizes and offsets. */
    if (odd)
        return bad_entry(f, name, at, "%s entry %d is written %s (byte %lld); sizes and offsets are integers, "
                         "written in digits only", odd->field, odd->element, odd->text, (long long)odd->at);
    if (begin > end || end > f->buffer_size)
        return bad_entry(f, name, at, "data_offsets [%lld, %lld] lie outside the %lld-byte data buffer",
                         (long long)begin, (long long)end, (long long)f->buffer_size);
    if (numel * dt->size != end - begin)
        return bad_entry(f, name, at, "%lld elements of %s need %lld bytes but data_offsets [%lld, %lld] hold %lld",
                         (long long)numel, dt->name, (long long)(numel * dt->size), (long long)begin, (long long)end,
                         (long long)(end - begin));
    e->name = name;
    e->dtype = dt->name;
    e->ndim = ndim;
    e->numel = numel;
    e->offset = f->buffer_start + begin;
    e->nbytes = end - begin;
    e->readable = dt->readable;
    e->read_dtype = dt->read_dtype;
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static int by_offset(const void *a, const void *b)
{
    const tg_safetensors_entry *x = *(const tg_safetensors_entry *const *)a,
                               *y = *(const tg_safetensors_entry *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* Sorted name_refs of n names, or NULL; reports the first duplicate, with
 * where its two entries start when at (the entries' offsets) is given. */
static name_ref *sorted_names(const tg_safetensors *f, int n, const char *(*name_of)(const tg_safetensors *, int),
                              const char *what, const int64_t *at)
{
    name_ref *refs = tg__malloc(sizeof *refs * (size_t)(n ? n : 1));
    if (!refs) return tg_error("%s: '%s': out of memory", OPEN, f->path);
    for (int i = 0; i < n; i++) refs[i] = (name_ref){name_of(f, i), i};
    qsort(refs, (size_t)n, sizeof *refs, by_name);
    for (int i = 1; i < n; i++) {
        if (strcmp(refs[i - 1].name, refs[i].name) != 0) continue;
        int first = refs[i - 1].index < refs[i].index ? refs[i - 1].index : refs[i].index;
        int second = refs[i - 1].index ^ refs[i].index ^ first;
        if (at)
            tg_error("%s: '%s': duplicate %s '%s' (entries at bytes %lld and %lld)", OPEN, f->path, what, refs[i].name,
                     (long long)at[first], (long long)at[second]);
        else
            tg_error("%s: '%s': duplicate %s '%s'", OPEN, f->path, what, refs[i].name);
        free(refs);
        return NULL;
    }
    return refs;
}

static const char *entry_name(const tg_safetensors *f, int i) { return f->entries[i].name; }
static const char *metadata_key(const tg_safetensors *f, int i) { return f->metadata[i].key; }

/* The tensors tile the buffer: sorted by offset, each begins where the one
 * before ended and the last ends at the buffer's end. */
static bool check_layout(const tg_safetensors *f)
{
    const tg_safetensors_entry **order = tg__malloc(sizeof *order * (size_t)(f->count ? f->count : 1));
    if (!order) return TG__REJECT("%s: '%s': out of memory", OPEN, f->path);
    for (int i = 0; i < f->count; i++) order[i] = &f->entries[i];
    qsort(order, (size_t)f->count, sizeof *order, by_offset);
    int64_t expected = f->buffer_start;
    const tg_safetensors_entry *prev = NULL;
    bool ok = true;
    for (int i = 0; i < f->count && ok; i++) {
        const tg_safetensors_entry *e = order[i];
        if (e->offset < expected)
            ok = TG__REJECT("%s: '%s': tensor '%s' (bytes %lld..%lld) overlaps tensor '%s' (bytes %lld..%lld)", OPEN,
                            f->path, e->name, (long long)e->offset, (long long)(e->offset + e->nbytes), prev->name,
                            (long long)prev->offset, (long long)(prev->offset + prev->nbytes));
        else if (e->offset > expected)
            ok = TG__REJECT("%s: '%s': bytes %lld..%lld of the data belong to no tensor (a gap before tensor '%s')",
                            OPEN, f->path, (long long)expected, (long long)e->offset, e->name);
        expected = e->offset + e->nbytes;
        prev = e;
    }
    const int64_t file_end = f->buffer_start + f->buffer_size;
    if (ok && expected != file_end)
        ok = TG__REJECT("%s: '%s': bytes %lld..%lld at the end of the file belong to no tensor", OPEN, f->path,
                        (long long)expected, (long long)file_end);
    free(order);
    return ok;
}

/* Fill f's entries and metadata from the parsed root object. */
static bool check_root(tg_safetensors *f, const int64_t *key_at, int n_keys, const odd_number *odd)
{
    const cJSON *meta = NULL;
    int n_tensors = 0, k = 0;
    for (const cJSON *c = f->root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0)
            n_tensors++;
        else if (meta)
            return TG__REJECT("%s: '%s': \"__metadata__\" appears twice", OPEN, f->path);
        else
            meta = c;
    }
    f->entries = tg__calloc((size_t)(n_tensors ? n_tensors : 1), sizeof *f->entries);
    /* Where each tensor's entry starts, for the duplicate check. */
    int64_t *entry_at = tg__malloc(sizeof *entry_at * (size_t)(n_tensors ? n_tensors : 1));
    bool ok = f->entries && entry_at;
    if (!ok) tg_fail("%s: '%s': out of memory", OPEN, f->path);
    for (const cJSON *c = f->root->child; ok && c; c = c->next, k++) {
        if (c == meta) continue;
        /* cJSON lists keys in the order the scan saw them. */
        entry_at[f->count] = k < n_keys ? key_at[k] : f->buffer_start - 1;
        ok = check_entry(f, c, entry_at[f->count], odd->at >= 0 && odd->key == k ? odd : NULL, &f->entries[f->count]);
        f->count += ok;
    }
    if (ok && meta) {
        f->metadata = tg__malloc(sizeof *f->metadata * (size_t)(cJSON_GetArraySize(meta) + 1));
        if (!cJSON_IsObject(meta))
            ok = TG__REJECT("%s: '%s': \"__metadata__\" must be an object of strings", OPEN, f->path);
        else if (!f->metadata)
            ok = TG__REJECT("%s: '%s': out of memory", OPEN, f->path);
        for (const cJSON *c = meta->child; ok && c; c = c->next) {
            if (!cJSON_IsString(c))
                ok = TG__REJECT("%s: '%s': metadata value of \"%.60s\" is not a string", OPEN, f->path, c->string);
            else
                f->metadata[f->n_metadata++] = (tg_metadata_item){c->string, c->valuestring};
        }
    }
    ok = ok && (f->by_name = sorted_names(f, f->count, entry_name, "tensor name", entry_at)) != NULL;
    free(entry_at);
    ok = ok && (f->metadata_by_key = sorted_names(f, f->n_metadata, metadata_key, "metadata key", NULL)) != NULL;
    return ok && check_layout(f);
}

static bool read_header(tg_safetensors *f)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) return TG__REJECT("%s: '%s': %s", OPEN, f->path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return TG__REJECT("%s: '%s' is not a regular file", OPEN, f->path);
    const int64_t file_size = st.st_size;
    unsigned char len_bytes[8];
    if (file_size < 8)
        return TG__REJECT("%s: '%s': the file has %lld bytes, fewer than the 8 of the header length", OPEN, f->path,
                          (long long)file_size);
    if (!read_exact(f->fd, len_bytes, 8, 0)) return TG__REJECT("%s: '%s': %s at byte 0", OPEN, f->path, read_reason());
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len_bytes[i];
    if (n > TG_SAFETENSORS_MAX_HEADER || n > (uint64_t)(file_size - 8))
        return TG__REJECT("%s: '%s': header length %llu (byte 0) is larger than %s (%lld)", OPEN, f->path,
                          (unsigned long long)n, n > TG_SAFETENSORS_MAX_HEADER ? "the cap" : "the rest of the file",
                          n > TG_SAFETENSORS_MAX_HEADER ? (long long)TG_SAFETENSORS_MAX_HEADER
                                                        : (long long)(file_size - 8));
    f->buffer_start = 8 + (int64_t)n;
    f->buffer_size = file_size - f->buffer_start;
    char *h = tg__malloc(n + 1);
    if (!h) return TG__REJECT("%s: '%s': out of memory for a %llu-byte header", OPEN, f->path, (unsigned long long)n);
    int64_t *key_at = NULL;
    int n_keys = 0;
    odd_number odd = {.at = -1};
    bool ok = true;
    if (!read_exact(f->fd, h, (int64_t)n, 8))
        ok = TG__REJECT("%s: '%s': %s in the header (bytes 8..%lld)", OPEN, f->path, read_reason(),
                        (long long)f->buffer_start);
    else if (n == 0 || h[0] != '{')
        ok = TG__REJECT("%s: '%s': the header (byte 8) does not start with '{'", OPEN, f->path);
    else
        ok = scan_header(f, (const unsigned char *)h, (int64_t)n, &key_at, &n_keys, &odd);
    const char *end = NULL;
    if (ok) {
        f->root = cJSON_ParseWithLengthOpts(h, n, &end, false);
        if (!f->root) {
            ok = TG__REJECT("%s: '%s': invalid JSON in the header near byte %lld", OPEN, f->path,
                            (long long)(8 + (end ? end - h : 0)));
        } else {
            /* The format pads the header with spaces. */
            for (const char *p = end; ok && p < h + n; p++)
                if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                    ok = TG__REJECT("%s: '%s': unexpected data after the JSON header at byte %lld", OPEN, f->path,
                                    (long long)(8 + (p - h)));
        }
    }
    if (ok) ok = check_root(f, key_at, n_keys, &odd);
    free(key_at);
    free(h);
    return ok;
}

tg_safetensors *tg_safetensors_open(const char *path)
{
    if (!path) return tg_error("%s: NULL path", OPEN);
    tg_safetensors *f = tg__calloc(1, sizeof *f);
    char *copy = tg__strdup(path);
    if (!f || !copy) {
        free(f);
        free(copy);
        return tg_error("%s: out of memory", OPEN);
    }
    f->path = copy;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
     * below); reads of regular files ignore the flag. */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0) {
        tg_error("%s: cannot open '%s': %s", OPEN, path, strerror(errno));
        tg_safetensors_close(f);
        return NULL;
    }
    if (!read_header(f)) {
        tg_safetensors_close(f);
        return NULL;
    }
    return f;
}

void tg_safetensors_close(tg_safetensors *f)
{
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    cJSON_Delete(f->root);
    free(f->entries);
    free(f->by_name);
    free(f->metadata);
    free(f->metadata_by_key);
    free(f->path);
    free(f);
}

/* --- looking things up -------------------------------------------------------- */

const char *tg_safetensors_path(const tg_safetensors *f) { return f ? f->path : NULL; }

int tg_safetensors_count(const tg_safetensors *f) { return f ? f->count : 0; }

const tg_safetensors_entry *tg_safetensors_entry_at(const tg_safetensors *f, int i)
{
    if (!f) return tg_error("tg_safetensors_entry_at: NULL file");
    if (i < 0 || i >= f->count)
        return tg_error("tg_safetensors_entry_at: index %d is out of range for '%s' (%d tensors)", i, f->path,
                        f->count);
    return &f->entries[i];
}

static int lookup(const name_ref *refs, int n, const char *name)
{
    const name_ref key = {name, 0};
    const name_ref *hit = name ? bsearch(&key, refs, (size_t)n, sizeof *refs, by_name) : NULL;
    return hit ? hit->index : -1;
}

int tg_safetensors_find(const tg_safetensors *f, const char *name)
{
    return f ? lookup(f->by_name, f->count, name) : -1;
}

int tg_safetensors_metadata_count(const tg_safetensors *f) { return f ? f->n_metadata : 0; }

const tg_metadata_item *tg_safetensors_metadata_at(const tg_safetensors *f, int i)
{
    if (!f) return tg_error("tg_safetensors_metadata_at: NULL file");
    if (i < 0 || i >= f->n_metadata)
        return tg_error("tg_safetensors_metadata_at: index %d is out of range for '%s' (%d entries)", i, f->path,
                        f->n_metadata);
    return &f->metadata[i];
}

const char *tg_safetensors_metadata(const tg_safetensors *f, const char *key)
{
    int i = f ? lookup(f->metadata_by_key, f->n_metadata, key) : -1;
    return i < 0 ? NULL : f->metadata[i].value;
}

/* --- reading data ------------------------------------------------------------- */

/* IEEE half to float, exactly: rebias normals, scale subnormals. */
static float half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F)
        bits = sign | 0x7F800000u | mantissa << 13 | (mantissa ? 0x400000u : 0); /* inf, NaN (quiet, as torch) */
    else if (exponent)
        bits = sign | (exponent + 112) << 23 | mantissa << 13;
    else
        return (sign ? -1.0f : 1.0f) * (float)mantissa * 0x1p-24f; /* zero, subnormal */
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/* bfloat16 is the top half of a float. */
static float bfloat_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

static bool check_readable(const char *fn, const tg_safetensors *f, const tg_safetensors_entry *e)
{
    if (e->readable) return true;
    return TG__REJECT("%s: '%s': tensor '%s' (data at byte %lld) is %s; tapegrad reads F32, F64, I64, F16 and BF16", fn,
                      f->path, e->name, (long long)e->offset, e->dtype);
}

int tg_safetensors_read_into(tg_safetensors *f, int i, tg_tensor *dst)
{
    const char *fn = "tg_safetensors_read_into";
    if (!f) return tg_fail("%s: NULL file", fn);
    if (i < 0 || i >= f->count)
        return tg_fail("%s: index %d is out of range for '%s' (%d tensors)", fn, i, f->path, f->count);
    if (!tg__check(fn, dst)) return -1;
    const tg_safetensors_entry *e = &f->entries[i];
    if (!check_readable(fn, f, e)) return -1;
    bool same_shape = dst->ndim == e->ndim;
    for (int d = 0; same_shape && d < e->ndim; d++) same_shape = dst->shape[d] == e->shape[d];
    if (!same_shape || dst->dtype != e->read_dtype) {
        char want[160], have[160];
        return tg_fail("%s: '%s': tensor '%s' is %s %s but the destination is %s %s", fn, f->path, e->name, e->dtype,
                       tg__shape_text(e->ndim, e->shape, want, sizeof want), tg_dtype_name(dst->dtype),
                       tg_shape_str(dst, have, sizeof have));
    }
    if (!tg_is_contiguous(dst))
        return tg_fail("%s: '%s': the destination of tensor '%s' is not contiguous", fn, f->path, e->name);
    char *out = tg_data(dst);
    /* An in-place write, as tg_copy_: a graph that saved dst is stale now. */
    dst->storage->version++;
    if (strcmp(e->dtype, "F16") != 0 && strcmp(e->dtype, "BF16") != 0) {
        if (!read_exact(f->fd, out, e->nbytes, e->offset))
            return tg_fail("%s: '%s': tensor '%s': %s reading bytes %lld..%lld", fn, f->path, e->name, read_reason(),
                           (long long)e->offset, (long long)(e->offset + e->nbytes));
        return 0;
    }
    /* Half types: convert through a small buffer, never the whole tensor. */
    const bool half = e->dtype[0] == 'F';
    uint16_t chunk[8192];
    for (int64_t done = 0; done < e->numel;) {
        int64_t n = e->numel - done < 8192 ? e->numel - done : 8192;
        if (!read_exact(f->fd, chunk, 2 * n, e->offset + 2 * done))
            return tg_fail("%s: '%s': tensor '%s': %s reading bytes %lld..%lld", fn, f->path, e->name, read_reason(),
                           (long long)(e->offset + 2 * done), (long long)(e->offset + 2 * (done + n)));
        float *values = (float *)out + done;
        for (int64_t k = 0; k < n; k++) values[k] = half ? half_to_float(chunk[k]) : bfloat_to_float(chunk[k]);
        done += n;
    }
    return 0;
}

tg_tensor *tg_safetensors_get(tg_safetensors *f, int i)
{
    const tg_safetensors_entry *e = tg_safetensors_entry_at(f, i);
    if (!e) return NULL;
    if (!check_readable("tg_safetensors_get", f, e)) return NULL;
    tg_tensor *t = tg_empty(e->read_dtype, e->ndim, e->shape);
    if (t && tg_safetensors_read_into(f, i, t) < 0) {
        tg_free(t);
        return NULL;
    }
    return t;
}

/* --- a whole file ------------------------------------------------------------- */

void tg_safetensors_contents_free(tg_safetensors_contents *c)
{
    if (!c) return;
    for (int i = 0; i < c->count; i++) {
        free((char *)c->tensors[i].name);
        tg_free(c->tensors[i].tensor);
    }
    for (int i = 0; i < c->n_metadata; i++) {
        free((char *)c->metadata[i].key);
        free((char *)c->metadata[i].value);
    }
    free(c->tensors);
    free(c->metadata);
    *c = (tg_safetensors_contents){0};
}

int tg_safetensors_load(const char *path, tg_safetensors_contents *out)
{
    if (!out) return tg_fail("tg_safetensors_load: NULL output");
    *out = (tg_safetensors_contents){0};
    tg_safetensors *f = tg_safetensors_open(path);
    if (!f) return -1;
    out->tensors = tg__calloc((size_t)(f->count ? f->count : 1), sizeof *out->tensors);
    out->metadata = tg__calloc((size_t)(f->n_metadata ? f->n_metadata : 1), sizeof *out->metadata);
    bool ok = out->tensors && out->metadata;
    if (!ok) tg_error("tg_safetensors_load: '%s': out of memory", path);
    /* Counts grow before an item is filled, so that a failure frees it too. */
    for (int i = 0; ok && i < f->count; i++) {
        const tg_safetensors_entry *e = &f->entries[i];
        tg_named_tensor *item = &out->tensors[out->count++];
        if (!(ok = check_readable("tg_safetensors_load", f, e))) break;
        item->name = tg__strdup(e->name);
        item->tensor = tg__new_persistent("tg_safetensors_load", e->read_dtype, e->ndim, e->shape);
        if (!item->name)
            ok = TG__REJECT("tg_safetensors_load: '%s': out of memory", path);
        else
            ok = item->tensor && tg_safetensors_read_into(f, i, item->tensor) == 0;
    }
    for (int i = 0; ok && i < f->n_metadata; i++) {
        tg_metadata_item *m = &out->metadata[out->n_metadata++];
        m->key = tg__strdup(f->metadata[i].key);
        m->value = tg__strdup(f->metadata[i].value);
        if (!m->key || !m->value) ok = TG__REJECT("tg_safetensors_load: '%s': out of memory", path);
    }
    tg_safetensors_close(f);
    if (!ok) tg_safetensors_contents_free(out);
    return ok ? 0 : -1;
}
