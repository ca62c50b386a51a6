/* Matrix products: golden values and gradients vs PyTorch (F32 and F64) for
 * every rank combination of torch.matmul, bmm, linear (1-, 2- and 3-D input,
 * with and without bias) and outer; gradcheck on contiguous, transposed,
 * sliced and broadcast inputs; empty sizes; bad input. */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FILE_ "linalg.txt"

static const double RTOL[2] = {1e-5, 1e-12}, ATOL[2] = {1e-6, 1e-12};
static const char *SUFFIX[2] = {"f32", "f64"};

/* --- golden ----------------------------------------------------------------------- */

typedef tg_tensor *(*product_fn)(tg_tensor **in);
static tg_tensor *matmul(tg_tensor **in) { return tg_matmul(in[0], in[1]); }
static tg_tensor *bmm(tg_tensor **in) { return tg_bmm(in[0], in[1]); }
static tg_tensor *outer(tg_tensor **in) { return tg_outer(in[0], in[1]); }
static tg_tensor *linear(tg_tensor **in) { return tg_linear(in[0], in[1], in[2]); }
static tg_tensor *linear_nobias(tg_tensor **in) { return tg_linear(in[0], in[1], NULL); }

/* Case `name` with inputs name_<letters[i]>: output and every gradient. */
static void check_golden(const char *name, product_fn fn, const char *letters)
{
    char key[128];
    int n = (int)strlen(letters);
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        tg_tensor *in[3] = {NULL, NULL, NULL};
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "%s_%c", name, letters[i]);
            in[i] = golden_leaf(FILE_, key, dtype, true);
        }
        tg_scope *s = tg_scope_begin();
        tg_tensor *y = fn(in);
        snprintf(key, sizeof key, "%s_y_%s", name, SUFFIX[dt]);
        assert_close(y, golden(FILE_, key, dtype), RTOL[dt], ATOL[dt], key);
        snprintf(key, sizeof key, "%s_gy", name);
        assert_int_equal(tg_backward(y, golden(FILE_, key, dtype)), 0);
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "%s_d%c_%s", name, letters[i], SUFFIX[dt]);
            assert_close(in[i]->grad, golden(FILE_, key, dtype), RTOL[dt], ATOL[dt], key);
        }
        tg_scope_end(s);
        for (int i = 0; i < n; i++) tg_free(in[i]);
    }
}

/* The same list is in gen_linalg.py. */
static const char *MATMUL[] = {"mm_1_1", "mm_1_2", "mm_2_1", "mm_2_2", "mm_3_1",
                               "mm_1_3", "mm_3_2", "mm_2_3", "mm_bcast", "mm_3_3"};

static void test_golden(void **state)
{
    (void)state;
    for (int i = 0; i < (int)(sizeof MATMUL / sizeof MATMUL[0]); i++) check_golden(MATMUL[i], matmul, "ab");
    check_golden("bmm", bmm, "ab");
    check_golden("outer", outer, "ab");
    static const char *lin[] = {"linear_1d", "linear_2d", "linear_3d"};
    char name[64];
    for (int i = 0; i < 3; i++) {
        check_golden(lin[i], linear, "xwb");
        snprintf(name, sizeof name, "%s_nobias", lin[i]);
        check_golden(name, linear_nobias, "xw");
    }
}

static void test_matmul_shapes(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    static const struct {
        int na, nb;
        int64_t a[4], b[4];
        int ny;
        int64_t y[4];
    } cases[] = {
        {1, 1, {4}, {4}, 0, {0}},
        {1, 2, {4}, {4, 3}, 1, {3}},
        {2, 1, {3, 4}, {4}, 1, {3}},
        {3, 1, {2, 3, 4}, {4}, 2, {2, 3}},
        {1, 3, {4}, {2, 4, 3}, 2, {2, 3}},
        {4, 3, {2, 1, 3, 4}, {5, 4, 2}, 4, {2, 5, 3, 2}},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        tg_tensor *y = tg_matmul(tg_ones(TG_F32, cases[i].na, cases[i].a), tg_ones(TG_F32, cases[i].nb, cases[i].b));
        assert_non_null(y);
        assert_int_equal(y->ndim, cases[i].ny);
        for (int d = 0; d < cases[i].ny; d++) assert_int_equal(y->shape[d], cases[i].y[d]);
        assert_true(tg_data(y) && ((float *)tg_data(y))[0] == 4.0f);
    }
    tg_scope_end(s);
}

