/* Shape and indexing ops: golden values and gradients from PyTorch in F32
 * and F64 (contiguous and strided inputs), gradchecks on contiguous,
 * transposed, sliced and broadcast inputs, and bad inputs. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- golden cases ------------------------------------------------------------ */

static tg_tensor *op_cat(tg_tensor **in) { return tg_cat(3, in, 1); }
static tg_tensor *op_stack(tg_tensor **in) { return tg_stack(3, in, 1); }
static tg_tensor *op_flip(tg_tensor **in) { return tg_flip(in[0], 2, (int[]){0, 2}); }
static tg_tensor *op_flip_last(tg_tensor **in) { return tg_flip(in[0], 1, (int[]){-1}); }
static tg_tensor *op_repeat(tg_tensor **in) { return tg_repeat(in[0], 3, (int64_t[]){2, 1, 3}); }
static tg_tensor *op_repeat_same(tg_tensor **in) { return tg_repeat(in[0], 2, (int64_t[]){3, 2}); }
static tg_tensor *op_pad(tg_tensor **in) { return tg_pad(in[0], 4, (int64_t[]){1, 2, -1, 1}, 0.5); }
static tg_tensor *op_pad_3d(tg_tensor **in) { return tg_pad(in[0], 6, (int64_t[]){0, 0, 2, 0, 1, 1}, 0); }
static tg_tensor *op_pad_crop(tg_tensor **in) { return tg_pad(in[0], 2, (int64_t[]){-1, -2}, 0); }
static tg_tensor *op_index_select0(tg_tensor **in) { return tg_index_select(in[0], 0, in[1]); }
static tg_tensor *op_index_select1(tg_tensor **in) { return tg_index_select(in[0], 1, in[1]); }
static tg_tensor *op_gather1(tg_tensor **in) { return tg_gather(in[0], 1, in[1]); }
static tg_tensor *op_gather0(tg_tensor **in) { return tg_gather(in[0], 0, in[1]); }
static tg_tensor *op_scatter_add1(tg_tensor **in) { return tg_scatter_add(in[0], 1, in[1], in[2]); }
static tg_tensor *op_scatter_add0(tg_tensor **in) { return tg_scatter_add(in[0], 0, in[1], in[2]); }
static tg_tensor *op_embedding(tg_tensor **in) { return tg_embedding(in[0], in[1], -1); }
static tg_tensor *op_embedding_pad(tg_tensor **in) { return tg_embedding(in[0], in[1], 2); }

static void test_golden(void **state)
{
    (void)state;
    static const golden_case cases[] = {
        {"cat", 3, 0, 7, op_cat},
        {"stack", 3, 0, 7, op_stack},
        {"flip", 1, 0, 1, op_flip},
        {"flip_last", 1, 0, 1, op_flip_last},
        {"repeat", 1, 0, 1, op_repeat},
        {"repeat_same", 1, 0, 1, op_repeat_same},
        {"pad", 1, 0, 1, op_pad},
        {"pad_3d", 1, 0, 1, op_pad_3d},
        {"pad_crop", 1, 0, 1, op_pad_crop},
        {"index_select0", 2, 2, 1, op_index_select0},
        {"index_select1", 2, 2, 1, op_index_select1},
        {"gather1", 2, 2, 1, op_gather1},
        {"gather0", 2, 2, 1, op_gather0},
        {"scatter_add1", 3, 2, 5, op_scatter_add1},
        {"scatter_add0", 3, 2, 5, op_scatter_add0},
        {"embedding", 2, 2, 1, op_embedding},
        {"embedding_pad", 2, 2, 1, op_embedding_pad},
        {"embedding_1d", 2, 2, 1, op_embedding},
    };
    run_golden_cases("shape.txt", cases, sizeof cases / sizeof cases[0]);
}

/* --- gradchecks -----------------------------------------------------------------
 * Each op runs on a view of its leaf in four layouts. */

typedef struct {
    layout_input x;
    tg_tensor *index;
    int dim;
} check_ctx;

