/* Hostile arguments to the core: factories, inspection, views, in-place
 * updates, autograd, scopes, gradcheck, threads, random numbers and kernels. */
#include "hostile.h"
#include <tapegrad/vmath.h>

static void test_factories(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    const int64_t neg[2] = {2, -1}, huge[2] = {INT64_MAX, INT64_MAX}, big[1] = {INT64_MAX / 4};
    const tg_dtype bad = (tg_dtype)7;
    EXPECT_ERR(tg_empty(TG_F32, -1, neg), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 9, huge), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 2, NULL), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 2, neg), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 2, huge), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F64, 1, big), "tg_empty");
    EXPECT_ERR(tg_empty(bad, 1, (int64_t[]){2}), "tg_empty");
    EXPECT_ERR(tg_zeros(TG_F32, 2, neg), "tg_zeros");
    EXPECT_ERR(tg_ones(TG_F32, 2, huge), "tg_ones");
    EXPECT_ERR(tg_full(TG_F32, 2, NULL, 1), "tg_full");
    EXPECT_ERR(tg_full(TG_I64, 1, (int64_t[]){2}, NAN), "tg_full");
    EXPECT_ERR(tg_full(TG_I64, 1, (int64_t[]){2}, 1e300), "tg_full");
    /* float32: a finite value beyond its range is refused, as torch does;
     * infinities and NaN are values */
    EXPECT_ERR(tg_full(TG_F32, 1, (int64_t[]){2}, -1e39), "tg_full: value cannot be converted to type float without overflow: -1e+39");
    EXPECT_ERR(tg_rand(TG_F32, 1, (int64_t[]){2}, 0, 1e39), "tg_rand: value cannot be converted to type float without overflow");
    EXPECT_ERR(tg_linspace(TG_F32, 0, 1e39, 3), "tg_linspace: value cannot be converted to type float without overflow");
    tg_tensor *inf32 = tg_full(TG_F32, 1, (int64_t[]){2}, INFINITY);
    assert_true(inf32 && isinf(tg_get(inf32, (int64_t[]){1})));
    assert_int_equal(tg_fill_(inf32, 3.5e38), -1);
    assert_error_contains("tg_fill_: value cannot be converted to type float without overflow");
    tg_free(inf32);
    EXPECT_ERR(tg_scalar(bad, 1), "tg_scalar");
    EXPECT_ERR(tg_scalar(TG_I64, INFINITY), "tg_scalar");
    EXPECT_ERR(tg_arange(TG_F64, 0, 1, 0), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 0, NAN, 1), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 0, INFINITY, 1), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 1, 0, 1), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 0, 1e300, 1e-300), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, -1e308, 1e308, 1e-10), "tg_arange");
    EXPECT_ERR(tg_arange(TG_I64, 0, 1e300, 1e280), "tg_arange");
    EXPECT_ERR(tg_arange(bad, 0, 1, 1), "tg_arange");
    EXPECT_ERR(tg_linspace(TG_F64, 0, 1, -1), "tg_linspace");
    EXPECT_ERR(tg_linspace(TG_F64, 0, 1, INT64_MAX), "tg_linspace");
    EXPECT_ERR(tg_linspace(bad, 0, 1, 3), "tg_linspace");
    EXPECT_ERR(tg_linspace(TG_I64, 0, NAN, 3), "tg_linspace");
    EXPECT_ERR(tg_eye(TG_F64, -1), "tg_eye");
    EXPECT_ERR(tg_eye(TG_F64, INT64_MAX), "tg_eye");
    EXPECT_ERR(tg_eye(bad, 2), "tg_eye");
    EXPECT_ERR(tg_rand(TG_F64, 2, neg, 0, 1), "tg_rand");
    EXPECT_ERR(tg_rand(TG_F64, 1, (int64_t[]){2}, 1, 0), "tg_rand");
    EXPECT_ERR(tg_rand(TG_F64, 1, (int64_t[]){2}, NAN, 0), "tg_rand");
    EXPECT_ERR(tg_rand(TG_F64, 1, (int64_t[]){2}, -INFINITY, INFINITY), "tg_rand");
    EXPECT_ERR(tg_rand(TG_I64, 1, (int64_t[]){2}, 0, 1e300), "tg_rand");
    EXPECT_ERR(tg_rand(TG_I64, 1, (int64_t[]){2}, 0, 10), "tg_rand: expected a float dtype, got int64");
    EXPECT_ERR(tg_rand(bad, 1, (int64_t[]){2}, 0, 1), "tg_rand");
    EXPECT_ERR(tg_randn(TG_F64, 2, NULL, 0, 1), "tg_randn");
    EXPECT_ERR(tg_randn(TG_F64, 1, (int64_t[]){2}, 0, -1), "tg_randn");
    EXPECT_ERR(tg_randn(TG_F64, 1, (int64_t[]){2}, 0, NAN), "tg_randn");
    EXPECT_ERR(tg_randn(TG_I64, 1, (int64_t[]){2}, 0, 1), "tg_randn");
    EXPECT_ERR(tg_randint(2, neg, 0, 3), "tg_randint");
    EXPECT_ERR(tg_randint(1, (int64_t[]){2}, 3, 3), "tg_randint");
    EXPECT_ERR(tg_randint(9, huge, 0, 3), "tg_randint");
    EXPECT_OK(tg_randint(1, (int64_t[]){4}, INT64_MIN, INT64_MAX));
    EXPECT_ERR(tg_from_array(TG_F64, 1, (int64_t[]){2}, NULL), "tg_from_array");
    EXPECT_ERR(tg_from_array(TG_F64, 2, neg, (double[]){1, 2}), "tg_from_array");
    EXPECT_ERR(tg_from_array(bad, 1, (int64_t[]){1}, (double[]){1}), "tg_from_array");
    EXPECT_NULL_SILENT(tg_zeros_like(NULL));
    EXPECT_NULL_SILENT(tg_ones_like(NULL));
    EXPECT_NULL_SILENT(tg_clone(NULL));
    EXPECT_NULL_SILENT(tg_contiguous(NULL));
    EXPECT_NULL_SILENT(tg_cast(NULL, TG_F32));
    EXPECT_NULL_SILENT(tg_keep(NULL));
    EXPECT_NULL_SILENT(tg_detach(NULL));
    EXPECT_NULL_SILENT(tg_requires_grad(NULL, true));
    zoo z = make_zoo();
    EXPECT_ERR(tg_cast(z.f64, bad), "tg_cast");
    EXPECT_ERR(tg_zeros_like(z.dead), "tg_zeros_like");
    EXPECT_ERR(tg_clone(z.dead), "tg_clone");
    EXPECT_ERR(tg_keep(z.dead), "tg_keep");
    EXPECT_ERR(tg_requires_grad(z.i64, true), "tg_requires_grad");
    EXPECT_OK(tg_clone(z.empty));
    EXPECT_OK(tg_cast(z.i64, TG_F32));
    /* Empty, but its strides would not fit: sizes multiply to less than 2^60, zeros counted as ones. */
    EXPECT_ERR(tg_zeros(TG_F64, 2, (int64_t[]){0, INT64_MAX}), "tg_zeros");
    EXPECT_OK(tg_zeros(TG_F64, 2, (int64_t[]){0, (int64_t)1 << 59}));
    EXPECT_OK(tg_zeros(TG_F64, 3, (int64_t[]){0, ((int64_t)1 << 30) - 1, ((int64_t)1 << 30) + 1}));
    EXPECT_ERR(tg_zeros(TG_F64, 3, (int64_t[]){0, (int64_t)1 << 40, (int64_t)1 << 20}), "tg_zeros");
    assert_non_null(strstr(tg_last_error(), "its sizes multiply to 2^60 or more"));
    tg_scope_end(s);
}