/* --- gradcheck ---------------------------------------------------------------------- */

enum { AS_IS, TRANSPOSED, NARROWED, EXPANDED };

typedef struct {
    product_fn fn;
    int n;
    int layout[3], ndim[3];
    int64_t shape[3][4]; /* each input's shape after its view */
} gc_case;

static tg_tensor *gc_fn(int n, tg_tensor **inputs, void *ctx)
{
    const gc_case *c = ctx;
    tg_tensor *v[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n; i++) {
        tg_tensor *t = inputs[i];
        switch (c->layout[i]) {
        case TRANSPOSED: v[i] = tg_transpose(t, -1, -2); break;
        case NARROWED: v[i] = tg_narrow(t, -1, 1, t->shape[t->ndim - 1] - 2); break;
        case EXPANDED: v[i] = tg_expand(t, c->ndim[i], c->shape[i]); break;
        default: v[i] = t;
        }
    }
    return c->fn(v);
}

static void run_gradcheck(const gc_case *c, const char *what)
{
    tg_tensor *leaves[3];
    for (int i = 0; i < c->n; i++) {
        int nd = c->ndim[i];
        int64_t s[4];
        memcpy(s, c->shape[i], sizeof s);
        if (c->layout[i] == TRANSPOSED) {
            s[nd - 1] = c->shape[i][nd - 2];
            s[nd - 2] = c->shape[i][nd - 1];
        }
        if (c->layout[i] == NARROWED) s[nd - 1] += 2;
        if (c->layout[i] == EXPANDED) s[0] = 1;
        leaves[i] = leaf_f64(nd, s, -1, 1);
    }
    assert_gradcheck(gc_fn, leaves, c->n, (void *)c, what);
    for (int i = 0; i < c->n; i++) tg_free(leaves[i]);
}