static tg_tensor *gc_flip(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_flip(layout_view(in[0], &c->x), 2, (int[]){0, -1});
}
static tg_tensor *gc_repeat(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_repeat(layout_view(in[0], &c->x), 3, (int64_t[]){2, 1, 2});
}
static tg_tensor *gc_pad(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_pad(layout_view(in[0], &c->x), 4, (int64_t[]){2, -1, 1, 1}, -3);
}
static tg_tensor *gc_index_select(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_index_select(layout_view(in[0], &c->x), c->dim, c->index);
}
static tg_tensor *gc_gather(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_gather(layout_view(in[0], &c->x), c->dim, c->index);
}
static tg_tensor *gc_scatter_add(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    /* src (4, 4) is larger than index (3, 2): only the indexed part gets a gradient. */
    return tg_scatter_add(layout_view(in[0], &c->x), c->dim, c->index, in[1]);
}
static tg_tensor *gc_embedding(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_embedding(layout_view(in[0], &c->x), c->index, c->dim);
}
static tg_tensor *gc_cat(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_cat(2, (tg_tensor *[]){layout_view(in[0], &c->x), in[1]}, 0);
}
static tg_tensor *gc_stack(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_stack(2, (tg_tensor *[]){layout_view(in[0], &c->x), in[1]}, -1);
}

/* Gradcheck fn in every layout of input 0 (shape (3, 4)); extra is an
 * optional second leaf of shape extra_shape. */
static void check_layouts(tg_gradcheck_fn fn, check_ctx *c, const int64_t *extra_shape, const char *what)
{
    c->x.ndim = 2;
    c->x.shape[0] = 3;
    c->x.shape[1] = 4;
    leaf_spec extra = {2, {0}, -1, 1};
    if (extra_shape) memcpy(extra.shape, extra_shape, sizeof(int64_t) * 2);
    assert_gradcheck_layouts(fn, c, &c->x, -1, 1, extra_shape ? 1 : 0, &extra, what);
}

static void test_gradcheck(void **state)
{
    (void)state;
    check_ctx c = {0};
    check_layouts(gc_flip, &c, NULL, "flip");
    check_layouts(gc_repeat, &c, NULL, "repeat");
    check_layouts(gc_pad, &c, NULL, "pad");
    check_layouts(gc_cat, &c, (int64_t[]){2, 4}, "cat");
    check_layouts(gc_stack, &c, (int64_t[]){3, 4}, "stack");
    tg_tensor *index = tg_from_array(TG_I64, 1, (int64_t[]){5}, (int64_t[]){3, 0, 3, 1, 3});
    c.index = index;
    c.dim = 1;
    check_layouts(gc_index_select, &c, NULL, "index_select");
    tg_free(index);
    index = tg_from_array(TG_I64, 2, (int64_t[]){3, 2}, (int64_t[]){0, 3, 1, 1, 2, 0});
    c.index = index;
    check_layouts(gc_gather, &c, NULL, "gather");
    check_layouts(gc_scatter_add, &c, (int64_t[]){4, 4}, "scatter_add");
    tg_free(index);
    index = tg_from_array(TG_I64, 2, (int64_t[]){2, 4}, (int64_t[]){2, 0, 1, 2, 2, 2, 0, 1});
    c.index = index;
    c.dim = 0;
    check_layouts(gc_gather, &c, NULL, "gather dim 0");
    check_layouts(gc_scatter_add, &c, (int64_t[]){2, 5}, "scatter_add dim 0");
    tg_free(index);
    /* Embedding of a (3, 4) weight with repeated indices; a padding row
     * has a zero gradient on purpose, which a numeric check cannot see. */
    index = tg_from_array(TG_I64, 2, (int64_t[]){2, 3}, (int64_t[]){2, 0, 1, 2, 2, 1});
    c.index = index;
    c.dim = -1;
    check_layouts(gc_embedding, &c, NULL, "embedding");
    tg_free(index);
}

