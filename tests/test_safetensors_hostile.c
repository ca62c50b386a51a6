/* Hostile safetensors files: every check of tg_safetensors_open refuses its
 * file with a message naming the file, the tensor and the byte offset, and
 * nothing crashes. tests/fuzz/fuzz_safetensors.c throws random files at the
 * same code. */
#include "files.h"

#include <sys/stat.h>

#include <tapegrad/safetensors.h>

#define T(name, dtype, shape, begin, end) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #begin "," #end "]}"

typedef struct {
    const char *what;
    const char *header;
    size_t data_len;
    const char *error;
} bad_file;

static const bad_file bad_files[] = {
    {"bad dtype", "{" T("w", "F33", "[2]", 0, 8) "}", 8, "tensor 'w' (entry at byte 9): dtype \"F33\" is not a safetensors dtype"},
    {"dtype not a string", "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' (entry at byte 9): dtype is not a string"},
    {"lower-case dtype", "{" T("w", "f32", "[2]", 0, 8) "}", 8, "dtype \"f32\" is not a safetensors dtype"},
    {"negative shape", "{" T("w", "F32", "[-2]", 0, 8) "}", 8, "tensor 'w' (entry at byte 9): shape entry 0 is not a whole number >= 0"},
    {"fractional shape", "{" T("w", "F32", "[1,1.5]", 0, 8) "}", 8, "shape entry 1 is not a whole number"},
    {"huge shape", "{" T("w", "F32", "[1e300]", 0, 8) "}", 8, "shape entry 0 is 2^53 or more"},
    /* 2^53 + 1 reads as 2^53: the shape shown would not be the one written */
    {"shape entry 2^53 + 1", "{" T("w", "F32", "[0,9007199254740993]", 0, 0) "}", 0,
     "tensor 'w' (entry at byte 9): shape entry 1 is 2^53 or more, past what a JSON number holds exactly"},
    {"shape entry 2^62", "{" T("w", "F32", "[4611686018427387904,4]", 0, 8) "}", 8, "shape entry 0 is 2^53 or more"},
    {"shape of strings", "{" T("w", "F32", "[\"2\"]", 0, 8) "}", 8, "shape entry 0 is not a whole number"},
    {"shape entry written 1.0", "{" T("w", "F32", "[1.0]", 0, 4) "}", 4,
     "tensor 'w' (entry at byte 9): shape entry 0 is written 1.0 (byte 37); sizes and offsets are integers, written in digits only"},
    {"shape entry written 1e0", "{" T("w", "F32", "[2,1e0]", 0, 8) "}", 8, "shape entry 1 is written 1e0 (byte 39)"},
    {"shape entry written -0", "{" T("w", "F32", "[-0]", 0, 0) "}", 0, "shape entry 0 is written -0 (byte 37)"},
    {"shape entry with a leading zero", "{" T("w", "F32", "[02]", 0, 8) "}", 8, "shape entry 0 is written 02 (byte 37)"},
    {"long odd number", "{" T("w", "F32", "[2.000000000000000000000000]", 0, 8) "}", 8,
     "shape entry 0 is written 2.000000000000000... (byte 37)"},
    {"offset written 4.0", "{" T("w", "F32", "[1]", 0, 4.0) "}", 4, "tensor 'w' (entry at byte 9): data_offsets entry 1 is written 4.0 (byte 58)"},
    {"offset written 4e0 in the second tensor", "{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[0]", 4, 4e0) "}", 4,
     "tensor 'b' (entry at byte 62): data_offsets entry 1 is written 4e0 (byte 111)"},
    {"overflowing shape", "{" T("w", "F32", "[4294967296,4294967296]", 0, 8) "}", 8, "tensor 'w' (entry at byte 9): shape overflows at entry 1"},
    {"overflow hidden by a zero", "{" T("w", "F32", "[0,4294967296,4294967296]", 0, 0) "}", 0, "shape overflows at entry 2"},
    {"nine dims", "{" T("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "shape must be an array of at most 8 sizes"},
    {"shape not an array", "{" T("w", "F32", "2", 0, 8) "}", 8, "shape must be an array"},
    {"size mismatch", "{" T("w", "F32", "[3]", 0, 8) "}", 8, "tensor 'w' (entry at byte 9): 3 elements of F32 need 12 bytes but data_offsets [0, 8] hold 8"},
    {"offsets past the buffer", "{" T("w", "F32", "[4]", 0, 16) "}", 8, "data_offsets [0, 16] lie outside the 8-byte data buffer"},
    {"offsets reversed", "{" T("w", "F32", "[0]", 8, 0) "}", 8, "data_offsets [8, 0] lie outside"},
    {"negative offset", "{" T("w", "F32", "[2]", -8, 0) "}", 8, "data_offsets must be two whole numbers >= 0"},
    {"three offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, "data_offsets must be two whole numbers"},
    {"offset beyond 2^53", "{" T("w", "F32", "[2]", 0, 18446744073709551616) "}", 8, "data_offsets must be two whole numbers"},
    {"overlap", "{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12,
     "tensor 'b' (bytes 120..128) overlaps tensor 'a' (bytes 116..124)"},
    {"gap", "{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12,
     "bytes 120..124 of the data belong to no tensor (a gap before tensor 'b')"},
    {"gap at the start", "{" T("a", "F32", "[1]", 4, 8) "}", 8, "bytes 62..66 of the data belong to no tensor (a gap before tensor 'a')"},
    {"trailing bytes", "{" T("a", "F32", "[1]", 0, 4) "}", 12, "bytes 66..74 at the end of the file belong to no tensor"},
    {"empty tensor inside another", "{" T("a", "F32", "[2]", 0, 8) "," T("e", "F32", "[0]", 4, 4) "}", 8, "tensor 'e' (bytes 119..119) overlaps tensor 'a' (bytes 115..123)"},
    {"duplicate name", "{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", 8, "duplicate tensor name 'a' (entries at bytes 9 and 62)"},
    {"unknown field", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, "tensor 'w' (entry at byte 9): unknown field \"extra\""},
    {"field twice", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "field \"dtype\" appears twice"},
    {"missing field", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "tensor 'w' (entry at byte 9): no \"shape\" field"},
    {"tensor not an object", "{\"w\":[1]}", 0, "tensor 'w' (entry at byte 9): expected an object"},
    {"tensor name with a control character", "{\"a\\u0001b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "tensor name with a control character (entry at byte 9)"},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice"},
    {"metadata not an object", "{\"__metadata__\":[]}", 0, "\"__metadata__\" must be an object of strings"},
    {"metadata value not a string", "{\"__metadata__\":{\"epoch\":3}}", 0, "metadata value of \"epoch\" is not a string"},
    {"metadata key twice", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "duplicate metadata key 'k'"},
    {"invalid JSON", "{\"w\":{\"dtype\":\"F32\",}}", 0, "invalid JSON in the header near byte 29"},
    {"unterminated JSON", "{\"w\":", 0, "invalid JSON in the header"},
    {"not an object", "[1,2]", 0, "the header (byte 8) does not start with '{'"},
    {"leading space", " {}", 0, "does not start with '{'"},
    {"data after the JSON", "{} x", 0, "unexpected data after the JSON header at byte 11"},
    {"two objects", "{}{}", 0, "unexpected data after the JSON header at byte 10"},
    {"deep nesting", "{\"a\":{\"b\":[[1]]}}", 0, "JSON nested deeper than 3 levels at byte 19"},
    {"control character in a string", "{\"a\tb\":1}", 0, "control character 0x09 inside a JSON string at byte 11"},
    {"escaped NUL", "{\"a\\u0000b\":1}", 0, "\\u0000 inside a JSON string at byte 11"},
    {"invalid UTF-8", "{\"caf\xe9\":1}", 0, "invalid UTF-8 in the header at byte 13"},
    {"overlong UTF-8", "{\"\xc0\xaf\":1}", 0, "invalid UTF-8 in the header at byte 10"},
    {"UTF-16 surrogate in UTF-8", "{\"\xed\xa0\x80\":1}", 0, "invalid UTF-8 in the header at byte 10"},
    {"truncated UTF-8", "{\"\xe2\x82", 0, "invalid UTF-8 in the header at byte 10"},
    {"lone surrogate escape", "{\"\\ud800\":1}", 0, "invalid JSON in the header"},
};

static void test_bad_headers(void **state)
{
    (void)state;
    const char *path = scratch("bad.safetensors");
    for (size_t k = 0; k < sizeof bad_files / sizeof bad_files[0]; k++) {
        write_file(path, bad_files[k].header, bad_files[k].data_len);
        tg_clear_error();
        tg_safetensors *f = tg_safetensors_open(path);
        if (f || !strstr(tg_last_error(), bad_files[k].error) || !strstr(tg_last_error(), path))
            fail_msg("%s: expected an error containing '%s' and the path, got '%s'", bad_files[k].what, bad_files[k].error,
                     tg_last_error());
        assert_error_contains("tg_safetensors_open: '");
    }
}

/* The header length lies, or the file is too short to hold one. */
static void test_bad_lengths(void **state)
{
    (void)state;
    const char *path = scratch("len.safetensors");
    write_bytes_to(path, "\x02\x00\x00", 3);
    assert_null(tg_safetensors_open(path));
    assert_error_contains("the file has 3 bytes, fewer than the 8 of the header length");
    write_raw(path, 1000, "{}", 0);
    assert_null(tg_safetensors_open(path));
    assert_error_contains("header length 1000 (byte 0) is larger than the rest of the file (2)");
    write_raw(path, UINT64_MAX, "{}", 0);
    assert_null(tg_safetensors_open(path));
    assert_error_contains("header length 18446744073709551615 (byte 0) is larger than the cap (100000000)");
    write_raw(path, 0, "", 0);
    assert_null(tg_safetensors_open(path));
    assert_error_contains("does not start with '{'");
    /* A header length that stops short of the JSON's end. */
    write_raw(path, 5, "{\"a\":{}}", 0);
    assert_null(tg_safetensors_open(path));
    assert_error_contains("invalid JSON");
}

static void test_not_files(void **state)
{
    (void)state;
    assert_null(tg_safetensors_open(scratch("missing.safetensors")));
    assert_error_contains("tg_safetensors_open: cannot open '");
    assert_error_contains("missing.safetensors': No such file or directory");
    assert_null(tg_safetensors_open(scratch_dir));
    assert_error_contains("is not a regular file");
    assert_int_equal(mkfifo(scratch("fifo"), 0600), 0);
    assert_null(tg_safetensors_open(scratch("fifo"))); /* refused, without waiting for a writer */
    assert_error_contains("fifo' is not a regular file");
    assert_null(tg_safetensors_open(NULL));
    assert_error_contains("NULL path");
}

/* What the format allows must still open: empty tensors at any boundary,
 * 0-dim tensors, padding spaces, escapes, metadata only, other dtypes. */
static void test_edge_cases_that_open(void **state)
{
    (void)state;
    const char *path = scratch("ok.safetensors");
    const char *headers[] = {
        "{}",
        "{}      ",
        "{\"__metadata__\":{\"k\":\"line\\nbreak \\u00e9\"}}",
        "{" T("e", "F32", "[0]", 0, 0) "," T("a", "F32", "[1]", 0, 4) "," T("z", "F64", "[0,5]", 4, 4) "}",
        "{" T("s", "I64", "[]", 0, 8) "," T("b", "BOOL", "[3]", 8, 11) "," T("u", "U8", "[1]", 11, 12) "}",
        "{ \"w\" : { \"data_offsets\" : [ 0 , 2 ] , \"shape\" : [ 1 ] , \"dtype\" : \"BF16\" } }",
        "{\"__metadata__\":{\"1.0\":\"-0 1e0\"}," T("1.5e0", "F32", "[10,0]", 0, 0) "}",
        "{\"caf\xc3\xa9 \\\"q\\\"\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}",
    };
    const size_t data[] = {0, 0, 0, 4, 12, 2, 0, 2};
    for (size_t k = 0; k < sizeof headers / sizeof headers[0]; k++) {
        write_file(path, headers[k], data[k]);
        tg_safetensors *f = tg_safetensors_open(path);
        if (!f) fail_msg("header %zu: %s", k, tg_last_error());
        tg_safetensors_close(f);
    }
    tg_safetensors *f = tg_safetensors_open(path);
    assert_string_equal(tg_safetensors_entry_at(f, 0)->name, "caf\xc3\xa9 \"q\"");
    tg_safetensors_close(f);
}

/* Every check passes for a tensor listed after many others: lookups and
 * layout checks are O(n log n), so 100000 tensors open quickly. */
static void test_many_tensors(void **state)
{
    (void)state;
    const int n = 100000;
    char *header = malloc((size_t)n * 80 + 16), *p = header;
    p += sprintf(p, "{");
    for (int i = n - 1; i >= 0; i--)
        p += sprintf(p, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}", i == n - 1 ? "" : ",", i,
                     4 * i, 4 * i + 4);
    sprintf(p, "}");
    const char *path = scratch("many.safetensors");
    write_file(path, header, (size_t)4 * n);
    tg_safetensors *f = tg_safetensors_open(path);
    assert_non_null(f);
    assert_int_equal(tg_safetensors_count(f), n);
    assert_int_equal(tg_safetensors_find(f, "t0"), n - 1);
    tg_safetensors_close(f);
    /* The same with one duplicate far apart. */
    p = strstr(header, "\"t12345\"");
    memcpy(p, "\"t54321\"", 8);
    write_file(path, header, (size_t)4 * n);
    assert_null(tg_safetensors_open(path));
    assert_error_contains("duplicate tensor name 't54321'");
    free(header);
}

/* A header of two-byte values ("0,") would cost cJSON 50 times its size:
 * refused before parsing. */
static void test_too_many_values(void **state)
{
    (void)state;
    const size_t zeros = (1 << 22) + 10;
    char *header = malloc(2 * zeros + 32), *p = header;
    p += sprintf(p, "{\"a\":{\"shape\":[");
    for (size_t i = 0; i < zeros; i++) p += sprintf(p, i ? ",0" : "0");
    sprintf(p, "]}}");
    write_file(scratch("values.safetensors"), header, 0);
    assert_null(tg_safetensors_open(scratch("values.safetensors")));
    assert_error_contains("more than 4194304 JSON values in the header (at byte ");
    free(header);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_headers, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_bad_lengths, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_not_files, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_edge_cases_that_open, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_many_tensors, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_too_many_values, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