static void test_gradcheck(void **state)
{
    (void)state;
    tg_manual_seed(11);
    static const gc_case cases[] = {
        {matmul, 2, {AS_IS, AS_IS}, {1, 1}, {{4}, {4}}},
        {matmul, 2, {NARROWED, AS_IS}, {1, 2}, {{4}, {4, 3}}},
        {matmul, 2, {TRANSPOSED, NARROWED}, {2, 1}, {{3, 4}, {4}}},
        {matmul, 2, {AS_IS, AS_IS}, {2, 2}, {{3, 4}, {4, 5}}},
        {matmul, 2, {TRANSPOSED, TRANSPOSED}, {2, 2}, {{3, 4}, {4, 5}}},
        {matmul, 2, {NARROWED, TRANSPOSED}, {2, 2}, {{3, 4}, {4, 5}}},
        {matmul, 2, {AS_IS, AS_IS}, {3, 1}, {{2, 3, 4}, {4}}},
        {matmul, 2, {AS_IS, TRANSPOSED}, {1, 3}, {{4}, {2, 4, 3}}},
        {matmul, 2, {AS_IS, AS_IS}, {4, 3}, {{2, 1, 3, 4}, {5, 4, 2}}},
        {matmul, 2, {TRANSPOSED, NARROWED}, {4, 3}, {{2, 1, 3, 4}, {5, 4, 2}}},
        {matmul, 2, {EXPANDED, AS_IS}, {3, 3}, {{2, 3, 4}, {2, 4, 5}}},
        {matmul, 2, {AS_IS, AS_IS}, {3, 2}, {{2, 3, 4}, {4, 5}}},
        {bmm, 2, {AS_IS, AS_IS}, {3, 3}, {{2, 3, 4}, {2, 4, 5}}},
        {bmm, 2, {TRANSPOSED, EXPANDED}, {3, 3}, {{2, 3, 4}, {2, 4, 5}}},
        {outer, 2, {AS_IS, AS_IS}, {1, 1}, {{3}, {4}}},
        {outer, 2, {NARROWED, NARROWED}, {1, 1}, {{3}, {4}}},
        {linear, 3, {AS_IS, AS_IS, AS_IS}, {1, 2, 1}, {{4}, {5, 4}, {5}}},
        {linear, 3, {AS_IS, AS_IS, AS_IS}, {2, 2, 1}, {{3, 4}, {5, 4}, {5}}},
        {linear, 3, {TRANSPOSED, TRANSPOSED, NARROWED}, {3, 2, 1}, {{2, 3, 4}, {5, 4}, {5}}},
        {linear, 3, {EXPANDED, NARROWED, AS_IS}, {3, 2, 1}, {{2, 3, 4}, {5, 4}, {5}}},
        {linear_nobias, 2, {AS_IS, AS_IS}, {1, 2}, {{4}, {5, 4}}},
        {linear_nobias, 2, {NARROWED, TRANSPOSED}, {2, 2}, {{3, 4}, {5, 4}}},
        {linear_nobias, 2, {AS_IS, AS_IS}, {3, 2}, {{2, 3, 4}, {5, 4}}},
        /* a bias that is a whole term to add (torch.addmm's input) */
        {linear, 3, {AS_IS, AS_IS, AS_IS}, {2, 2, 2}, {{3, 4}, {5, 4}, {3, 5}}},
        {linear, 3, {AS_IS, TRANSPOSED, TRANSPOSED}, {3, 2, 2}, {{2, 3, 4}, {5, 4}, {3, 5}}},
    };
    char what[64];
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        snprintf(what, sizeof what, "case %d", i);
        run_gradcheck(&cases[i], what);
    }
}

/* --- edge sizes -------------------------------------------------------------------------- */

/* A matrix bias gives what adding it after the product gives (both dtypes,
 * and with a time-major slice as the term, as a recurrent layer passes it). */
static void test_linear_with_added_term(void **state)
{
    (void)state;
    tg_manual_seed(11);
    for (tg_dtype dtype = TG_F32; dtype <= TG_F64; dtype++) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_randn(dtype, 2, (int64_t[]){3, 4}, 0, 1);
        tg_tensor *w = tg_randn(dtype, 2, (int64_t[]){5, 4}, 0, 1);
        tg_tensor *steps = tg_randn(dtype, 3, (int64_t[]){2, 3, 5}, 0, 1);
        tg_tensor *term = tg_select(steps, 0, 1);
        tg_tensor *expect = tg_add(tg_linear(x, w, NULL), term);
        assert_close(tg_linear(x, w, term), expect, dtype == TG_F32 ? 1e-6 : 1e-14, 1e-6, "linear + term");
        tg_tensor *column = tg_narrow(tg_transpose(steps, 0, 2), 0, 0, 1); /* (1,3,2) does not fit (3,5) */
        assert_null(tg_linear(x, w, column));
        assert_error_contains("does not broadcast to the output shape [3,5]");
        tg_scope_end(s);
    }
}

/* x's gradient from a linear, g W, goes into x's gradient buffer: stored
 * when the linear's backward comes first, added onto what another op put
 * there when it comes second, for a leaf and for a non-leaf x, with K
 * (the output width) within one cache block of the GEMM and over it. */
/* Leading dims merge into one row stride only when each kept dim's stride
 * is the next kept one's stride times its size; a size-1 dim between them
 * has any stride. Permuted inputs with a size-1 dim give what their
 * contiguous copies give, values and gradients (one read rows with a
 * wrong stride, another failed with no message). */