/* --- behaviour ---------------------------------------------------------------------- */

static void test_values(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_arange(TG_F64, 0, 6, 1);
    tg_tensor *y = tg_flip(tg_view(x, 2, (int64_t[]){2, 3}), 1, (int[]){1});
    assert_true(tg_get(y, (int64_t[]){0, 0}) == 2 && tg_get(y, (int64_t[]){1, 2}) == 3);
    /* Data movers also take I64. */
    tg_tensor *ix = tg_cast(tg_arange(TG_F64, 0, 3, 1), TG_I64);
    tg_tensor *r = tg_repeat(ix, 2, (int64_t[]){2, 2});
    assert_int_equal(r->dtype, TG_I64);
    assert_int_equal(r->shape[0], 2);
    assert_int_equal(r->shape[1], 6);
    assert_true(tg_get(r, (int64_t[]){1, 4}) == 1);
    assert_true(tg_get(tg_flip(ix, 1, (int[]){0}), (int64_t[]){0}) == 2);
    /* Zero repeats and crops to nothing give empty tensors. */
    assert_int_equal(tg_numel(tg_repeat(x, 1, (int64_t[]){0})), 0);
    tg_tensor *p = tg_pad(tg_view(x, 2, (int64_t[]){2, 3}), 2, (int64_t[]){-3, 0}, 0);
    assert_int_equal(p->shape[1], 0);
    p = tg_pad(x, 2, (int64_t[]){-2, 4}, 7); /* crop two, pad four */
    assert_int_equal(p->shape[0], 8);
    assert_true(tg_get(p, (int64_t[]){0}) == 2 && tg_get(p, (int64_t[]){3}) == 5 && tg_get(p, (int64_t[]){4}) == 7);
    /* 0-dim gather: the only index is 0. */
    tg_tensor *g = tg_gather(tg_scalar(TG_F64, 4.5), 0, tg_cast(tg_scalar(TG_F64, 0), TG_I64));
    assert_int_equal(g->ndim, 0);
    assert_true(tg_item(g) == 4.5);
    /* An empty index: no shape is checked, as in torch; gather gives the
     * index's shape, scatter_add x as it is. */
    tg_tensor *x3 = tg_requires_grad(tg_ones(TG_F64, 3, (int64_t[]){4, 2, 3}), true);
    tg_tensor *none = tg_zeros(TG_I64, 3, (int64_t[]){5, 3, 0});
    char buf[64];
    g = tg_gather(x3, 0, none);
    assert_non_null(g);
    assert_string_equal(tg_shape_str(g, buf, sizeof buf), "[5,3,0]");
    tg_tensor *sa = tg_scatter_add(x3, 0, none, tg_ones(TG_F64, 1, (int64_t[]){9}));
    assert_non_null(sa);
    assert_true(tg_item(tg_sum(sa, 0, NULL, false)) == 24.0);
    assert_int_equal(tg_backward(tg_add(tg_sum(g, 0, NULL, false), tg_sum(sa, 0, NULL, false)), NULL), 0);
    assert_true(tg_item(tg_sum(x3->grad, 0, NULL, false)) == 24.0);
    tg_scope_end(s);
}

static void test_embedding_padding_and_duplicates(void **state)
{
    (void)state;
    tg_tensor *w = leaf_f64(2, (int64_t[]){4, 3}, -1, 1);
    tg_scope *s = tg_scope_begin();
    tg_tensor *idx = tg_from_array(TG_I64, 1, (int64_t[]){5}, (int64_t[]){1, 3, 1, 1, 0});
    tg_tensor *y = tg_embedding(w, idx, 3);
    assert_true(tg_get(y, (int64_t[]){1, 2}) == tg_get(w, (int64_t[]){3, 2})); /* padding row still read */
    assert_int_equal(tg_backward(tg_sum(y, 0, NULL, false), NULL), 0);
    assert_true(tg_get(w->grad, (int64_t[]){1, 0}) == 3); /* three lookups of row 1 */
    assert_true(tg_get(w->grad, (int64_t[]){0, 1}) == 1);
    assert_true(tg_get(w->grad, (int64_t[]){2, 2}) == 0);
    assert_true(tg_get(w->grad, (int64_t[]){3, 0}) == 0); /* padding row: no gradient */
    tg_scope_end(s);
    tg_free(w);
}

