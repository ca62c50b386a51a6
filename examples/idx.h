/* Reading Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist,
 * gzip'd, read through `gzip -dc`) for the examples. The files are
 * untrusted input: every header field and length is checked against the
 * data actually read, and a bad file is reported with its byte offset.
 *
 *     tg_tensor *images, *labels;
 *     if (!idx_load_split("odyssey", dir, "train", 1000, &images, &labels)) ...
 *
 * gives images (n, 28, 28) float32 in [0, 1] and labels (n) int64 in 0..9,
 * both persistent. */
#ifndef EXAMPLES_IDX_H
#define EXAMPLES_IDX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <tapegrad/tapegrad.h>

#define IDX_ROWS 28
#define IDX_CLASSES 10

static uint32_t idx_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The whole decompressed content of a .gz file of an IDX file with `ndim`
 * dims, or NULL with a message. A few megabytes of gzip can expand to
 * gigabytes: the reading stops once it has more than the header promises. */
static unsigned char *idx_read_gz(const char *who, const char *path, int ndim, size_t *size)
{
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        fprintf(stderr, "%s: cannot open %s (install dataset-fashion-mnist or pass --dir)\n", who, path);
        return NULL;
    }
    fclose(probe);
    /* Quote path for sh: ' becomes '\'' (a directory name must not run commands). */
    char cmd[4 * 1024 + 16];
    size_t at = (size_t)snprintf(cmd, sizeof cmd, "gzip -dc '");
    for (const char *p = path; *p && at + 8 < sizeof cmd; p++)
        at += *p == '\'' ? (size_t)snprintf(cmd + at, sizeof cmd - at, "'\\''") : (cmd[at] = *p, 1);
    snprintf(cmd + at, sizeof cmd - at, "'");
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0, header = 4 + 4 * (size_t)ndim;
    unsigned char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            uint64_t promised = 1; /* the data bytes the dims promise (saturating) */
            for (int d = 0; d < ndim; d++) {
                uint64_t dim = idx_be32(buf + 4 + 4 * d);
                promised = dim && promised > UINT64_MAX / dim ? UINT64_MAX : promised * dim;
            }
            if (promised < n - header) {
                fprintf(stderr, "%s: %s: more than %zu data bytes after offset %zu, the header promises %llu\n", who,
                        path, n - header, header, (unsigned long long)promised);
                free(buf);
                pclose(f); /* gzip, cut off, fails: no matter */
                return NULL;
            }
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    if (pclose(f) != 0 || !buf) {
        fprintf(stderr, "%s: %s is not a readable gzip file\n", who, path);
        free(buf);
        return NULL;
    }
    *size = n;
    return buf;
}

/* An IDX file of unsigned bytes with `ndim` dims: checks the magic number,
 * that the dims match `want` where want[d] > 0, and that the data length is
 * exactly the product of the dims. Returns the count (dim 0), or -1. */
static int64_t idx_parse(const char *who, const char *path, const unsigned char *buf, size_t size, int ndim,
                         const int64_t *want, const unsigned char **data)
{
    size_t header = 4 + 4 * (size_t)ndim;
    if (size < header) {
        fprintf(stderr, "%s: %s: %zu bytes, shorter than its %zu-byte header\n", who, path, size, header);
        return -1;
    }
    uint32_t magic = idx_be32(buf);
    if (magic != (0x0800u | (uint32_t)ndim)) {
        fprintf(stderr, "%s: %s: magic number 0x%08x at offset 0, expected 0x%08x (unsigned bytes, %d dims)\n", who,
                path, magic, 0x0800u | (uint32_t)ndim, ndim);
        return -1;
    }
    uint64_t total = 1;
    int64_t count = 0;
    for (int d = 0; d < ndim; d++) {
        uint32_t dim = idx_be32(buf + 4 + 4 * d);
        if ((want[d] > 0 && dim != want[d]) || dim == 0) {
            if (want[d] > 0)
                fprintf(stderr, "%s: %s: dim %d is %u at offset %d, expected %lld\n", who, path, d, dim, 4 + 4 * d,
                        (long long)want[d]);
            else /* any count but none */
                fprintf(stderr, "%s: %s: dim %d is 0 at offset %d, expected at least 1\n", who, path, d, 4 + 4 * d);
            return -1;
        }
        if (d == 0) count = dim;
        total *= dim; /* at most 2^32 * 28 * 28: no overflow */
    }
    if (size - header != total) {
        fprintf(stderr, "%s: %s: %zu data bytes after offset %zu, the header promises %llu\n", who, path,
                size - header, header, (unsigned long long)total);
        return -1;
    }
    *data = buf + header;
    return count;
}

/* The first `limit` (all for 0) images of a split ("train" or "t10k"),
 * scaled to [0, 1] as (n, 28, 28), and their labels as I64 (n),
 * persistent; false with a message on any problem with the files. */
static bool idx_load_split(const char *who, const char *dir, const char *prefix, int64_t limit, tg_tensor **images,
                           tg_tensor **labels)
{
    char ipath[1024], lpath[1024];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    size_t isize = 0, lsize = 0;
    unsigned char *ibuf = idx_read_gz(who, ipath, 3, &isize), *lbuf = ibuf ? idx_read_gz(who, lpath, 1, &lsize) : NULL;
    const unsigned char *pixels = NULL, *classes = NULL;
    int64_t n_images = ibuf ? idx_parse(who, ipath, ibuf, isize, 3, (int64_t[]){0, IDX_ROWS, IDX_ROWS}, &pixels) : -1;
    int64_t n_labels = lbuf ? idx_parse(who, lpath, lbuf, lsize, 1, (int64_t[]){0}, &classes) : -1;
    bool ok = n_images > 0 && n_labels > 0;
    if (ok && n_images != n_labels) {
        fprintf(stderr, "%s: %s has %lld images but %s has %lld labels\n", who, ipath, (long long)n_images, lpath,
                (long long)n_labels);
        ok = false;
    }
    for (int64_t i = 0; ok && i < n_labels; i++)
        if (classes[i] >= IDX_CLASSES) {
            fprintf(stderr, "%s: %s: label %u at offset %lld is not a class 0..9\n", who, lpath, classes[i],
                    (long long)(8 + i));
            ok = false;
        }
    if (ok) {
        int64_t n = limit > 0 && limit < n_images ? limit : n_images;
        *images = tg_empty(TG_F32, 3, (int64_t[]){n, IDX_ROWS, IDX_ROWS});
        *labels = tg_empty(TG_I64, 1, &n);
        float *x = tg_data(*images);
        int64_t *y = tg_data(*labels);
        for (int64_t i = 0; i < n * IDX_ROWS * IDX_ROWS; i++) x[i] = pixels[i] / 255.0f;
        for (int64_t i = 0; i < n; i++) y[i] = classes[i];
    }
    free(ibuf);
    free(lbuf);
    return ok;
}

#endif