/* --- inspection, views and in-place updates ------------------------------------- */

static void test_inspection(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    char buf[64];
    assert_int_equal(tg_dtype_size((tg_dtype)7), 8);
    assert_string_equal(tg_dtype_name((tg_dtype)-3), "unknown");
    EXPECT_SILENT(tg_numel(NULL), 0);
    EXPECT_SILENT(tg_size(NULL, 0), -1);
    EXPECT_FAIL(tg_size(z.f64, 2), -1, "tg_size");
    EXPECT_SILENT(tg_is_contiguous(NULL), false);
    EXPECT_SILENT(tg_data(NULL), NULL);
    EXPECT_SILENT(tg_same_shape(NULL, z.f64), false);
    EXPECT_SILENT(tg_same_shape(z.f64, NULL), false);
    tg_clear_error();
    assert_true(isnan(tg_item(NULL)));
    assert_string_equal(tg_last_error(), "");
    EXPECT_NAN(tg_item(z.f64), "tg_item");
    EXPECT_NAN(tg_item(z.empty), "tg_item");
    EXPECT_NAN(tg_item(z.dead), "tg_item");
    EXPECT_NAN(tg_get(z.f64, NULL), "tg_get");
    EXPECT_NAN(tg_get(z.f64, (int64_t[]){2, 0}), "tg_get");
    EXPECT_NAN(tg_get(z.f64, (int64_t[]){0, -1}), "tg_get");
    EXPECT_NAN(tg_get(z.f64, (int64_t[]){INT64_MIN, INT64_MAX}), "tg_get");
    assert_true(tg_get(z.dim0, NULL) == 0.5);
    EXPECT_SILENT(tg_copy_to_array(NULL, buf), -1);
    EXPECT_FAIL(tg_copy_to_array(z.f64, NULL), -1, "tg_copy_to_array");
    EXPECT_FAIL(tg_copy_to_array(z.dead, buf), -1, "tg_copy_to_array");
    /* Truncated and missing buffers. */
    assert_string_equal(tg_shape_str(NULL, buf, sizeof buf), "[]");
    assert_string_equal(tg_shape_str(z.f64, buf, 3), "[2");
    assert_null(tg_shape_str(z.f64, NULL, 10));
    assert_non_null(tg_shape_str(z.f64, buf, 0));
    assert_null(tg_repr(z.f64, NULL, 10));
    assert_string_equal(tg_repr(NULL, buf, sizeof buf), "tensor(<invalid>)");
    assert_string_equal(tg_repr(z.dead, buf, sizeof buf), "tensor(<invalid>)");
    assert_string_equal(tg_repr(z.f64, buf, 5), "tens");
    assert_int_equal(tg_repr(z.empty, buf, 1)[0], '\0');
    tg_free(NULL);
    tg_free(z.f64); /* a scope tensor: left to its scope */
    assert_true(tg_numel(z.f64) == 6);
    tg_scope_end(s);
}