/* The embedding's backward reads the indices alone: the table and the
 * result changed in place after the forward leave the gradient as it was
 * (the backward refused to run). */
static void test_embedding_backward_reads_the_indices_alone(void **state)
{
    (void)state;
    tg_tensor *w = leaf_f64(2, (int64_t[]){4, 3}, -1, 1);
    tg_scope *s = tg_scope_begin();
    tg_tensor *idx = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){1, 3, 1});
    tg_tensor *gout = tg_from_array(TG_F64, 2, (int64_t[]){3, 3}, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    tg_tensor *y = tg_embedding(w, idx, -1);
    bool was = tg_set_grad_enabled(false);
    assert_int_equal(tg_mul_scalar_(w, 2.0), 0);
    assert_int_equal(tg_mul_scalar_(y, 3.0), 0);
    tg_set_grad_enabled(was);
    assert_int_equal(tg_backward(y, gout), 0);
    assert_true(tg_get(w->grad, (int64_t[]){1, 2}) == 3 + 9); /* rows 0 and 2 of gout */
    assert_true(tg_get(w->grad, (int64_t[]){3, 0}) == 4);
    assert_true(tg_get(w->grad, (int64_t[]){0, 1}) == 0);
    tg_scope_end(s);
    tg_free(w);
}

/* Outside any scope and without a graph, the index ops return persistent
 * results and keep nothing else, even for strided index tensors (the leak
 * checker of the sanitizer build sees the rest). */
static void test_outside_scope(void **state)
{
    (void)state;
    tg_tensor *x = tg_randn(TG_F64, 2, (int64_t[]){3, 4}, 0, 1);
    tg_tensor *index = tg_from_array(TG_I64, 2, (int64_t[]){2, 3}, (int64_t[]){0, 2, 1, 1, 0, 2});
    tg_tensor *index_t = tg_transpose(index, 0, 1); /* (3, 2), strided */
    tg_tensor *column = tg_select(index, 0, 1);    /* {1, 0, 2}, strided */
    tg_tensor *results[] = {tg_gather(x, 1, index_t), tg_index_select(x, 0, column),
                            tg_scatter_add(x, 1, index_t, x), tg_embedding(x, index_t, -1),
                            tg_pad(x, 2, (int64_t[]){1, 1}, 0), tg_flip(x, 1, (int[]){0}),
                            tg_repeat(x, 2, (int64_t[]){2, 1})};
    assert_true(tg_get(results[0], (int64_t[]){2, 1}) == tg_get(x, (int64_t[]){2, 2}));
    assert_true(tg_get(results[1], (int64_t[]){0, 3}) == tg_get(x, (int64_t[]){1, 3}));
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
        assert_non_null(results[i]);
        tg_free(results[i]);
    }
    tg_free(column);
    tg_free(index_t);
    tg_free(index);
    tg_free(x);
}

/* torch.index_select of a 0-dim tensor: dim 0 or -1 and an index of one
 * entry (0) give a 0-dim result, differentiable; inside and outside scopes. */
