/* safetensors files: round trips of every dtype and layout, files written
 * by PyTorch's side (tests/golden/gen_interop.py), bad arguments, and the
 * atomic save with each of its I/O calls made to fail in turn. Hostile
 * files are in test_safetensors_hostile.c. */
#include "files.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <tapegrad/safetensors.h>
#include "../core/internal.h"

/* A few tensors of every writable dtype and awkward shape, in a scope. */
typedef struct {
    tg_named_tensor items[6];
    int count;
} sample;

static sample make_sample(void)
{
    tg_tensor *f32 = tg_randn(TG_F32, 2, (int64_t[]){3, 4}, 0, 1);
    tg_tensor *i64 = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){INT64_MIN, -1, INT64_MAX});
    return (sample){{
        {"lstm.weight_ih_l0", f32},
        {"transposed", tg_transpose(tg_randn(TG_F64, 2, (int64_t[]){2, 5}, 0, 1), 0, 1)},
        {"indices", i64},
        {"scalar", tg_scalar(TG_F64, -0.25)},
        {"empty", tg_zeros(TG_F32, 2, (int64_t[]){0, 3})},
        {"eight_dims", tg_rand(TG_F32, 8, (int64_t[]){1, 2, 1, 2, 1, 2, 1, 3}, -1, 1)},
    }, 6};
}

static void assert_file_holds(const char *path, const sample *s)
{
    tg_safetensors *f = tg_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(tg_safetensors_count(f), s->count);
    for (int i = 0; i < s->count; i++) {
        const tg_safetensors_entry *e = tg_safetensors_entry_at(f, i);
        assert_string_equal(e->name, s->items[i].name);
        assert_int_equal(tg_safetensors_find(f, e->name), i);
        assert_same_tensor(tg_safetensors_get(f, i), s->items[i].tensor);
    }
    tg_safetensors_close(f);
}

static void test_round_trip(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    sample s = make_sample();
    const tg_metadata_item meta[] = {{"format", "pt"}, {"note", "line one\nline two, \"quoted\", caf\xc3\xa9"}};
    assert_int_equal(tg_safetensors_save(scratch("a.safetensors"), s.count, s.items, 2, meta), 0);
    assert_string_equal(scratch_listing(), "a.safetensors\n");
    assert_file_holds(scratch("a.safetensors"), &s);

    tg_safetensors *f = tg_safetensors_open(scratch("a.safetensors"));
    const tg_safetensors_entry *e = tg_safetensors_entry_at(f, 1);
    assert_string_equal(e->dtype, "F64");
    assert_int_equal(e->ndim, 2);
    assert_int_equal(e->shape[0], 5);
    assert_int_equal(e->shape[1], 2);
    assert_int_equal(e->numel, 10);
    assert_int_equal(e->nbytes, 80);
    assert_true(e->readable);
    assert_string_equal(tg_safetensors_entry_at(f, 2)->dtype, "I64");
    assert_int_equal(tg_safetensors_entry_at(f, 3)->ndim, 0);
    assert_int_equal(tg_safetensors_find(f, "nope"), -1);
    assert_int_equal(tg_safetensors_metadata_count(f), 2);
    assert_string_equal(tg_safetensors_metadata_at(f, 1)->key, "note");
    assert_string_equal(tg_safetensors_metadata(f, "note"), meta[1].value);
    assert_null(tg_safetensors_metadata(f, "missing"));
    assert_string_equal(tg_safetensors_path(f), scratch("a.safetensors"));
    /* The data starts 8-byte aligned after a space-padded header of integers. */
    int64_t data_start = tg_safetensors_entry_at(f, 0)->offset;
    assert_int_equal(data_start % 8, 0);
    tg_safetensors_close(f);
    FILE *raw = fopen(scratch("a.safetensors"), "rb");
    char *header = calloc(1, (size_t)data_start + 1);
    assert_int_equal(fread(header, 1, (size_t)data_start, raw), (size_t)data_start);
    fclose(raw);
    cJSON *json = cJSON_Parse(header + 8);
    assert_non_null(json);
    cJSON *offsets = cJSON_GetObjectItem(cJSON_GetObjectItem(json, "indices"), "data_offsets");
    assert_int_equal(cJSON_GetArrayItem(offsets, 0)->valuedouble, 48 + 80);
    cJSON_Delete(json);
    free(header);

    /* Saving again replaces the file. */
    s.count = 2;
    assert_int_equal(tg_safetensors_save(scratch("a.safetensors"), s.count, s.items, 0, NULL), 0);
    assert_file_holds(scratch("a.safetensors"), &s);
    assert_string_equal(scratch_listing(), "a.safetensors\n");
    tg_scope_end(scope);
}