static void test_views(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    tg_tensor *out[4] = {NULL};
    const int64_t huge[2] = {INT64_MAX, INT64_MAX};
    /* view / reshape */
    EXPECT_NULL_SILENT(tg_view(NULL, 1, (int64_t[]){6}));
    EXPECT_NULL_SILENT(tg_reshape(NULL, 1, (int64_t[]){6}));
    EXPECT_ERR(tg_view(z.f64, 1, NULL), "tg_view");
    EXPECT_ERR(tg_view(z.f64, -1, (int64_t[]){6}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 6}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 1, (int64_t[]){7}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 2, (int64_t[]){-1, -1}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 2, (int64_t[]){-2, -3}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 2, huge), "tg_view");
    EXPECT_ERR(tg_reshape(z.f64, 3, (int64_t[]){INT64_MAX, 4, -1}), "tg_reshape");
    EXPECT_ERR(tg_view(z.empty, 2, (int64_t[]){0, -1}), "tg_view");
    EXPECT_ERR(tg_view(tg_transpose(z.f64, 0, 1), 1, (int64_t[]){6}), "tg_view");
    EXPECT_ERR(tg_reshape(z.dead, 1, (int64_t[]){3}), "tg_reshape");
    EXPECT_OK(tg_reshape(z.dim0, 3, (int64_t[]){1, 1, 1}));
    EXPECT_OK(tg_view(z.empty, 3, (int64_t[]){3, 0, 5}));
    /* permute / transpose */
    EXPECT_NULL_SILENT(tg_permute(NULL, (int[]){1, 0}));
    EXPECT_ERR(tg_permute(z.f64, NULL), "tg_permute");
    EXPECT_ERR(tg_permute(z.f64, (int[]){0, 0}), "tg_permute");
    EXPECT_ERR(tg_permute(z.f64, (int[]){0, 2}), "tg_permute");
    EXPECT_ERR(tg_permute(z.f64, (int[]){0, INT32_MIN}), "tg_permute");
    EXPECT_OK(tg_permute(z.dim0, NULL));
    EXPECT_OK(tg_transpose(z.dim0, 0, -1));
    EXPECT_ERR(tg_transpose(z.dim0, 1, 0), "tg_transpose");
    /* narrow / select */
    EXPECT_ERR(tg_narrow(z.f64, 1, 0, 4), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, 2, 2), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, -4, 1), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, 0, -1), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, INT64_MAX, INT64_MAX), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, INT64_MIN, 1), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, 1, INT64_MAX), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.dim0, 0, 0, 1), "tg_narrow");
    EXPECT_OK(tg_narrow(z.f64, 1, 3, 0));
    EXPECT_ERR(tg_select(z.f64, 0, 2), "tg_select");
    EXPECT_ERR(tg_select(z.f64, 0, -3), "tg_select");
    EXPECT_ERR(tg_select(z.f64, 0, INT64_MIN), "tg_select");
    EXPECT_ERR(tg_select(z.f64, 0, INT64_MAX), "tg_select");
    EXPECT_ERR(tg_select(z.dim0, 0, 0), "tg_select");
    EXPECT_ERR(tg_select(z.empty, 0, 0), "tg_select");
    /* expand */
    EXPECT_NULL_SILENT(tg_expand(NULL, 2, (int64_t[]){2, 3}));
    EXPECT_ERR(tg_expand(z.f64, 2, NULL), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, 1, (int64_t[]){3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, -1, (int64_t[]){3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 2, 3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, 2, (int64_t[]){4, 3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.dim0, 1, (int64_t[]){-1}), "tg_expand");
    EXPECT_ERR(tg_expand(z.dim0, 1, (int64_t[]){-5}), "tg_expand");
    EXPECT_ERR(tg_expand(z.dim0, 2, huge), "tg_expand");
    EXPECT_OK(tg_expand(z.dim0, 2, (int64_t[]){0, 4}));
    /* squeeze / unsqueeze / flatten */
    EXPECT_NULL_SILENT(tg_squeeze_all(NULL));
    EXPECT_ERR(tg_squeeze_all(z.dead), "tg_squeeze_all");
    EXPECT_OK(tg_squeeze(z.dim0, 0));
    EXPECT_OK(tg_squeeze(z.dim0, -1));
    EXPECT_ERR(tg_squeeze(z.dim0, 1), "tg_squeeze");
    tg_tensor *eight = tg_zeros(TG_F32, 8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1});
    EXPECT_ERR(tg_unsqueeze(eight, 0), "tg_unsqueeze");
    EXPECT_ERR(tg_unsqueeze(z.f64, 3), "tg_unsqueeze");
    EXPECT_ERR(tg_unsqueeze(z.f64, -4), "tg_unsqueeze");
    EXPECT_OK(tg_unsqueeze(z.dim0, -1));
    EXPECT_ERR(tg_flatten(z.f64, 1, 0), "tg_flatten");
    EXPECT_ERR(tg_flatten(z.dim0, 5, 9), "tg_flatten");
    EXPECT_OK(tg_flatten(z.dim0, 0, -1));
    /* split / chunk */
    EXPECT_SILENT(tg_split(NULL, 1, 0, 4, out), -1);
    EXPECT_FAIL(tg_split(z.f64, 1, 0, 4, NULL), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, 0, 0, 4, out), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, -1, 0, 4, out), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, 1, 1, 2, out), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, 1, 1, -1, out), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.dim0, 1, 0, 4, out), -1, "tg_split");
    assert_int_equal(tg_split(z.f64, INT64_MAX, 1, 4, out), 1);
    assert_int_equal(tg_split(z.empty, 2, 0, 4, out), 1);
    EXPECT_SILENT(tg_chunk(NULL, 2, 0, 4, out), -1);
    EXPECT_FAIL(tg_chunk(z.f64, 0, 0, 4, out), -1, "tg_chunk");
    EXPECT_FAIL(tg_chunk(z.f64, -2, 0, 4, out), -1, "tg_chunk");
    EXPECT_FAIL(tg_chunk(z.f64, 2, 0, 4, NULL), -1, "tg_chunk");
    EXPECT_FAIL(tg_chunk(z.dim0, 2, 0, 4, out), -1, "tg_chunk");
    assert_int_equal(tg_chunk(z.f64, 4, 1, 4, out), 3);
    tg_scope_end(s);
}

