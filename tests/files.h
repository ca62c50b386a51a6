/* Shared by the file tests: a scratch directory per test executable, paths
 * in it and in tests/golden, and a way to write arbitrary bytes. */
#ifndef TG_TEST_FILES_H
#define TG_TEST_FILES_H

#include "support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char scratch_dir[64];

/* A path: "<dir>/<name>", in one of 8 rotating buffers. */
static inline const char *path_in(const char *dir, const char *name)
{
    static char buffers[8][1100];
    static int next;
    char *p = buffers[next++ % 8];
    snprintf(p, sizeof buffers[0], "%s/%s", dir, name);
    return p;
}

static inline const char *scratch(const char *name) { return path_in(scratch_dir, name); }

static inline const char *golden_file(const char *name)
{
    const char *dir = getenv("TG_GOLDEN_DIR");
    return path_in(dir ? dir : "tests/golden", name);
}

/* Names of the files in the scratch directory, one per line, sorted by the
 * directory; "" when empty. */
static inline const char *scratch_listing(void)
{
    static char listing[4096];
    listing[0] = '\0';
    DIR *d = opendir(scratch_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        strncat(listing, e->d_name, sizeof listing - strlen(listing) - 2);
        strcat(listing, "\n");
    }
    closedir(d);
    return listing;
}

static inline int scratch_setup(void **state)
{
    (void)state;
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/tapegrad-test-XXXXXX");
    return mkdtemp(scratch_dir) ? 0 : -1;
}

static inline int scratch_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(scratch_dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) unlink(scratch(e->d_name));
    if (d) closedir(d);
    return rmdir(scratch_dir);
}

/* Write n bytes to path. */
static inline void write_bytes_to(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A safetensors file from its parts: the header length (as given, so that
 * it can lie), the header text and data_len bytes of data (0, 1, 2, ...). */
static inline void write_raw(const char *path, uint64_t header_len, const char *header, size_t data_len)
{
    size_t n = strlen(header);
    unsigned char *bytes = malloc(8 + n + data_len + 1);
    assert_non_null(bytes);
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(header_len >> (8 * i));
    memcpy(bytes + 8, header, n);
    for (size_t i = 0; i < data_len; i++) bytes[8 + n + i] = (unsigned char)i;
    write_bytes_to(path, bytes, 8 + n + data_len);
    free(bytes);
}

/* The same with the true header length. */
static inline void write_file(const char *path, const char *header, size_t data_len)
{
    write_raw(path, strlen(header), header, data_len);
}

/* Fails the test unless a and b have the same dtype, shape and bytes. */
static inline void assert_same_tensor(const tg_tensor *a, const tg_tensor *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->dtype, b->dtype);
    assert_true(tg_same_shape(a, b));
    size_t n = (size_t)tg_numel(a) * tg_dtype_size(a->dtype);
    char *x = malloc(n + 1), *y = malloc(n + 1);
    assert_int_equal(tg_copy_to_array(a, x), 0);
    assert_int_equal(tg_copy_to_array(b, y), 0);
    assert_memory_equal(x, y, n);
    free(x);
    free(y);
}

#endif