static void test_contents(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    sample s = make_sample();
    assert_int_equal(tg_safetensors_save(scratch("c.safetensors"), s.count, s.items, 1,
                                         (tg_metadata_item[]){{"k", "v"}}), 0);
    tg_safetensors_contents c;
    assert_int_equal(tg_safetensors_load(scratch("c.safetensors"), &c), 0);
    assert_int_equal(c.count, s.count);
    for (int i = 0; i < c.count; i++) {
        assert_string_equal(c.tensors[i].name, s.items[i].name);
        assert_true(c.tensors[i].tensor->persistent);
        assert_same_tensor(c.tensors[i].tensor, s.items[i].tensor);
    }
    assert_int_equal(c.n_metadata, 1);
    assert_string_equal(c.metadata[0].value, "v");
    tg_safetensors_contents_free(&c);
    assert_int_equal(c.count, 0);
    tg_safetensors_contents_free(NULL);
    tg_scope_end(scope);
}

/* A file from PyTorch: F16 and BF16 arrive as PyTorch's float32 values. */
static void test_pytorch_dtypes(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    tg_safetensors *f = tg_safetensors_open(golden_file("dtypes.safetensors"));
    assert_non_null(f);
    assert_string_equal(tg_safetensors_metadata(f, "format"), "pt");
    /* and NaNs with payloads, signalling ones too (F16's come quiet) */
    const char *pairs[4][2] = {{"half", "half_as_f32"}, {"bfloat", "bfloat_as_f32"},
                               {"half_nans", "half_nans_as_f32"}, {"bfloat_nans", "bfloat_nans_as_f32"}};
    for (int k = 0; k < 4; k++) {
        int i = tg_safetensors_find(f, pairs[k][0]);
        const tg_safetensors_entry *e = tg_safetensors_entry_at(f, i);
        assert_string_equal(e->dtype, k % 2 ? "BF16" : "F16");
        assert_int_equal(e->read_dtype, TG_F32);
        tg_tensor *got = tg_safetensors_get(f, i), *want = tg_safetensors_get(f, tg_safetensors_find(f, pairs[k][1]));
        assert_same_tensor(got, want); /* bit for bit: signed zeros, subnormals, NaN */
        assert_true(isnan(((float *)tg_data(got))[k < 2 ? 10 : 0]));
    }
    tg_tensor *i64 = tg_safetensors_get(f, tg_safetensors_find(f, "i64"));
    assert_int_equal(((int64_t *)tg_data(i64))[0], INT64_MIN);
    assert_int_equal(((int64_t *)tg_data(i64))[3], INT64_MAX);
    tg_tensor *f64 = tg_safetensors_get(f, tg_safetensors_find(f, "f64"));
    assert_true(((double *)tg_data(f64))[2] == 5e-324);
    assert_near(tg_item(tg_safetensors_get(f, tg_safetensors_find(f, "scalar"))), 3.5, 0);
    tg_tensor *empty = tg_safetensors_get(f, tg_safetensors_find(f, "empty"));
    assert_int_equal(empty->ndim, 2);
    assert_int_equal(empty->shape[1], 3);
    tg_safetensors_close(f);
    tg_scope_end(scope);
}