static void test_linear_of_views_with_a_size_one_dim(void **state)
{
    (void)state;
    const int64_t bases[2][4] = {{2, 1, 4, 3}, {1, 5, 2, 6}};
    const int perms[2][4] = {{0, 1, 3, 2}, {1, 0, 2, 3}};
    for (int c = 0; c < 2; c++) {
        tg_manual_seed(31);
        tg_scope *s = tg_scope_begin();
        tg_tensor *base = tg_rand(TG_F64, 4, bases[c], -1, 1);
        tg_tensor *view = tg_requires_grad(tg_detach(tg_permute(base, perms[c])), true);
        tg_tensor *copy = tg_requires_grad(tg_contiguous(tg_detach(view)), true);
        int64_t in = view->shape[3];
        tg_tensor *w = tg_requires_grad(tg_rand(TG_F64, 2, (int64_t[]){3, in}, -1, 1), true);
        tg_tensor *b = tg_rand(TG_F64, 1, (int64_t[]){3}, -1, 1);
        tg_tensor *y_view = tg_linear(view, w, b);
        assert_non_null(y_view);
        assert_int_equal(tg_backward(tg_sum(tg_square(y_view), 0, NULL, false), NULL), 0);
        tg_tensor *gw_view = tg_clone(w->grad);
        tg_zero_grad(1, &w);
        tg_tensor *y_copy = tg_linear(copy, w, b);
        assert_int_equal(tg_backward(tg_sum(tg_square(y_copy), 0, NULL, false), NULL), 0);
        assert_close(y_view, y_copy, 1e-14, 1e-14, "output");
        assert_close(view->grad, copy->grad, 1e-14, 1e-14, "input gradient");
        assert_close(gw_view, w->grad, 1e-14, 1e-14, "weight gradient");
        tg_scope_end(s);
    }
}

static void test_input_gradient_in_place(void **state)
{
    (void)state;
    tg_manual_seed(13);
    static const int64_t outs[] = {5, 700};
    for (tg_dtype dtype = TG_F32; dtype <= TG_F64; dtype++)
        for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++)
            for (int linear_first = 0; linear_first < 2; linear_first++)
                for (int leaf = 0; leaf < 2; leaf++) {
                    int64_t rows = 3, in = 4, out = outs[o];
                    tg_tensor *x = tg_requires_grad(tg_randn(dtype, 2, (int64_t[]){rows, in}, 0, 1), true);
                    tg_tensor *w = tg_randn(dtype, 2, (int64_t[]){out, in}, 0, 1);
                    tg_tensor *gy = tg_randn(dtype, 2, (int64_t[]){rows, out}, 0, 1);
                    tg_tensor *c = tg_randn(dtype, 2, (int64_t[]){rows, in}, 0, 1);
                    tg_scope *s = tg_scope_begin();
                    tg_tensor *h = leaf ? x : tg_mul_scalar(x, 1.0);
                    /* The op recorded last runs first in the backward. */
                    tg_tensor *y = NULL, *z = NULL;
                    if (linear_first) z = tg_mul(h, c);
                    y = tg_linear(h, w, NULL);
                    if (!linear_first) z = tg_mul(h, c);
                    tg_tensor *loss = tg_add(tg_sum(tg_mul(y, gy), 0, NULL, false), tg_sum(z, 0, NULL, false));
                    assert_int_equal(tg_backward(loss, NULL), 0);
                    tg_scope_end(s);
                    /* dx = gy W + c, in double. */
                    double *xg = malloc(sizeof(double) * (size_t)(rows * in)), *wv = malloc(sizeof(double) * (size_t)(out * in));
                    double *gv = malloc(sizeof(double) * (size_t)(rows * out)), *cv = malloc(sizeof(double) * (size_t)(rows * in));
                    s = tg_scope_begin();
                    tg_copy_to_array(tg_cast(x->grad, TG_F64), xg);
                    tg_copy_to_array(tg_cast(w, TG_F64), wv);
                    tg_copy_to_array(tg_cast(gy, TG_F64), gv);
                    tg_copy_to_array(tg_cast(c, TG_F64), cv);
                    tg_scope_end(s);
                    for (int64_t i = 0; i < rows; i++)
                        for (int64_t j = 0; j < in; j++) {
                            double want = cv[i * in + j], scale = fabs(want);
                            for (int64_t k = 0; k < out; k++) {
                                want += gv[i * out + k] * wv[k * in + j];
                                scale += fabs(gv[i * out + k] * wv[k * in + j]);
                            }
                            assert_true(fabs(xg[i * in + j] - want) <= (dtype == TG_F32 ? 1e-6 : 1e-14) * scale);
                        }
                    free(xg), free(wv), free(gv), free(cv);
                    tg_free(x), tg_free(w), tg_free(gy), tg_free(c);
                }
}