static void test_inplace(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    EXPECT_SILENT(tg_copy_(NULL, z.f64), -1);
    EXPECT_SILENT(tg_copy_(z.f64, NULL), -1);
    EXPECT_FAIL(tg_copy_(z.f64, z.other), -1, "tg_copy_");
    EXPECT_FAIL(tg_copy_(z.dim0, z.f64), -1, "tg_copy_");
    EXPECT_FAIL(tg_copy_(z.dead, z.f64), -1, "tg_copy_");
    EXPECT_FAIL(tg_copy_(z.f64, z.dead), -1, "tg_copy_");
    assert_int_equal(tg_copy_(z.f64, z.dim0), 0);
    assert_int_equal(tg_copy_(z.i64, z.f32), 0);
    EXPECT_SILENT(tg_fill_(NULL, 1), -1);
    EXPECT_FAIL(tg_fill_(z.i64, NAN), -1, "tg_fill_");
    EXPECT_FAIL(tg_fill_(z.i64, -1e19), -1, "tg_fill_");
    assert_int_equal(tg_fill_(z.empty, 1), 0);
    EXPECT_SILENT(tg_add_(NULL, z.f64, 1), -1);
    EXPECT_SILENT(tg_add_(z.f64, NULL, 1), -1);
    EXPECT_FAIL(tg_add_(z.f64, z.other, 1), -1, "tg_add_");
    EXPECT_FAIL(tg_add_(z.dim0, z.f64, 1), -1, "tg_add_");
    EXPECT_SILENT(tg_mul_scalar_(NULL, 1), -1);
    EXPECT_FAIL(tg_mul_scalar_(z.dead, 1), -1, "tg_mul_scalar_");
    tg_tensor *leaf = leaf_f64(1, (int64_t[]){3}, 0, 1);
    EXPECT_FAIL(tg_fill_(leaf, 1), -1, "tg_fill_");
    EXPECT_FAIL(tg_add_(leaf, leaf, 1), -1, "tg_add_");
    EXPECT_FAIL(tg_mul_scalar_(leaf, 2), -1, "tg_mul_scalar_");
    EXPECT_FAIL(tg_copy_(leaf, z.dim0), -1, "tg_copy_");
    assert_error_contains("a leaf Variable that requires grad");
    /* a view of it is no leaf: the message says what it is */
    EXPECT_FAIL(tg_fill_(tg_narrow(leaf, 0, 0, 2), 1), -1, "tg_fill_");
    assert_error_contains("a tensor that requires grad (made by 'narrow') is being used in an in-place operation");
    tg_free(leaf);
    tg_scope_end(s);
}