static void test_read_errors(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    tg_tensor *w = tg_ones(TG_F32, 2, (int64_t[]){2, 3});
    assert_int_equal(tg_safetensors_save(scratch("r.safetensors"), 1, &(tg_named_tensor){"w", w}, 0, NULL), 0);
    tg_safetensors *f = tg_safetensors_open(scratch("r.safetensors"));
    tg_tensor *wrong_shape = tg_zeros(TG_F32, 2, (int64_t[]){3, 2}), *wrong_dtype = tg_zeros(TG_F64, 2, (int64_t[]){2, 3});
    tg_tensor *strided = tg_transpose(tg_zeros(TG_F32, 2, (int64_t[]){3, 2}), 0, 1);
    tg_clear_error();
    assert_int_equal(tg_safetensors_read_into(f, 0, wrong_shape), -1);
    assert_error_contains("tensor 'w' is F32 [2,3] but the destination is float32 [3,2]");
    assert_int_equal(tg_safetensors_read_into(f, 0, wrong_dtype), -1);
    assert_error_contains("but the destination is float64 [2,3]");
    assert_int_equal(tg_safetensors_read_into(f, 0, strided), -1);
    assert_error_contains("is not contiguous");
    assert_int_equal(tg_safetensors_read_into(f, 1, w), -1);
    assert_error_contains("index 1 is out of range");
    assert_null(tg_safetensors_entry_at(f, -1));
    assert_error_contains("tg_safetensors_entry_at: index -1 is out of range");
    assert_null(tg_safetensors_metadata_at(f, 0));
    assert_error_contains("tg_safetensors_metadata_at: index 0 is out of range");
    tg_clear_error();
    assert_int_equal(tg_safetensors_read_into(f, 0, NULL), -1);
    assert_string_equal(tg_last_error(), "");
    assert_int_equal(tg_safetensors_read_into(NULL, 0, w), -1);
    assert_error_contains("NULL file");
    tg_safetensors_close(NULL);

    /* The file cut short after it was checked: the read says so. */
    assert_int_equal(truncate(scratch("r.safetensors"), tg_safetensors_entry_at(f, 0)->offset + 10), 0);
    assert_int_equal(tg_safetensors_read_into(f, 0, tg_zeros(TG_F32, 2, (int64_t[]){2, 3})), -1);
    assert_error_contains("unexpected end of file reading bytes");
    tg_safetensors_close(f);

    /* A dtype the format has but tapegrad does not read: listed, not read. */
    write_file(scratch("i32.safetensors"), "{\"ids\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    f = tg_safetensors_open(scratch("i32.safetensors"));
    assert_non_null(f);
    assert_false(tg_safetensors_entry_at(f, 0)->readable);
    assert_null(tg_safetensors_get(f, 0));
    assert_error_contains("tensor 'ids' (data at byte 64) is I32; tapegrad reads F32, F64, I64, F16 and BF16");
    tg_safetensors_close(f);
    tg_safetensors_contents c;
    assert_int_equal(tg_safetensors_load(scratch("i32.safetensors"), &c), -1);
    assert_error_contains("is I32");
    assert_int_equal(c.count, 0);
    assert_int_equal(tg_safetensors_load(scratch("none.safetensors"), &c), -1);
    assert_error_contains("No such file or directory");
    tg_scope_end(scope);
}

/* The empty name is a name, which the format allows (safetensors.torch
 * writes "", named_modules()'s name of the root module): saved, opened,
 * found and read. */
static void test_empty_name(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    const sample s = {{{"", tg_from_array(TG_F32, 1, (int64_t[]){2}, (float[]){1.5f, -2.0f})},
                       {"b", tg_scalar(TG_F64, 3.0)}}, 2};
    assert_int_equal(tg_safetensors_save(scratch("e.safetensors"), s.count, s.items, 0, NULL), 0);
    assert_file_holds(scratch("e.safetensors"), &s);
    /* As the Rust writer lays it out. */
    write_file(scratch("r.safetensors"), "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    tg_safetensors *f = tg_safetensors_open(scratch("r.safetensors"));
    assert_non_null(f);
    assert_int_equal(tg_safetensors_find(f, ""), 0);
    assert_string_equal(tg_safetensors_entry_at(f, 0)->name, "");
    tg_safetensors_close(f);
    tg_scope_end(scope);
}

static void test_save_errors(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    tg_tensor *t = tg_ones(TG_F32, 1, (int64_t[]){2});
    tg_scope *inner = tg_scope_begin();
    tg_tensor *dead = tg_ones(TG_F32, 1, (int64_t[]){2});
    tg_scope_end(inner);
    const char *path = scratch("s.safetensors");
    struct {
        tg_named_tensor items[2];
        int n;
        const char *error;
    } cases[] = {
        {{{"a", t}, {"a", t}}, 2, "duplicate tensor name 'a'"},
        {{{NULL, t}}, 1, "tensor 0 has a NULL name"},
        {{{"a", t}, {"__metadata__", t}}, 2, "tensor 1 has the reserved name"},
        {{{"bad\xff", t}}, 1, "non-UTF-8 or control-character name"},
        {{{"tab\there", t}}, 1, "non-UTF-8 or control-character name"},
        {{{"a", NULL}}, 1, "tensor 'a' is NULL"},
        {{{"a", t}, {"b", dead}}, 2, "tensor 'b' was used after its scope ended"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_clear_error();
        assert_int_equal(tg_safetensors_save(path, cases[k].n, cases[k].items, 0, NULL), -1);
        assert_error_contains("tg_safetensors_save");
        assert_error_contains(cases[k].error);
    }
    tg_named_tensor ok = {"a", t};
    assert_int_equal(tg_safetensors_save(path, 1, &ok, 2, (tg_metadata_item[]){{"k", "1"}, {"k", "2"}}), -1);
    assert_error_contains("duplicate metadata key 'k'");
    assert_int_equal(tg_safetensors_save(path, 1, &ok, 1, (tg_metadata_item[]){{"k", NULL}}), -1);
    assert_error_contains("metadata entry 0 has a NULL");
    assert_int_equal(tg_safetensors_save(path, -1, &ok, 0, NULL), -1);
    assert_error_contains("a negative count");
    assert_int_equal(tg_safetensors_save(path, 1, NULL, 0, NULL), -1);
    assert_error_contains("a NULL array");
    assert_int_equal(tg_safetensors_save(NULL, 1, &ok, 0, NULL), -1);
    assert_error_contains("no path");
    assert_int_equal(tg_safetensors_save(scratch("no/such/dir/x.safetensors"), 1, &ok, 0, NULL), -1);
    assert_error_contains("cannot write '");
    assert_error_contains("no/such/dir/x.safetensors': No such file or directory");
    assert_string_equal(scratch_listing(), "");
    /* Nothing in the file: a valid file with an empty header object. */
    assert_int_equal(tg_safetensors_save(path, 0, NULL, 0, NULL), 0);
    tg_safetensors *f = tg_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(tg_safetensors_count(f), 0);
    tg_safetensors_close(f);
    tg_scope_end(scope);
}

/* Make each I/O call of a save fail in turn: every time the save reports
 * the path and the system's reason, the old file still holds what it held,
 * and no temporary file is left. */
/* A file name of 250 bytes (the most a name holds is 255): its temporary
 * file, the name and a suffix, would pass that, so it takes a short name
 * in the same directory; saving and saving over it work and leave only
 * the file. */
static void test_long_file_name(void **state)
{
    (void)state;
    char name[251];
    memset(name, 'n', 250);
    name[250] = '\0';
    memcpy(name + 238, ".safetensors", 12);
    tg_scope *scope = tg_scope_begin();
    for (int k = 1; k <= 2; k++) {
        tg_named_tensor item = {"a", tg_full(TG_F32, 1, (int64_t[]){3}, k)};
        assert_int_equal(tg_safetensors_save(scratch(name), 1, &item, 0, NULL), 0);
        tg_safetensors *f = tg_safetensors_open(scratch(name));
        assert_non_null(f);
        assert_true(tg_get(tg_safetensors_get(f, 0), (int64_t[]){2}) == k);
        tg_safetensors_close(f);
    }
    char want[256];
    snprintf(want, sizeof want, "%s\n", name);
    assert_string_equal(scratch_listing(), want);
    tg_scope_end(scope);
}

/* Saving through a symbolic link writes the file it names and keeps the
 * link; saving over a file keeps its permissions. */
static void test_save_through_a_link_keeps_modes(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    tg_named_tensor one = {"a", tg_full(TG_F32, 1, (int64_t[]){2}, 1)}, two = {"a", tg_full(TG_F32, 1, (int64_t[]){2}, 2)};
    char real[512];
    snprintf(real, sizeof real, "%s", scratch("real.safetensors"));
    assert_int_equal(tg_safetensors_save(real, 1, &one, 0, NULL), 0);
    assert_int_equal(chmod(real, 0600), 0);
    assert_int_equal(symlink("real.safetensors", scratch("link.safetensors")), 0);
    assert_int_equal(tg_safetensors_save(scratch("link.safetensors"), 1, &two, 0, NULL), 0);
    struct stat st;
    assert_int_equal(lstat(scratch("link.safetensors"), &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(real, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    tg_safetensors *f = tg_safetensors_open(real);
    assert_non_null(f);
    assert_true(tg_get(tg_safetensors_get(f, 0), (int64_t[]){1}) == 2);
    tg_safetensors_close(f);
    const char *listing = scratch_listing(); /* the two, no temporary file */
    assert_true(strstr(listing, "link.safetensors\n") && strstr(listing, "real.safetensors\n"));
    assert_int_equal(strlen(listing), strlen("link.safetensors\nreal.safetensors\n"));
    tg_scope_end(scope);
}

static void test_atomic_save(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    sample old = make_sample(), new = make_sample();
    const char *path = scratch("model.safetensors");
    assert_int_equal(tg_safetensors_save(path, old.count, old.items, 0, NULL), 0);
    tg__io_fault(0, 0);
    assert_int_equal(tg_safetensors_save(scratch("count.safetensors"), new.count, new.items, 0, NULL), 0);
    const int64_t calls = tg__io_calls();
    /* open, length, header, padding, 6 tensors, flush, fsync, close, rename */
    assert_int_equal(calls, 14);
    unlink(scratch("count.safetensors"));
    const int errors[] = {ENOSPC, EIO};
    for (int64_t k = 1; k <= calls; k++) {
        int err = errors[k % 2];
        tg__io_fault(k, err);
        tg_clear_error();
        assert_int_equal(tg_safetensors_save(path, new.count, new.items, 0, NULL), -1);
        char expected[1200];
        snprintf(expected, sizeof expected, "tg_safetensors_save: cannot write '%s': %s", path, strerror(err));
        assert_string_equal(tg_last_error(), expected);
        assert_int_equal(tg__io_calls(), k);
        assert_file_holds(path, &old);
        assert_string_equal(scratch_listing(), "model.safetensors\n");
    }
    tg__io_fault(0, 0);
    assert_int_equal(tg_safetensors_save(path, new.count, new.items, 0, NULL), 0);
    assert_file_holds(path, &new);
    /* A read-only directory: the temporary file cannot even be made. */
    if (geteuid() != 0) {
        assert_int_equal(chmod(scratch_dir, 0555), 0);
        assert_int_equal(tg_safetensors_save(path, old.count, old.items, 0, NULL), -1);
        assert_error_contains("Permission denied");
        assert_int_equal(chmod(scratch_dir, 0755), 0);
        assert_file_holds(path, &new);
    }
    tg_scope_end(scope);
}

/* A path that names a FIFO (or a device such as /dev/null), directly or
 * through a link, is refused: renaming the temporary file over it would
 * put a regular file in its place. */
static void test_save_refuses_what_is_not_a_regular_file(void **state)
{
    (void)state;
    tg_scope *scope = tg_scope_begin();
    tg_named_tensor one = {"a", tg_full(TG_F32, 1, (int64_t[]){2}, 1)};
    char fifo[512], link[512];
    snprintf(fifo, sizeof fifo, "%s", scratch("fifo"));
    snprintf(link, sizeof link, "%s", scratch("link"));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink("fifo", link), 0);
    const char *paths[] = {fifo, link};
    for (int k = 0; k < 2; k++) {
        tg_clear_error();
        assert_int_equal(tg_safetensors_save(paths[k], 1, &one, 0, NULL), -1);
        assert_error_contains("tg_safetensors_save: cannot write '");
        assert_error_contains("': it is not a regular file");
        struct stat st;
        assert_int_equal(lstat(fifo, &st), 0);
        assert_true(S_ISFIFO(st.st_mode));
        assert_int_equal(strlen(scratch_listing()), strlen("fifo\nlink\n")); /* no temporary file */
    }
    assert_int_equal(tg_safetensors_save(scratch_dir, 1, &one, 0, NULL), -1);
    assert_error_contains("it is not a regular file");
    tg_scope_end(scope);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_contents, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_pytorch_dtypes, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_read_errors, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_empty_name, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_save_errors, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_atomic_save, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_long_file_name, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_save_through_a_link_keeps_modes, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_save_refuses_what_is_not_a_regular_file, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