/* A linear's bias gradient is g's rows added one at a time, the same bits
 * whether it comes from the packed g^T of the weight gradient (300
 * outputs) or from the engine's sum (4 outputs, or no weight gradient),
 * over two backward passes. */
static void test_linear_bias_grad_bits(void **state)
{
    (void)state;
    tg_manual_seed(12);
    static const int64_t outs[] = {300, 4};
    for (tg_dtype dtype = TG_F32; dtype <= TG_F64; dtype++)
        for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++)
            for (int weight_grad = 0; weight_grad < 2; weight_grad++) {
                int64_t rows = 64, in = 40, out = outs[o];
                tg_tensor *x = tg_randn(dtype, 2, (int64_t[]){rows, in}, 0, 1);
                tg_tensor *w = tg_requires_grad(tg_randn(dtype, 2, (int64_t[]){out, in}, 0, 1), weight_grad);
                tg_tensor *b = tg_requires_grad(tg_randn(dtype, 1, (int64_t[]){out}, 0, 1), true);
                tg_tensor *g[2] = {tg_randn(dtype, 2, (int64_t[]){rows, out}, 0, 1),
                                   tg_randn(dtype, 2, (int64_t[]){rows, out}, 0, 1)};
                for (int pass = 0; pass < 2; pass++) {
                    tg_scope *s = tg_scope_begin();
                    assert_int_equal(tg_backward(tg_linear(x, w, b), g[pass]), 0);
                    tg_scope_end(s);
                }
                assert_non_null(b->grad);
                for (int64_t j = 0; j < out; j++) {
                    /* Each pass sums into a buffer of its own, then adds it
                     * to the leaf's gradient. */
                    float s32 = 0;
                    double s64 = 0;
                    for (int pass = 0; pass < 2; pass++) {
                        float p32 = 0;
                        double p64 = 0;
                        for (int64_t r = 0; r < rows; r++) {
                            double v = tg_get(g[pass], (int64_t[]){r, j});
                            p32 += (float)v, p64 += v;
                        }
                        s32 += p32, s64 += p64;
                    }
                    double got = tg_get(b->grad, (int64_t[]){j});
                    if (got != (dtype == TG_F32 ? (double)s32 : s64))
                        fail_msg("%s, %lld outputs, weight grad %d: bias grad[%lld] = %.17g, rows added in turn "
                                 "give %.17g", tg_dtype_name(dtype), (long long)out, weight_grad, (long long)j, got,
                                 dtype == TG_F32 ? (double)s32 : s64);
                }
                tg_free(x), tg_free(w), tg_free(b), tg_free(g[0]), tg_free(g[1]);
            }
}