/* A written-to tensor that is expanded, or that shares part of its memory
 * with the source, is refused as PyTorch refuses it: the result would
 * depend on the loop order. Whole overlap (x into x) and fill_ of an
 * expanded tensor are fine, as there. */
static void test_inplace_overlap(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *col = tg_zeros(TG_F64, 2, (int64_t[]){3, 1});
    tg_tensor *wide = tg_expand(col, 2, (int64_t[]){3, 4});
    tg_tensor *ones = tg_ones(TG_F64, 2, (int64_t[]){3, 4});
    EXPECT_FAIL(tg_copy_(wide, ones), -1, "tg_copy_");
    assert_error_contains("more than one element of the written-to tensor");
    EXPECT_FAIL(tg_add_(wide, ones, 1), -1, "tg_add_");
    EXPECT_FAIL(tg_mul_scalar_(wide, 2), -1, "tg_mul_scalar_");
    assert_int_equal(tg_fill_(wide, 5), 0);
    for (int64_t i = 0; i < 3; i++) assert_true(tg_get(col, (int64_t[]){i, 0}) == 5.0);

    tg_tensor *x = tg_arange(TG_F64, 0, 5, 1);
    EXPECT_FAIL(tg_copy_(tg_narrow(x, 0, 1, 4), tg_narrow(x, 0, 0, 4)), -1, "tg_copy_");
    assert_error_contains("some elements of the input tensor");
    EXPECT_FAIL(tg_add_(tg_narrow(x, 0, 0, 4), tg_narrow(x, 0, 1, 4), 1), -1, "tg_add_");
    tg_tensor *square = tg_view(tg_arange(TG_F64, 0, 9, 1), 2, (int64_t[]){3, 3});
    EXPECT_FAIL(tg_copy_(square, tg_transpose(square, 0, 1)), -1, "tg_copy_");
    for (int64_t k = 0; k < 5; k++) assert_true(tg_get(x, &k) == (double)k);
    assert_true(tg_get(square, (int64_t[]){0, 1}) == 1.0 && tg_get(square, (int64_t[]){1, 0}) == 3.0);

    assert_int_equal(tg_add_(x, x, 1), 0);
    assert_int_equal(tg_copy_(x, tg_view(x, 1, (int64_t[]){5})), 0);
    /* disjoint parts of one storage */
    assert_int_equal(tg_copy_(tg_narrow(x, 0, 0, 2), tg_narrow(x, 0, 3, 2)), 0);
    const double want[5] = {6, 8, 4, 6, 8};
    for (int64_t k = 0; k < 5; k++) assert_true(tg_get(x, &k) == want[k]);
    tg_scope_end(s);
}