static void test_index_select_of_a_scalar(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_scalar(TG_F64, 2.5), true);
    tg_tensor *zero = tg_zeros(TG_I64, 1, (int64_t[]){1}), *zero0 = tg_zeros(TG_I64, 0, NULL);
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = tg_index_select(x, -1, zero0);
    assert_non_null(y);
    assert_int_equal(y->ndim, 0);
    assert_true(tg_item(y) == 2.5);
    assert_int_equal(tg_backward(tg_mul_scalar(y, 3), NULL), 0);
    assert_true(tg_item(x->grad) == 3.0);
    assert_null(tg_index_select(x, 0, tg_ones(TG_I64, 1, (int64_t[]){1})));
    assert_error_contains("tg_index_select: index 1 is out of bounds for dimension 0 with size 1");
    assert_null(tg_index_select(x, 0, tg_zeros(TG_I64, 1, (int64_t[]){2})));
    assert_error_contains("tg_index_select: index_select(): Index to scalar can have only 1 value, got index of shape [2]");
    assert_null(tg_index_select(x, 1, zero));
    assert_error_contains("tg_index_select: Dimension out of range (expected to be in range of [-1, 0], but got 1)");
    tg_scope_end(s);
    tg_tensor *kept = tg_index_select(x, 0, zero); /* outside any scope: persistent, nothing else left */
    assert_non_null(kept);
    assert_int_equal(kept->ndim, 0);
    assert_int_equal(tg_backward(kept, NULL), 0);
    assert_true(tg_item(x->grad) == 4.0);
    tg_free(kept);
    tg_free(zero);
    tg_free(zero0);
    tg_free(x);
    tg_release_thread_memory();
}

/* torch.cat leaves out 1-D tensors of size 0 whatever the others' shapes
 * (older PyTorch's "no tensor"): dim is checked against the others, and
 * they receive no gradient. */
static void test_cat_skips_legacy_empty(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *empty = tg_requires_grad(tg_zeros(TG_F64, 1, (int64_t[]){0}), true);
    tg_tensor *a = tg_requires_grad(tg_arange(TG_F64, 0, 6, 1), true);
    tg_tensor *a23 = tg_reshape(a, 2, (int64_t[]){2, 3});
    tg_tensor *b = tg_full(TG_F64, 2, (int64_t[]){2, 1}, 7);
    tg_tensor *y = tg_cat(4, (tg_tensor *[]){empty, a23, empty, b}, -1);
    assert_non_null(y);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 4);
    const double want[8] = {0, 1, 2, 7, 3, 4, 5, 7};
    for (int i = 0; i < 8; i++) assert_true(tg_get(y, (int64_t[]){i / 4, i % 4}) == want[i]);
    assert_int_equal(tg_backward(tg_sum(tg_mul(y, y), 0, NULL, false), NULL), 0);
    for (int i = 0; i < 6; i++) assert_true(tg_get(a->grad, (int64_t[]){i}) == 2.0 * i);
    assert_non_null(empty->grad); /* empty, as torch's */
    assert_int_equal(empty->grad->ndim, 1);
    assert_int_equal(tg_numel(empty->grad), 0);
    /* dim counts the dims of the others; only legacy empty ones give (0) */
    assert_null(tg_cat(2, (tg_tensor *[]){empty, a23}, 2));
    assert_error_contains("tg_cat: Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    tg_tensor *none = tg_cat(2, (tg_tensor *[]){empty, empty}, 3);
    assert_non_null(none);
    assert_int_equal(none->ndim, 1);
    assert_int_equal(none->shape[0], 0);
    /* a (1, 0) tensor is empty but not left out; nor is a 0-dim one */
    assert_null(tg_cat(2, (tg_tensor *[]){tg_zeros(TG_F64, 2, (int64_t[]){1, 0}), a23}, 0));
    assert_error_contains("tg_cat: Sizes of tensors must match except in dimension 0 (tensor 0 is [1,0], tensor 1 is [2,3])");
    assert_null(tg_cat(2, (tg_tensor *[]){empty, tg_scalar(TG_F64, 1)}, 0));
    assert_error_contains("tg_cat: zero-dimensional tensor (at position 1) cannot be concatenated");
    tg_scope_end(s);
}

/* A NULL shape, dims or amounts array is named as such; the messages said
 * "invalid ndim 2" or "must be divisible by 2 (got 2)". */