static void test_empty_sizes(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        /* (0,3)x(3,4) -> (0,4); (2,0)x(0,3) -> zeros (2,3), as torch */
        tg_tensor *y = tg_matmul(tg_ones(dtype, 2, (int64_t[]){0, 3}), tg_ones(dtype, 2, (int64_t[]){3, 4}));
        assert_true(y && y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == 4);
        tg_tensor *garbage = tg_full(dtype, 2, (int64_t[]){2, 3}, NAN);
        (void)garbage; /* arena memory that the next result may reuse is not read */
        y = tg_matmul(tg_ones(dtype, 2, (int64_t[]){2, 0}), tg_ones(dtype, 2, (int64_t[]){0, 3}));
        assert_true(y && y->shape[0] == 2 && y->shape[1] == 3);
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < 3; j++) assert_true(tg_get(y, (int64_t[]){i, j}) == 0.0);
        assert_true(tg_item(tg_matmul(tg_ones(dtype, 1, (int64_t[]){0}), tg_ones(dtype, 1, (int64_t[]){0}))) == 0.0);
        y = tg_bmm(tg_ones(dtype, 3, (int64_t[]){0, 2, 3}), tg_ones(dtype, 3, (int64_t[]){0, 3, 4}));
        assert_true(y && y->shape[0] == 0 && y->shape[1] == 2 && y->shape[2] == 4);
        y = tg_linear(tg_ones(dtype, 2, (int64_t[]){0, 4}), tg_ones(dtype, 2, (int64_t[]){5, 4}),
                      tg_ones(dtype, 1, (int64_t[]){5}));
        assert_true(y && y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == 5);
        /* in_features 0: the bias alone */
        y = tg_linear(tg_ones(dtype, 2, (int64_t[]){2, 0}), tg_ones(dtype, 2, (int64_t[]){3, 0}),
                      tg_full(dtype, 1, (int64_t[]){3}, 1.5));
        assert_true(y && tg_get(y, (int64_t[]){1, 2}) == 1.5);
    }
    tg_scope_end(s);

    /* Gradients through an empty inner dimension are empty or zero. */
    tg_tensor *a = tg_requires_grad(tg_zeros(TG_F64, 2, (int64_t[]){2, 0}), true);
    tg_tensor *b = tg_requires_grad(tg_zeros(TG_F64, 2, (int64_t[]){0, 3}), true);
    s = tg_scope_begin();
    assert_int_equal(tg_backward(tg_matmul(a, b), tg_ones(TG_F64, 2, (int64_t[]){2, 3})), 0);
    assert_true(a->grad && a->grad->shape[0] == 2 && a->grad->shape[1] == 0);
    tg_scope_end(s);
    tg_free(a);
    tg_free(b);
}