/* --- autograd, scopes, gradcheck, threads, random, GEMM, vector math ----------- */

static void noop_backward(tg_node *n, tg_tensor *g)
{
    (void)n;
    (void)g;
}

static tg_tensor *identity_fn(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return in[0];
}

static tg_tensor *square_fn(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_mul(in[0], in[0]);
}

static tg_tensor *failing_fn(int n, tg_tensor **in, void *ctx)
{
    (void)in;
    (void)n;
    (void)ctx;
    return NULL;
}

static void test_autograd(void **state)
{
    (void)state;
    tg_tensor *leaf = leaf_f64(1, (int64_t[]){3}, 0, 1);
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    EXPECT_SILENT(tg_backward(NULL, NULL), -1);
    EXPECT_SILENT(tg_backward_retain(NULL, NULL), -1);
    EXPECT_FAIL(tg_backward(z.f64, NULL), -1, "tg_backward");
    tg_tensor *y = tg_mul(leaf, leaf);
    EXPECT_FAIL(tg_backward(y, NULL), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(y, z.f64), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(y, tg_zeros(TG_I64, 1, (int64_t[]){3})), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(y, z.dead), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(z.dead, NULL), -1, "tg_backward");
    assert_int_equal(tg_backward(tg_sum(y, 0, NULL, false), NULL), 0);
    EXPECT_FAIL(tg_backward(tg_sum(y, 0, NULL, false), NULL), -1, "tg_backward");
    /* tg_record and the helpers for backward functions */
    tg_clear_error();
    assert_null(tg_record("op", noop_backward, NULL, 1, &leaf));
    assert_null(tg_record("op", noop_backward, z.f64, -1, &leaf));
    assert_null(tg_record("op", noop_backward, z.f64, 0, NULL));
    EXPECT_ERR(tg_record("op", noop_backward, z.f64, 2, NULL), "tg_record");
    EXPECT_ERR(tg_record("op", NULL, z.f64, 1, &leaf), "tg_record");
    EXPECT_ERR(tg_record(NULL, noop_backward, z.f64, 1, &leaf), "tg_record");
    assert_false(tg_needs_grad(NULL));
    tg_accum_grad(NULL, z.f64);
    tg_accum_grad(leaf, NULL);
    assert_null(tg_grad_slot(NULL));
    assert_null(tg_grad_slot(z.f64));
    tg_zero_grad(3, NULL);
    tg_zero_grad(-1, &leaf);
    tg_zero_grad(2, (tg_tensor *[]){NULL, leaf});
    EXPECT_SILENT(tg_graph_dot(NULL, stdout), -1);
    EXPECT_FAIL(tg_graph_dot(z.f64, NULL), -1, "tg_graph_dot");
    EXPECT_FAIL(tg_graph_dot(z.dead, stdout), -1, "tg_graph_dot");
    EXPECT_ERR(tg_detach(z.dead), "tg_detach");
    /* scopes */
    EXPECT_FAIL(tg_scope_end(NULL), -1, "tg_scope_end");
    tg_scope *inner = tg_scope_begin();
    assert_int_equal(tg_scope_end(inner), 0);
    EXPECT_FAIL(tg_scope_end(inner), -1, "tg_scope_end");
    /* gradcheck */
    tg_tensor *in[17];
    for (int i = 0; i < 17; i++) in[i] = leaf;
    EXPECT_FAIL(tg_gradcheck(NULL, 1, in, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, 1, NULL, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, 0, in, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, -1, in, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, 17, in, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, 1, (tg_tensor *[]){z.i64}, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, 1, (tg_tensor *[]){y}, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, 1, in, NULL, 0, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, 1, in, NULL, NAN, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_SILENT(tg_gradcheck(identity_fn, 1, (tg_tensor *[]){NULL}, NULL, 1e-6, 1e-5, 1e-3, NULL), -1);
    tg_gradcheck_result r;
    EXPECT_FAIL(tg_gradcheck(failing_fn, 1, in, NULL, 1e-6, 1e-5, 1e-3, &r), -1, "tg_gradcheck");
    assert_int_equal(tg_gradcheck(identity_fn, 1, in, NULL, 1e-6, 1e-5, 1e-3, &r), 0);
    /* An expanded leaf cannot be perturbed one element at a time: refused,
     * not reported as a wrong gradient of a right op. */
    tg_tensor *column = tg_full(TG_F64, 2, (int64_t[]){3, 1}, 0.5);
    tg_tensor *wide = tg_requires_grad(tg_detach(tg_expand(column, 2, (int64_t[]){3, 4})), true);
    EXPECT_FAIL(tg_gradcheck(square_fn, 1, &wide, NULL, 1e-6, 1e-5, 1e-3, &r), -1, "tg_gradcheck");
    assert_error_contains("input 0 (shape [3,4]) has stride 0 in dim 1");
    tg_tensor *copy = tg_requires_grad(tg_keep(wide), true);
    assert_int_equal(tg_gradcheck(square_fn, 1, &copy, NULL, 1e-6, 1e-5, 1e-3, &r), 0);
    tg_free(copy);
    tg_scope_end(s);
    tg_free(leaf);
    /* threads and random */
    int threads = tg_get_num_threads();
    EXPECT_FAIL(tg_set_num_threads(0), -1, "tg_set_num_threads");
    EXPECT_FAIL(tg_set_num_threads(-5), -1, "tg_set_num_threads");
    assert_int_equal(tg_get_num_threads(), threads);
    EXPECT_FAIL(tg_rand_below(0), 0, "tg_rand_below");
    assert_true(tg_rand_below(1) == 0);
    /* error handler */
    assert_null(tg_set_error_handler(NULL, NULL));
}

static void test_kernels(void **state)
{
    (void)state;
    float a32[4] = {1, 2, 3, 4}, c32[4] = {0};
    double a64[4] = {1, 2, 3, 4}, c64[4] = {0};
    EXPECT_FAIL(tg_gemm_f32(-1, 2, 2, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, -1, 2, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, -1, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, 2, 1, NULL, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, 2, 1, a32, 2, 1, NULL, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, 2, 1, a32, 2, 1, a32, 2, 1, 0, NULL, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(INT64_MIN, 2, 2, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    assert_int_equal(tg_gemm_f32(0, 0, 0, 1, NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, 0), 0);
    assert_int_equal(tg_gemm_f32(2, 2, 0, 1, NULL, 0, 0, NULL, 0, 0, 0, c32, 2, 1), 0);
    EXPECT_FAIL(tg_gemm_f64(-1, 2, 2, 1, a64, 2, 1, a64, 2, 1, 0, c64, 2, 1), -1, "tg_gemm_f64");
    EXPECT_FAIL(tg_gemm_f64(2, 2, 2, 1, NULL, 2, 1, a64, 2, 1, 0, c64, 2, 1), -1, "tg_gemm_f64");
    EXPECT_FAIL(tg_gemm_f64(2, 2, 2, 1, a64, 2, 1, a64, 2, 1, 1, NULL, 2, 1), -1, "tg_gemm_f64");
    assert_int_equal(tg_gemm_f64(2, 2, 2, 1, a64, 2, 1, a64, 2, 1, 0, c64, 2, 1), 0);
    assert_true(c64[0] == 7 && c64[3] == 22);
    const char *level = tg_simd_level();
    EXPECT_FAIL(tg_simd_force("sse9"), -1, "tg_simd_force");
    EXPECT_FAIL(tg_simd_force(""), -1, "tg_simd_force");
    assert_string_equal(tg_simd_level(), level);
    /* Vector math: n <= 0 touches nothing (not even NULL pointers). */
    tg_vexp_f32(0, NULL, NULL);
    tg_vtanh_f32(-5, NULL, NULL);
    tg_vsigmoid_f32(-1, a32, c32);
    tg_vexp_f64(0, NULL, NULL);
    tg_vtanh_f64(-5, NULL, NULL);
    tg_vsigmoid_f64(INT64_MIN, NULL, NULL);
    tg_vexp_f32(4, a32, a32);
    assert_true(a32[0] > 2.7f && a32[0] < 2.72f);
}

/* --- linear algebra, shape and index ops, nn functions --------------------------- */


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_factories),
        cmocka_unit_test(test_inspection),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_inplace),
        cmocka_unit_test(test_inplace_overlap),
        cmocka_unit_test(test_autograd),
        cmocka_unit_test(test_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