static void test_null_arrays_named(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F64, 2, (int64_t[]){2, 3});
    assert_null(tg_view(x, 2, NULL));
    assert_error_contains("tg_view: shape is NULL for ndim 2");
    assert_null(tg_reshape(x, 1, NULL));
    assert_error_contains("tg_reshape: shape is NULL for ndim 1");
    assert_null(tg_expand(x, 2, NULL));
    assert_error_contains("tg_expand: shape is NULL for ndim 2");
    assert_null(tg_flip(x, 1, NULL));
    assert_error_contains("tg_flip: dims is NULL for ndims 1");
    assert_null(tg_repeat(x, 2, NULL));
    assert_error_contains("tg_repeat: repeats is NULL for ndim 2");
    assert_null(tg_pad(x, 2, NULL, 0));
    assert_error_contains("tg_pad: pad is NULL for npad 2");
    assert_null(tg_layernorm_layer_new(1, NULL, 1e-5, true, TG_F64));
    assert_error_contains("tg_layernorm_layer_new: normalized_shape is NULL for 1 dims");
    tg_scope_end(s);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F32, 2, (int64_t[]){3, 4});
    tg_tensor *idx = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, 7, 1});
    tg_tensor *fidx = tg_zeros(TG_F32, 1, (int64_t[]){3});

    assert_null(tg_flip(x, 2, (int[]){1, -1}));
    assert_error_contains("tg_flip: dim -1 appears multiple times");
    assert_null(tg_flip(x, 1, (int[]){2}));
    assert_error_contains("tg_flip: Dimension out of range");

    assert_null(tg_repeat(x, 1, (int64_t[]){2}));
    assert_error_contains("tg_repeat: Number of dimensions of repeat dims (1) can not be smaller");
    assert_null(tg_repeat(x, 2, (int64_t[]){2, -1}));
    assert_error_contains("tg_repeat: Trying to create tensor with negative dimension -1");

    assert_null(tg_pad(x, 3, (int64_t[]){1, 1, 1}, 0));
    assert_error_contains("tg_pad: Padding length must be divisible by 2");
    assert_null(tg_pad(x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, 0));
    assert_error_contains("tg_pad: Padding length too large");
    assert_null(tg_pad(x, 2, (int64_t[]){-3, -2}, 0));
    assert_error_contains("tg_pad: The input size 4, plus negative padding -3 and -2 resulted in a negative");

    assert_null(tg_index_select(x, 1, idx));
    assert_error_contains("tg_index_select: index 7 is out of bounds for dimension 1 with size 4");
    assert_error_contains("(valid range is [0, 3])");
    assert_null(tg_index_select(x, 0, tg_from_array(TG_I64, 1, (int64_t[]){1}, (int64_t[]){-1})));
    assert_error_contains("tg_index_select: index -1 is out of bounds for dimension 0 with size 3");
    assert_null(tg_index_select(x, 1, fidx));
    assert_error_contains("tg_index_select: expected an index tensor of dtype int64, got float32");
    assert_null(tg_index_select(x, 2, idx));
    assert_error_contains("tg_index_select: Dimension out of range");
    assert_null(tg_index_select(x, 0, tg_zeros(TG_I64, 2, (int64_t[]){1, 1})));
    assert_error_contains("tg_index_select: Index is supposed to be a vector");

    tg_tensor *gidx = tg_from_array(TG_I64, 2, (int64_t[]){2, 2}, (int64_t[]){0, 1, 4, 0});
    assert_null(tg_gather(x, 1, gidx));
    assert_error_contains("tg_gather: index 4 is out of bounds for dimension 1 with size 4 (valid range is [0, 3])");
    assert_null(tg_gather(x, 1, idx));
    assert_error_contains("tg_gather: Index tensor must have the same number of dimensions as input tensor");
    assert_null(tg_gather(x, 1, tg_zeros(TG_I64, 2, (int64_t[]){4, 1})));
    assert_error_contains("tg_gather: Size does not match at dimension 0 expected index [4,1] to be smaller than input "
                          "[3,4] apart from dimension 1");
    assert_null(tg_gather(x, 1, tg_zeros(TG_F64, 2, (int64_t[]){2, 2})));
    assert_error_contains("tg_gather: expected an index tensor of dtype int64, got float64");

    tg_tensor *src = tg_ones(TG_F32, 2, (int64_t[]){2, 2});
    assert_null(tg_scatter_add(x, 1, gidx, src));
    assert_error_contains("tg_scatter_add: index 4 is out of bounds for dimension 1 with size 4");
    assert_null(tg_scatter_add(x, 1, tg_zeros(TG_I64, 2, (int64_t[]){2, 3}), src));
    assert_error_contains("tg_scatter_add: Size does not match at dimension 1");
    assert_error_contains("expected index [2,3] to be smaller than src [2,2]");
    assert_null(tg_scatter_add(x, 1, tg_zeros(TG_I64, 2, (int64_t[]){4, 1}), tg_ones(TG_F32, 2, (int64_t[]){4, 1})));
    assert_error_contains("tg_scatter_add: Size does not match at dimension 0 expected index [4,1] to be smaller than "
                          "self [3,4] apart from dimension 1");
    assert_null(tg_scatter_add(x, 1, tg_zeros(TG_I64, 2, (int64_t[]){2, 2}), tg_ones(TG_F64, 2, (int64_t[]){2, 2})));
    assert_error_contains("tg_scatter_add: Expected self.dtype to be equal to src.dtype");

    tg_tensor *w = tg_ones(TG_F32, 2, (int64_t[]){5, 2});
    assert_null(tg_embedding(w, tg_from_array(TG_I64, 2, (int64_t[]){1, 2}, (int64_t[]){1, 5}), -1));
    assert_error_contains("tg_embedding: index 5 is out of bounds for dimension 0 with size 5 (valid range is [0, 4])");
    assert_null(tg_embedding(w, tg_from_array(TG_I64, 1, (int64_t[]){1}, (int64_t[]){(int64_t)1 << 40}), -1));
    assert_error_contains("index 1099511627776 is out of bounds");
    assert_null(tg_embedding(w, idx, 5));
    assert_error_contains("tg_embedding: padding_idx must be -1 (none) or within [0, 5)");
    assert_null(tg_embedding(tg_ones(TG_F32, 1, (int64_t[]){5}), idx, -1));
    assert_error_contains("tg_embedding: 'weight' must be 2-D");
    assert_null(tg_embedding(tg_zeros(TG_I64, 2, (int64_t[]){5, 2}), idx, -1));
    assert_error_contains("tg_embedding: expected a float32 or float64 tensor, got int64");

    assert_null(tg_cat(2, (tg_tensor *[]){x, tg_ones(TG_F32, 2, (int64_t[]){2, 3})}, 0));
    assert_error_contains("tg_cat: Sizes of tensors must match except in dimension 0");
    assert_null(tg_cat(2, (tg_tensor *[]){x, tg_ones(TG_F64, 2, (int64_t[]){3, 4})}, 0));
    assert_error_contains("tg_cat: expected all tensors to have dtype float32");
    assert_null(tg_stack(2, (tg_tensor *[]){x, tg_ones(TG_F32, 2, (int64_t[]){4, 3})}, 0));
    assert_error_contains("tg_stack: stack expects each tensor to be equal size");

    /* NULL propagates without a new message. */
    tg_clear_error();
    assert_null(tg_flip(NULL, 0, NULL));
    assert_null(tg_gather(x, 0, NULL));
    assert_null(tg_embedding(NULL, idx, -1));
    assert_string_equal(tg_last_error(), "");
    tg_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_embedding_padding_and_duplicates),
        cmocka_unit_test(test_embedding_backward_reads_the_indices_alone),
        cmocka_unit_test(test_outside_scope),
        cmocka_unit_test(test_index_select_of_a_scalar),
        cmocka_unit_test(test_cat_skips_legacy_empty),
        cmocka_unit_test(test_null_arrays_named),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