static void test_bad_input(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *v3 = tg_ones(TG_F32, 1, (int64_t[]){3}), *v4 = tg_ones(TG_F32, 1, (int64_t[]){4});
    tg_tensor *m23 = tg_ones(TG_F32, 2, (int64_t[]){2, 3}), *m45 = tg_ones(TG_F32, 2, (int64_t[]){4, 5});
    tg_tensor *m34 = tg_ones(TG_F32, 2, (int64_t[]){3, 4});
    tg_clear_error();
    assert_null(tg_matmul(v3, v4));
    assert_string_equal(tg_last_error(), "tg_matmul: shapes [3] and [4] cannot be multiplied (3 != 4)");
    assert_null(tg_matmul(m23, v4));
    assert_string_equal(tg_last_error(), "tg_matmul: shapes [2,3] and [4] cannot be multiplied (3 != 4)");
    assert_null(tg_matmul(v4, m23));
    assert_error_contains("shapes [4] and [2,3] cannot be multiplied (4 != 2)");
    assert_null(tg_matmul(m23, m45));
    assert_error_contains("shapes [2,3] and [4,5]");
    assert_null(tg_matmul(tg_ones(TG_F32, 3, (int64_t[]){2, 2, 3}), tg_ones(TG_F32, 3, (int64_t[]){3, 3, 4})));
    assert_string_equal(tg_last_error(), "tg_matmul: the batch dims of shapes [2,2,3] and [3,3,4] do not broadcast");
    assert_null(tg_matmul(tg_scalar(TG_F32, 1), v3));
    assert_error_contains("both arguments to matmul need to be at least 1D, but they are 0D and 1D");
    assert_null(tg_matmul(m23, tg_ones(TG_F64, 2, (int64_t[]){3, 4})));
    assert_error_contains("tg_matmul: expected both inputs to have the same dtype, got float32 and float64");
    assert_null(tg_matmul(tg_zeros(TG_I64, 2, (int64_t[]){2, 3}), m34));
    assert_error_contains("tg_matmul: expected a float32 or float64 tensor, got int64");
    tg_clear_error();
    assert_null(tg_matmul(NULL, m34));
    assert_string_equal(tg_last_error(), "");

    assert_null(tg_bmm(m23, m34));
    assert_error_contains("tg_bmm: batch1 and batch2 must be 3D tensors, got 2D and 2D");
    assert_null(tg_bmm(tg_ones(TG_F32, 3, (int64_t[]){2, 2, 3}), tg_ones(TG_F32, 3, (int64_t[]){3, 3, 4})));
    assert_string_equal(tg_last_error(), "tg_bmm: the batch dims of shapes [2,2,3] and [3,3,4] must match");
    assert_null(tg_bmm(tg_ones(TG_F32, 3, (int64_t[]){1, 2, 3}), tg_ones(TG_F32, 3, (int64_t[]){3, 3, 4})));
    assert_error_contains("must match"); /* bmm does not broadcast */
    assert_null(tg_bmm(tg_ones(TG_F32, 3, (int64_t[]){2, 2, 3}), tg_ones(TG_F32, 3, (int64_t[]){2, 4, 4})));
    assert_error_contains("tg_bmm: shapes [2,2,3] and [2,4,4] cannot be multiplied (3 != 4)");

    assert_null(tg_linear(m23, m45, NULL));
    assert_error_contains("tg_linear");
    assert_error_contains("input [2,3], weight [4,5]");
    assert_null(tg_linear(m23, v3, NULL));
    assert_error_contains("tg_linear: weight must be 2-D (out, in), got [3]");
    assert_null(tg_linear(m23, tg_ones(TG_F32, 2, (int64_t[]){4, 3}), v3));
    assert_error_contains("tg_linear: bias of shape [3] does not broadcast to the output shape [2,4]");
    assert_null(tg_linear(tg_scalar(TG_F32, 1), m34, NULL));
    assert_error_contains("tg_linear");
    assert_null(tg_linear(m23, tg_ones(TG_F64, 2, (int64_t[]){4, 3}), NULL));
    assert_error_contains("float32, float64");
    assert_null(tg_linear(m23, tg_zeros(TG_I64, 2, (int64_t[]){4, 3}), NULL));
    assert_error_contains("got int64");

    assert_null(tg_outer(m23, v3));
    assert_error_contains("tg_outer: expected 1-D inputs, got 2D and 1D");
    assert_null(tg_outer(v3, tg_ones(TG_F64, 1, (int64_t[]){3})));
    assert_error_contains("tg_outer: expected both inputs to have the same dtype");
    tg_tensor *long_v = tg_expand(tg_ones(TG_F64, 1, (int64_t[]){1}), 1, (int64_t[]){(int64_t)1 << 31});
    assert_null(tg_outer(long_v, long_v));
    assert_error_contains("tg_outer: tg_mul: a tensor of shape [2147483648,2147483648] is too large");
    tg_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),      cmocka_unit_test(test_matmul_shapes),
        cmocka_unit_test(test_gradcheck),   cmocka_unit_test(test_empty_sizes),
        cmocka_unit_test(test_bad_input),   cmocka_unit_test(test_linear_with_added_term),
        cmocka_unit_test(test_linear_bias_grad_bits), cmocka_unit_test(test_input_gradient_in_place),
        cmocka_unit_test(test_linear_of_views_with_a_size_one_dim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
