/* The classes of defect a hardening audit found (fuzzing, allocation
 * failures, probes), one test each: every call fails cleanly with a message
 * or computes the right answer; none crashes, hangs, leaks or reads memory
 * it does not own. Internal seams (allocation counts, live tensors) come
 * from core/internal.h. */
#include "hostile.h"
#include "../core/internal.h"

#include <pthread.h>
#include <stdlib.h>

static const int64_t big = (int64_t)1 << 31;

/* 1. Every result's size is checked where it is allocated: numel times the
 * dtype size never wraps into a small buffer that is then overrun. */
static void test_result_sizes_checked(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *one = tg_ones(TG_F32, 2, (int64_t[]){1, 1});
    tg_tensor *col = tg_expand(one, 2, (int64_t[]){big, 1}), *row = tg_expand(one, 2, (int64_t[]){1, big});
    tg_tensor *vec = tg_expand(tg_ones(TG_F32, 1, (int64_t[]){1}), 1, &big);
    EXPECT_ERR(tg_add(col, row), "tg_add: a tensor of shape [2147483648,2147483648] is too large");
    EXPECT_ERR(tg_mul(col, row), "tg_mul");
    EXPECT_ERR(tg_where(tg_ones(TG_F32, 0, NULL), col, row), "tg_where");
    EXPECT_ERR(tg_matmul(col, row), "tg_matmul");
    EXPECT_ERR(tg_bmm(tg_unsqueeze(col, 0), tg_unsqueeze(row, 0)), "tg_bmm");
    EXPECT_ERR(tg_outer(vec, vec), "too large"); /* from the tg_mul it is made of */
    EXPECT_ERR(tg_linear(col, col, NULL), "tg_linear");
    tg_tensor *half = tg_expand(one, 2, (int64_t[]){(int64_t)1 << 58, 2}); /* 2^59 elements */
    EXPECT_ERR(tg_cat(3, (tg_tensor *[]){half, half, half}, 0), "tg_cat");
    EXPECT_ERR(tg_stack(3, (tg_tensor *[]){half, half, half}, 0), "tg_stack");
    tg_tensor *wide = tg_expand(one, 2, (int64_t[]){1, (int64_t)1 << 40});
    EXPECT_ERR(tg_embedding(wide, tg_zeros(TG_I64, 1, (int64_t[]){1 << 21}), -1), "tg_embedding");
    EXPECT_ERR(tg_index_select(wide, 0, tg_zeros(TG_I64, 1, (int64_t[]){1 << 21})), "tg_index_select");
    /* Empty tensors obey the same bound (zeros count as ones), so that their
     * strides and offsets fit too. */
    EXPECT_ERR(tg_zeros(TG_F32, 2, (int64_t[]){0, (int64_t)1 << 62}), "tg_zeros: a tensor of shape [0,4611686018427387904] is too large");
    EXPECT_ERR(tg_reshape(tg_zeros(TG_F32, 1, (int64_t[]){0}), 3, (int64_t[]){0, (int64_t)1 << 30, (int64_t)1 << 31}), "tg_reshape");
    /* Reductions over an empty dim of a huge tensor have a huge result,
     * which the memory of this machine (1 GB here) cannot hold. */
    tg_tensor *empty = tg_zeros(TG_F32, 2, (int64_t[]){0, (int64_t)1 << 59});
    tg__alloc_limit((size_t)1 << 30);
    EXPECT_ERR(tg_sum(empty, 1, (int[]){0}, false), "tg_sum: can't allocate memory");
    EXPECT_ERR(tg_mean(empty, 1, (int[]){0}, true), "tg_mean");
    EXPECT_ERR(tg_var(empty, 1, (int[]){0}, false, false), "tg_var");
    EXPECT_ERR(tg_logsumexp(empty, 1, (int[]){0}, false), "tg_logsumexp");
    tg__alloc_limit(0);
    /* The same check guards the factories and views. */
    EXPECT_ERR(tg_expand(one, 2, (int64_t[]){(int64_t)1 << 32, (int64_t)1 << 32}), "tg_expand");
    EXPECT_ERR(tg_empty(TG_F32, 3, (int64_t[]){1 << 20, 1 << 20, 1 << 21}), "tg_empty");
    tg_scope_end(s);
}

/* 2. A tensor a node saved (an index, a target, any input) that is changed
 * in place before backward is refused with PyTorch's message, instead of
 * being read out of bounds; no .grad changes. */
static void expect_modified(tg_tensor *loss, tg_tensor *const *leaves, int n)
{
    tg_clear_error();
    assert_int_equal(tg_backward(loss, NULL), -1);
    assert_error_contains("one of the variables needed for gradient computation has been modified by an inplace "
                          "operation");
    assert_error_contains("expected version");
    for (int i = 0; i < n; i++) assert_null(leaves[i]->grad);
}

static void test_saved_tensors_modified_in_place(void **state)
{
    (void)state;
    tg_tensor *w = leaf_f64(2, (int64_t[]){5, 3}, -1, 1), *src = leaf_f64(2, (int64_t[]){2, 2}, -1, 1);
    tg_scope *s = tg_scope_begin();
    tg_tensor *idx = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, 1, 4});
    tg_tensor *loss = tg_sum(tg_embedding(w, idx, -1), 0, NULL, false);
    tg_fill_(idx, 1000);
    expect_modified(loss, &w, 1);

    idx = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, 1, 4});
    loss = tg_sum(tg_index_select(w, 0, idx), 0, NULL, false);
    tg_copy_(idx, tg_full(TG_I64, 1, (int64_t[]){1}, -7));
    expect_modified(loss, &w, 1);

    tg_tensor *gidx = tg_from_array(TG_I64, 2, (int64_t[]){2, 2}, (int64_t[]){0, 2, 1, 1});
    loss = tg_sum(tg_gather(w, 1, gidx), 0, NULL, false);
    tg_add_(gidx, tg_full(TG_I64, 0, NULL, 1e6), 1.0);
    expect_modified(loss, &w, 1);

    gidx = tg_from_array(TG_I64, 2, (int64_t[]){2, 2}, (int64_t[]){0, 2, 1, 1});
    loss = tg_sum(tg_scatter_add(w, 1, gidx, src), 0, NULL, false);
    tg_mul_scalar_(gidx, 1e6);
    expect_modified(loss, (tg_tensor *[]){w, src}, 2);

    tg_tensor *target = tg_from_array(TG_I64, 1, (int64_t[]){5}, (int64_t[]){0, 1, 2, 0, 1});
    loss = tg_cross_entropy(w, target, NULL);
    tg_fill_(target, 1000);
    expect_modified(loss, &w, 1);

    target = tg_from_array(TG_I64, 1, (int64_t[]){5}, (int64_t[]){0, 1, 2, 0, 1});
    loss = tg_nll_loss(tg_log_softmax(w, 1), target, NULL);
    tg_fill_(target, -5);
    expect_modified(loss, &w, 1);

    /* Indices a reduction hands back, and a plain input of a product. */
    tg_tensor *where;
    loss = tg_sum(tg_max_dim(w, 1, false, &where), 0, NULL, false);
    tg_fill_(where, 1 << 30);
    expect_modified(loss, &w, 1);
    tg_tensor *scale = tg_full(TG_F64, 1, (int64_t[]){3}, 2.0);
    loss = tg_sum(tg_mul(w, scale), 0, NULL, false);
    tg_fill_(scale, 3.0);
    expect_modified(loss, &w, 1);

    /* An output its backward reads (tanh's y), changed under no_grad. */
    tg_tensor *y = tg_tanh(w);
    bool was = tg_no_grad_begin();
    tg_mul_scalar_(y, 0.5);
    tg_no_grad_end(was);
    tg_clear_error();
    assert_int_equal(tg_backward(y, tg_ones_like(y)), -1);
    assert_error_contains("which is the output of 'tanh', is at version 1; expected version 0 instead");
    assert_null(w->grad);

    /* An optimizer step is an in-place write to its parameters. */
    tg_params params = tg_params_new();
    tg_params_add(&params, NULL, "w", w);
    tg_optim *sgd = tg_sgd(&params, 1, &(tg_sgd_config){.lr = 0.1});
    tg_tensor *held = tg_sum(tg_mul(w, w), 0, NULL, false);
    assert_int_equal(tg_backward_retain(held, NULL), 0);
    assert_int_equal(tg_optim_step(sgd), 0);
    tg_free(w->grad);
    w->grad = NULL;
    expect_modified(held, &w, 1);
    tg_optim_free(sgd);
    tg_params_free(&params);

    /* What no backward reads may change, as in PyTorch, which checks only
     * what a node saved: z = y + 1 with y = 2 w, then y changed; z's
     * gradient reaches w as 2. */
    tg_tensor *twice = tg_mul_scalar(w, 2.0);
    tg_tensor *z = tg_add_scalar(twice, 1.0);
    was = tg_no_grad_begin();
    tg_fill_(twice, 100.0);
    tg_no_grad_end(was);
    if (tg_backward(tg_sum(z, 0, NULL, false), NULL) != 0) fail_msg("backward: %s", tg_last_error());
    assert_near(tg_get(w->grad, (int64_t[]){4, 2}), 2.0, 0);
    tg_free(w->grad);
    w->grad = NULL;

    /* Unchanged, the same graphs run; a change made before forward is fine. */
    idx = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, 1, 4});
    tg_fill_(idx, 2);
    assert_int_equal(tg_backward(tg_sum(tg_embedding(w, idx, -1), 0, NULL, false), NULL), 0);
    assert_near(tg_get(w->grad, (int64_t[]){2, 0}), 3.0, 0);
    tg_scope_end(s);
    tg_free(w);
    tg_free(src);
}

/* The output of an op whose backward reads only its input (square, abs,
 * log, softplus), or neither (sum, mean, gather, index_select, max_dim), may
 * change in place after the forward, and so may the input of sum, mean of
 * all elements, index_select and max_dim, as in PyTorch, which saves only
 * what the backward needs (torch's gather and mean over listed dims save
 * their input, and refuse it changed). */
static tg_tensor *unread_case(int i, tg_tensor *w, tg_tensor *idx)
{
    switch (i) {
    case 0: return tg_square(w);
    case 1: return tg_abs(w);
    case 2: return tg_log(w);
    case 3: return tg_softplus(w, 1, 20);
    case 4: return tg_sum(w, 0, NULL, false);
    case 5: return tg_mean(w, 0, NULL, false);
    case 6: return tg_gather(w, 0, idx);
    case 7: return tg_index_select(w, 0, idx);
    default: return tg_max_dim(w, 0, false, NULL);
    }
}

static void test_unread_outputs_modified_in_place(void **state)
{
    (void)state;
    const double expected[9] = {2 * 3, 1, 1.0 / 3, 1 / (1 + exp(-3.0)), 1, 1.0 / 3, 2, 2, 1};
    tg_tensor *idx = tg_from_array(TG_I64, 1, (int64_t[]){2}, (int64_t[]){2, 2});
    for (int i = 0; i < 9; i++) {
        tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0.5, 2, 3}), true);
        tg_scope *s = tg_scope_begin();
        tg_tensor *y = unread_case(i, w, idx);
        bool was = tg_no_grad_begin();
        assert_int_equal(tg_fill_(y, 100.0), 0);
        if (i >= 4 && i != 6) assert_int_equal(tg_fill_(w, 0.25), 0);
        tg_no_grad_end(was);
        if (tg_backward(y, tg_ones_like(y)) != 0) fail_msg("backward %d: %s", i, tg_last_error());
        assert_near(tg_get(w->grad, (int64_t[]){2}), expected[i], 1e-15);
        tg_scope_end(s);
        tg_free(w);
    }
    /* an input the backward reads, or torch's saves, is still checked */
    tg_tensor *w = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0.5, 2, 3}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *y[3] = {tg_square(w), tg_mean(w, 1, (int[]){0}, false), tg_gather(w, 0, idx)};
    const char *op[3] = {"'square'", "'mean'", "'gather'"};
    bool was = tg_no_grad_begin();
    tg_fill_(w, 0.25);
    tg_no_grad_end(was);
    for (int i = 0; i < 3; i++) {
        tg_clear_error();
        assert_int_equal(tg_backward(y[i], tg_ones_like(y[i])), -1);
        assert_error_contains("which is input 0 of");
        assert_error_contains(op[i]);
    }
    assert_null(w->grad);
    tg_scope_end(s);
    tg_free(w);
    tg_free(idx);
}

/* A product reads each factor only for the other's gradient, as torch's
 * nodes save only what the gradients asked for need: a factor that needs
 * no gradient (data, a frozen weight) leaves the other free to change in
 * place before the backward; the factor a gradient reads is still
 * checked. mul, matmul and linear alike. */
static void test_product_factors_read_for_the_other(void **state)
{
    (void)state;
    for (int op = 0; op < 3; op++) {
        tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){1, 2}, (double[]){1, 2}), true);
        tg_tensor *c = tg_from_array(TG_F64, 2, (int64_t[]){2, 2}, (double[]){3, 4, 5, 6});
        tg_tensor *c1 = tg_from_array(TG_F64, 2, (int64_t[]){1, 2}, (double[]){3, 4});
        tg_scope *s = tg_scope_begin();
        tg_tensor *y = op == 0 ? tg_mul(x, c1) : op == 1 ? tg_matmul(x, c) : tg_linear(x, c, NULL);
        bool was = tg_no_grad_begin();
        assert_int_equal(tg_mul_scalar_(x, 10.0), 0); /* x: read by no gradient */
        tg_no_grad_end(was);
        if (tg_backward(tg_sum(y, 0, NULL, false), NULL) != 0) fail_msg("op %d: %s", op, tg_last_error());
        /* d sum(y) / dx[j]: c1[j]; sum over c's column j; sum over c's row j */
        const double want[3][2] = {{3, 4}, {7, 11}, {8, 10}};
        for (int j = 0; j < 2; j++) assert_true(tg_get(x->grad, (int64_t[]){0, j}) == want[op][j]);
        /* c is read for x's gradient: changed, the backward refuses */
        tg_tensor *y2 = op == 0 ? tg_mul(x, c1) : op == 1 ? tg_matmul(x, c) : tg_linear(x, c, NULL);
        assert_int_equal(tg_fill_(op == 0 ? c1 : c, 0.5), 0);
        tg_clear_error();
        assert_int_equal(tg_backward(tg_sum(y2, 0, NULL, false), NULL), -1);
        assert_error_contains("modified by an inplace operation");
        tg_scope_end(s);
        tg_free(x);
        tg_free(c);
        tg_free(c1);
    }
}

/* A factor made to require grad after the product was recorded gets no
 * gradient, as in torch: the other factor was not kept for it, and here
 * changed in place before the backward (its gradient read the new values,
 * 100 for 3 and 4). mul, matmul and linear alike. */
static void test_product_factor_made_to_require_grad_later(void **state)
{
    (void)state;
    for (int op = 0; op < 3; op++) {
        tg_tensor *a = tg_from_array(TG_F64, 2, (int64_t[]){1, 2}, (double[]){1, 2});
        tg_tensor *b = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){1, 2}, (double[]){3, 4}), true);
        tg_scope *s = tg_scope_begin();
        tg_tensor *y = op == 0 ? tg_mul(a, b) : op == 1 ? tg_matmul(a, tg_transpose(b, 0, 1)) : tg_linear(a, b, NULL);
        assert_non_null(tg_requires_grad(a, true));
        bool was = tg_no_grad_begin();
        assert_int_equal(tg_fill_(b, 100.0), 0);
        tg_no_grad_end(was);
        if (tg_backward(tg_sum(y, 0, NULL, false), NULL) != 0) fail_msg("op %d: %s", op, tg_last_error());
        assert_null(a->grad);
        for (int j = 0; j < 2; j++) assert_true(tg_get(b->grad, (int64_t[]){0, j}) == j + 1.0);
        tg_scope_end(s);
        tg_free(a);
        tg_free(b);
    }
}

/* 3. Running out of memory inside backward is an error, and changes no
 * .grad: every allocation of linear's backward fails in turn. */
static void test_backward_out_of_memory(void **state)
{
    (void)state;
    tg_tensor *x = leaf_f64(2, (int64_t[]){16, 12}, -1, 1), *w = leaf_f64(2, (int64_t[]){10, 12}, -1, 1);
    tg_tensor *b = leaf_f64(1, (int64_t[]){10}, -1, 1);
    int64_t count = 0;
    for (int64_t k = -1; k < count; k++) {
        tg_tensor *leaves[3] = {x, w, b};
        for (int i = 0; i < 3; i++) { /* each run makes the .grad buffers too */
            tg_free(leaves[i]->grad);
            leaves[i]->grad = NULL;
        }
        tg_scope *s = tg_scope_begin();
        tg_tensor *loss = tg_sum(tg_tanh(tg_linear(x, w, b)), 0, NULL, false);
        tg_clear_error();
        tg__alloc_fail_at(k < 0 ? INT64_MAX : k);
        int status = tg_backward(loss, NULL);
        if (k < 0) count = tg__alloc_count();
        tg__alloc_fail_at(-1);
        if (k < 0) {
            assert_int_equal(status, 0);
        } else {
            assert_int_equal(status, -1);
            assert_true(tg_last_error()[0] != '\0');
            assert_true(!x->grad && !w->grad && !b->grad);
        }
        tg_scope_end(s);
    }
    assert_true(count > 5);
    tg_free(x);
    tg_free(w);
    tg_free(b);
}

/* 3. The GEMM's packing buffers can run out: the op fails, it does not
 * return uninitialised memory. */
static void test_forward_out_of_memory(void **state)
{
    (void)state;
    tg_tensor *x = tg_rand(TG_F32, 2, (int64_t[]){64, 64}, -1, 1), *w = tg_rand(TG_F32, 2, (int64_t[]){48, 64}, -1, 1);
    tg_tensor *want = tg_linear(x, w, NULL);
    int64_t count = 0;
    for (int64_t k = -1; k < count; k++) {
        tg_release_thread_memory(); /* the packing buffers must be allocated again */
        tg_clear_error();
        tg__alloc_fail_at(k < 0 ? INT64_MAX : k);
        tg_tensor *y = tg_linear(x, w, NULL);
        if (k < 0) count = tg__alloc_count();
        tg__alloc_fail_at(-1);
        if (y) assert_close(y, want, 0, 0, "linear");
        else assert_error_contains("tg_linear");
        if (k >= 0) assert_true(!y || tg__alloc_refusals() == 0);
        tg_free(y);
    }
#ifdef TG_USE_BLAS
    assert_true(count >= 3); /* the result's memory: cblas takes the product */
#else
    assert_true(count >= 4); /* the result's memory and the one packing buffer */
#endif
    tg_free(x);
    tg_free(w);
    tg_free(want);
}

/* 3. tg_pad of a tensor that requires grad, with each of its allocations
 * failing in turn, inside a scope and outside: NULL and a message, or the
 * full result, and outside any scope no tensor left to no one (as was the
 * result when the node's copy of the geometry, allocated after it, could
 * not be). */
static void test_pad_out_of_memory(void **state)
{
    (void)state;
    tg_tensor *x = leaf_f64(2, (int64_t[]){3, 4}, -1, 1);
    const int64_t pad[4] = {1, 2, -1, 1};
    tg_tensor *want = tg_pad(x, 4, pad, 0.5);
    assert_non_null(want);
    for (int scoped = 0; scoped < 2; scoped++) {
        int64_t count = 0;
        for (int64_t k = -1; k < count; k++) {
            tg_scope *s = scoped ? tg_scope_begin() : NULL;
            int64_t live = tg__live_tensors();
            tg_clear_error();
            tg__alloc_fail_at(k < 0 ? INT64_MAX : k);
            tg_tensor *y = tg_pad(x, 4, pad, 0.5);
            if (k < 0) count = tg__alloc_count();
            tg__alloc_fail_at(-1);
            if (y) assert_close(y, want, 0, 0, "pad");
            else assert_true(tg_last_error()[0] != '\0');
            if (k < 0) assert_non_null(y);
            if (!scoped) {
                assert_int_equal(tg__live_tensors() - live, y ? 1 : 0);
                tg_free(y);
            }
            if (s) tg_scope_end(s);
        }
        assert_true(count >= 2);
    }
    tg_release_thread_memory();
    tg_free(want);
    tg_free(x);
}

/* 3. tg_matmul of 1-D operands (promoted to matrices by views) with each
 * of its allocations failing in turn, inside a scope and outside: NULL and
 * a message, or the full result; never a promoted view taken as made. */
static void test_matmul_vectors_out_of_memory(void **state)
{
    (void)state;
    tg_tensor *v = tg_rand(TG_F64, 1, (int64_t[]){5}, -1, 1), *m = tg_rand(TG_F64, 2, (int64_t[]){5, 3}, -1, 1);
    tg_tensor *mt = tg_rand(TG_F64, 2, (int64_t[]){3, 5}, -1, 1);
    tg_tensor *pairs[3][2] = {{v, m}, {mt, v}, {v, v}};
    for (int p = 0; p < 3; p++)
        for (int scoped = 0; scoped < 2; scoped++) {
            tg_tensor *want = tg_matmul(pairs[p][0], pairs[p][1]);
            assert_non_null(want);
            int64_t count = 0;
            for (int64_t k = -1; k < count; k++) {
                tg_scope *s = scoped ? tg_scope_begin() : NULL;
                tg_clear_error();
                tg__alloc_fail_at(k < 0 ? INT64_MAX : k);
                tg_tensor *y = tg_matmul(pairs[p][0], pairs[p][1]);
                if (k < 0) count = tg__alloc_count();
                tg__alloc_fail_at(-1);
                if (y) assert_close(y, want, 0, 0, "matmul of vectors");
                else assert_true(tg_last_error()[0] != '\0');
                if (k < 0) assert_non_null(y);
                if (!scoped) tg_free(y);
                if (s) tg_scope_end(s);
            }
            assert_true(count >= 2);
            tg_free(want);
        }
    tg_free(v);
    tg_free(m);
    tg_free(mt);
}

/* 4. A result recorded outside any scope no longer points into the tape
 * tg_release_thread_memory frees: it becomes a plain tensor. */
static void test_release_detaches_persistent_results(void **state)
{
    (void)state;
    tg_tensor *x = leaf_f64(1, (int64_t[]){4}, -1, 1);
    tg_tensor *squares = tg_mul(x, x), *loss = tg_sum(squares, 0, NULL, false);
    assert_non_null(loss->node);
    tg_release_thread_memory();
    assert_null(loss->node);
    assert_false(loss->requires_grad);
    EXPECT_FAIL(tg_backward(loss, NULL), -1, "does not require grad");
    tg_free(loss);
    tg_free(squares);
    /* Freed before the release: the node forgets it. */
    squares = tg_mul(x, x);
    tg_free(squares);
    tg_release_thread_memory();
    tg_free(x);
}

static tg_tensor *product(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_mul(in[0], in[1]);
}

/* 4. tg_gradcheck given one leaf twice gives the caller's .grad back. */
static void test_gradcheck_same_leaf_twice(void **state)
{
    (void)state;
    tg_tensor *x = leaf_f64(1, (int64_t[]){3}, 0.5, 1.5);
    tg_scope *s = tg_scope_begin();
    tg_backward(tg_sum(tg_mul(x, x), 0, NULL, false), NULL);
    tg_scope_end(s);
    tg_tensor *grad = x->grad;
    double first = tg_get(grad, (int64_t[]){0});
    assert_int_equal(tg_gradcheck(product, 2, (tg_tensor *[]){x, x}, NULL, 1e-6, 1e-6, 1e-4, NULL), 0);
    assert_ptr_equal(x->grad, grad);
    assert_true(tg_get(x->grad, (int64_t[]){0}) == first);
    tg_free(x);
}

/* 5. NULL where an output or a shape is expected is an error. */
static void test_null_outputs(void **state)
{
    (void)state;
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = 3});
    tg_tensor *x = tg_zeros(TG_F32, 3, (int64_t[]){4, 1, 2});
    bool was = tg_no_grad_begin(); /* outside any scope, nothing to record */
    EXPECT_FAIL(tg_rnn_forward(lstm, x, 0, NULL, NULL, NULL), -1, "tg_rnn_forward");
    EXPECT_FAIL(tg_lstm_forward(lstm, x, NULL, NULL, NULL, NULL), -1, "tg_rnn_forward");
    tg_no_grad_end(was);
    EXPECT_ERR(tg_sum_to(x, 1, NULL), "tg_sum_to");
    EXPECT_ERR(tg_sum_to(x, -1, (int64_t[]){1}), "tg_sum_to");
    EXPECT_ERR(tg_sum_to(x, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}), "tg_sum_to");
    tg_free(x);
    tg_rnn_free(lstm);
}

/* 6. Work over an empty tensor returns at once, however large its other
 * dims: no loop runs 2^62 times. */
static void test_empty_work_returns_at_once(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    const int64_t huge = (int64_t)1 << 59;
    tg_tensor *wide = tg_zeros(TG_F32, 2, (int64_t[]){0, huge}), *tall = tg_zeros(TG_F32, 2, (int64_t[]){huge, 0});
    for (int dim = 0; dim < 2; dim++) {
        EXPECT_OK(tg_softmax(wide, dim));
        EXPECT_OK(tg_log_softmax(tall, dim));
        EXPECT_OK(tg_softmax(tall, dim));
    }
    EXPECT_OK(tg_layer_norm(wide, 1, NULL, NULL, 1e-5));
    EXPECT_OK(tg_layer_norm(tall, 1, NULL, NULL, 1e-5));
    tg_tensor *batches = tg_zeros(TG_F32, 3, (int64_t[]){(int64_t)1 << 50, 0, 3});
    tg_tensor *right = tg_expand(tg_zeros(TG_F32, 3, (int64_t[]){1, 3, 2}), 3, (int64_t[]){(int64_t)1 << 50, 3, 2});
    EXPECT_OK(tg_bmm(batches, right));
    EXPECT_OK(tg_matmul(batches, right));
    /* Backward over the same shapes. */
    tg_tensor *leaf = tg_requires_grad(tg_zeros(TG_F64, 2, (int64_t[]){huge, 0}), true);
    assert_int_equal(tg_backward(tg_sum(tg_softmax(leaf, 0), 0, NULL, false), NULL), 0);
    assert_int_equal(tg_backward(tg_sum(tg_layer_norm(leaf, 2, NULL, NULL, 1e-5), 0, NULL, false), NULL), 0);
    tg_scope_end(s);
}

static tg_tensor *wrong_shape_hook(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t, (void)ctx;
    return tg_ones(grad->dtype, 1, (int64_t[]){7});
}

/* 7. Nothing is left behind: a scope leaf's .grad, backward's own
 * temporaries outside a scope, the cell functions' temporaries, GEMM's
 * packing buffers. */
static void test_no_leaks(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors();
    for (int i = 0; i < 50; i++) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_requires_grad(tg_ones(TG_F32, 1, (int64_t[]){1000}), true);
        assert_int_equal(tg_backward(tg_sum(tg_mul(x, x), 0, NULL, false), NULL), 0);
        assert_non_null(x->grad);
        tg_scope_end(s);
    }
    assert_int_equal(tg__live_tensors() - live, 0);

    /* backward outside any scope adds the leaf's .grad, nothing else */
    tg_tensor *x = leaf_f64(1, (int64_t[]){5}, -1, 1);
    tg_tensor *squares = tg_mul(x, x), *loss = tg_sum(squares, 0, NULL, false);
    live = tg__live_tensors();
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_int_equal(tg__live_tensors() - live, 1);
    tg_free(loss);
    tg_free(squares);
    tg_free(x);

    /* a backward that fails (a hook's gradient of the wrong shape) outside
     * any scope takes back the retained gradient it made */
    x = leaf_f64(1, (int64_t[]){5}, -1, 1);
    squares = tg_mul(x, x);
    loss = tg_sum(squares, 0, NULL, false);
    assert_int_equal(tg_retain_grad(squares), 0);
    assert_int_equal(tg_register_hook(squares, wrong_shape_hook, NULL), 0);
    live = tg__live_tensors();
    assert_int_equal(tg_backward(loss, NULL), -1);
    assert_error_contains("returned a gradient of shape [7]");
    assert_null(squares->grad);
    assert_int_equal(tg__live_tensors() - live, 0);
    tg_free(loss);
    tg_free(squares);
    tg_free(x);

    /* one step of a cell, outside a scope with nothing to record */
    tg_cell_layer *lstm = tg_cell_layer_new(&tg_cell_lstm, 3, 4, true, TG_F32);
    tg_cell_layer *gru = tg_cell_layer_new(&tg_cell_gru, 3, 4, true, TG_F32);
    tg_tensor *in = tg_ones(TG_F32, 2, (int64_t[]){2, 3}), *state4 = tg_ones(TG_F32, 2, (int64_t[]){2, 4});
    bool was = tg_no_grad_begin();
    live = tg__live_tensors();
    tg_tensor *next[TG_CELL_MAX_STATES] = {0}, *h_gru[TG_CELL_MAX_STATES] = {0};
    tg_tensor *h = tg_cell_layer_forward(lstm, in, 2, (tg_tensor *[]){state4, state4}, next);
    tg_tensor *outputs[] = {h, next[0], next[1], tg_cell_layer_forward(gru, in, 1, &state4, h_gru), h_gru[0]};
    tg_no_grad_end(was);
    assert_int_equal(tg__live_tensors() - live, 5);
    for (int i = 0; i < 5; i++) {
        assert_non_null(outputs[i]);
        tg_free(outputs[i]);
    }
    tg_free(in);
    tg_free(state4);
    tg_cell_layer_free(lstm);
    tg_cell_layer_free(gru);
}

/* The sum of t's elements, read without recording anything. */
static double total_of(tg_tensor *t)
{
    tg_scope *s = tg_scope_begin();
    bool was = tg_no_grad_begin();
    double v = tg_item(tg_sum(tg_cast(t, TG_F64), 0, NULL, false));
    tg_no_grad_end(was);
    tg_scope_end(s);
    return v;
}

/* 7. A graph recorded outside any scope: the ops built from other ops keep
 * their temporaries for it (its backward reads them), and
 * tg_release_thread_memory frees them with its tape; the results the
 * caller holds keep their values, and freeing them and the leaves leaves
 * nothing. */
static void test_graphs_outside_scopes_leave_nothing(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors();
    tg_manual_seed(4);
    tg_tensor *x = leaf_f64(2, (int64_t[]){4, 6}, -1, 1), *w = leaf_f64(2, (int64_t[]){3, 6}, -1, 1);
    tg_tensor *v = leaf_f64(1, (int64_t[]){6}, -1, 1);
    tg_tensor *xt = tg_transpose(x, 0, 1), *gt = tg_gt(x, v), *lt = tg_lt(x, v);
    tg_tensor *target = tg_randint(1, (int64_t[]){4}, 0, 6), *idx = NULL, *pair[2] = {x, x}, *tx = tg_tanh(x);
    /* Strided indices: the index ops keep contiguous copies for backward. */
    tg_tensor *grid = tg_randint(2, (int64_t[]){3, 4}, 0, 3), *grid_t = tg_transpose(grid, 0, 1);
    tg_tensor *column = tg_select(grid, 1, 2);
    tg_tensor *results[] = {
        tg_where(gt, x, v), tg_masked_fill(x, lt, 1.0), tg_sum(x, 0, NULL, false), tg_mean(x, 1, (int[]){1}, true),
        tg_var(x, 0, NULL, true, false), tg_std(x, 1, (int[]){0}, false, false), tg_logsumexp(x, 1, (int[]){1}, false),
        tg_norm(x, 2, 0, NULL, false), tg_max(x), tg_max_dim(x, 1, false, &idx), tg_sum_to(x, 1, (int64_t[]){6}),
        tg_matmul(x, v), tg_matmul(v, v), tg_outer(v, v), tg_linear(x, w, NULL), tg_reshape(xt, 1, (int64_t[]){24}),
        tg_cat(2, pair, 0), tg_stack(2, pair, 1), tg_pad(x, 2, (int64_t[]){1, 1}, 0.0), tg_softmax(x, 1),
        tg_log_softmax(xt, 0), tg_layer_norm(x, 1, NULL, NULL, 1e-5), tg_dropout(x, 0.5, true),
        tg_mse_loss(x, tx, TG_REDUCTION_MEAN), tg_cross_entropy(x, target, NULL), tg_index_select(x, 1, column),
        tg_gather(x, 1, grid_t), tg_embedding(w, grid_t, -1), tg_scatter_add(x, 1, grid_t, x),
    };
    enum { N = sizeof results / sizeof results[0] };
    double before[N];
    for (int i = 0; i < N; i++) {
        assert_non_null(results[i]);
        assert_true(results[i]->requires_grad);
        before[i] = total_of(results[i]);
    }

    /* Recurrent layers: a bidirectional two-layer LSTM over padded
     * sequences, a cell built on tg_fuse, one step of a GRU cell. */
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 6, .hidden_size = 3, .num_layers = 2,
                                                  .bidirectional = true, .dtype = TG_F64});
    tg_rnn *peephole = tg_rnn_new(&tg_cell_lstm_peephole, &(tg_rnn_config){.input_size = 6, .hidden_size = 3,
                                                                             .dtype = TG_F64});
    tg_cell_layer *gru = tg_cell_layer_new(&tg_cell_gru, 6, 3, true, TG_F64);
    tg_tensor *seq = tg_reshape(x, 3, (int64_t[]){4, 1, 6}), *seq2 = tg_expand(seq, 3, (int64_t[]){4, 2, 6});
    tg_rnn_output out, out2;
    assert_int_equal(tg_lstm_forward(lstm, seq2, NULL, NULL, (int64_t[]){4, 2}, &out), 0);
    assert_int_equal(tg_rnn_forward(peephole, seq, 0, NULL, NULL, &out2), 0);
    tg_tensor *next[TG_CELL_MAX_STATES] = {0};
    tg_tensor *h = tg_cell_layer_forward(gru, x, 0, NULL, next);
    assert_non_null(h);
    tg_tensor *layers[] = {out.output, out.h_n, out.c_n, out2.output, out2.h_n, out2.c_n, h, next[0]};
    enum { L = sizeof layers / sizeof layers[0] };
    double layer_before[L];
    for (int i = 0; i < L; i++) {
        assert_non_null(layers[i]);
        layer_before[i] = total_of(layers[i]);
    }
    tg_tensor *loss = tg_sum(out.output, 0, NULL, false);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_non_null(x->grad);
    double grad_before = total_of(x->grad);

    tg_release_thread_memory();
    for (int i = 0; i < N; i++) {
        assert_false(results[i]->requires_grad);
        assert_true(total_of(results[i]) == before[i]);
        tg_free(results[i]);
    }
    for (int i = 0; i < L; i++) {
        assert_true(total_of(layers[i]) == layer_before[i]);
        tg_free(layers[i]);
    }
    assert_true(total_of(x->grad) == grad_before);
    tg_tensor *rest[] = {loss, idx, tx, grid, grid_t, column, xt, gt, lt, target, seq, seq2, x, w, v};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) tg_free(rest[i]);
    tg_rnn_free(lstm);
    tg_rnn_free(peephole);
    tg_cell_layer_free(gru);
    assert_int_equal(tg__live_tensors() - live, 0);
}

/* A user's function built from ops, bracketed by tg_op_begin/tg_op_end. */
static tg_tensor *mish(tg_tensor *x, tg_tensor *scale)
{
    tg_tensor *in[2] = {x, scale};
    tg_scope *s = tg_op_begin(scale ? 2 : 1, in);
    tg_tensor *y = tg_mul(x, tg_tanh(tg_softplus(x, 1, 20)));
    return tg_op_end(s, scale ? tg_mul(y, scale) : y);
}

/* d/dx of sum(mish(x)), computed inside a scope. */
static double mish_grad_total(tg_tensor *x)
{
    bool was = tg_no_grad_begin();
    tg_tensor *leaf = tg_requires_grad(tg_clone(x), true);
    tg_no_grad_end(was);
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(mish(leaf, NULL), 0, NULL, false), NULL), 0);
    tg_scope_end(s);
    double g = total_of(leaf->grad);
    tg_free(leaf);
    return g;
}

static void test_user_ops_outside_scopes(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors();
    tg_manual_seed(5);
    tg_tensor *x = leaf_f64(2, (int64_t[]){3, 4}, -2, 2);
    double expected = mish_grad_total(x);
    /* A graph: its temporaries go with tg_release_thread_memory. */
    tg_tensor *y = mish(x, NULL), *loss = tg_sum(y, 0, NULL, false);
    assert_true(y && y->requires_grad);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_true(fabs(total_of(x->grad) - expected) < 1e-12);
    tg_release_thread_memory();
    tg_free(loss);
    tg_free(y);
    /* Nothing to record: a persistent copy, the temporaries gone at once. */
    int64_t before = tg__live_tensors();
    bool was = tg_no_grad_begin();
    y = mish(x, NULL);
    tg_no_grad_end(was);
    assert_non_null(y);
    assert_false(y->requires_grad);
    assert_int_equal(tg__live_tensors() - before, 1);
    tg_free(y);
    /* An input left out of tg_op_begin that requires grad: a failure, not a
     * result cut off from its graph. */
    was = tg_no_grad_begin();
    tg_tensor *plain = tg_clone(x), *scale = leaf_f64(0, NULL, 2, 2);
    tg_no_grad_end(was);
    tg_tensor *in[1] = {plain};
    tg_scope *s = tg_op_begin(1, in);
    assert_null(tg_op_end(s, tg_mul(plain, scale)));
    assert_error_contains("tg_op_end: the result requires grad, but no input given to tg_op_begin does");
    assert_int_equal(tg__live_tensors() - before, 2);
    /* Inside a scope both do nothing. */
    s = tg_scope_begin();
    y = mish(plain, scale);
    assert_true(y && !y->persistent && y->requires_grad);
    tg_scope_end(s);
    tg_free(plain);
    tg_free(scale);
    tg_free(x);
    assert_int_equal(tg__live_tensors() - live, 0);
}

/* Outside any scope the graph keeps what it reads, as PyTorch's holds its
 * own references: the caller may free an intermediate, even a leaf, before
 * the backward that goes through it. */
static void test_freed_before_backward_outside_scopes(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors();
    tg_manual_seed(6);
    tg_tensor *x = leaf_f64(1, (int64_t[]){5}, -1, 1), *w = leaf_f64(1, (int64_t[]){5}, -1, 1);
    /* The gradient the same graph gives inside a scope. */
    double expected[5];
    tg_scope *s = tg_scope_begin();
    tg_tensor *e = tg_exp(x);
    assert_int_equal(tg_backward(tg_sum(tg_mul(tg_div(e, tg_norm(e, 2, 1, (int[]){0}, true)), w), 0, NULL, false), NULL), 0);
    for (int64_t i = 0; i < 5; i++) expected[i] = tg_get(x->grad, &i);
    tg_scope_end(s);
    tg_zero_grad(1, &x);
    /* Outside: each intermediate freed as soon as it is used, the leaf w too. */
    tg_tensor *y = tg_exp(x), *n = tg_norm(y, 2, 1, (int[]){0}, true), *q = tg_div(y, n);
    tg_free(y);
    tg_free(n);
    tg_tensor *p = tg_mul(q, w);
    tg_free(q);
    tg_free(w);
    tg_clear_error();
    tg_free(w); /* a second free is still reported, not done */
    assert_error_contains("tg_free");
    tg_tensor *z = tg_sum(p, 0, NULL, false);
    tg_free(p);
    assert_int_equal(tg_backward(z, NULL), 0);
    for (int64_t i = 0; i < 5; i++) assert_true(tg_get(x->grad, &i) == expected[i]);
    tg_release_thread_memory();
    tg_free(z);
    tg_free(x);
    assert_int_equal(tg__live_tensors() - live, 0);
}

/* The model of the training loops below: LSTM(3, 4) over 5 steps of one
 * sequence, tanh, Linear(4, 2) with a leaf weight w, MSE against target. */
typedef struct {
    tg_lstm *lstm;
    tg_tensor *w, *target, *x;
} loop_model;

static loop_model loop_model_new(uint64_t seed)
{
    tg_manual_seed(seed);
    /* One statement each: the order in which they draw random numbers is fixed. */
    loop_model m;
    m.lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 3, .hidden_size = 4, .dtype = TG_F64});
    m.w = leaf_f64(2, (int64_t[]){2, 4}, -1, 1);
    m.target = tg_randn(TG_F64, 2, (int64_t[]){5, 2}, 0, 1);
    m.x = tg_randn(TG_F64, 3, (int64_t[]){5, 1, 3}, 0, 1);
    assert_true(m.lstm && m.w && m.target && m.x);
    return m;
}

/* Everything a forward made, each the caller's to free. */
typedef struct {
    tg_rnn_output out;
    tg_tensor *flat, *act, *pred, *loss;
} loop_step;

static loop_step loop_forward(const loop_model *m)
{
    loop_step f;
    assert_int_equal(tg_lstm_forward(m->lstm, m->x, NULL, NULL, NULL, &f.out), 0);
    f.flat = tg_reshape(f.out.output, 2, (int64_t[]){5, 4});
    f.act = tg_tanh(f.flat);
    f.pred = tg_linear(f.act, m->w, NULL);
    f.loss = tg_mse_loss(f.pred, m->target, TG_REDUCTION_MEAN);
    return f;
}

static void loop_model_free(loop_model *m)
{
    tg_release_thread_memory();
    tg_free(m->w);
    tg_free(m->target);
    tg_free(m->x);
    tg_rnn_free(m->lstm);
}

/* A training loop outside any scope that frees what it made after each
 * backward holds nothing back: the backward releases its nodes, and what
 * they alone read (the intermediates freed before it, the layers'
 * temporaries) goes at its end. */
static void test_training_outside_scopes_holds_nothing(void **state)
{
    (void)state;
    loop_model m = loop_model_new(8);
    int64_t live = 0;
    for (int step = 0; step < 20; step++) {
        loop_step f = loop_forward(&m);
        tg_tensor *mine[] = {f.out.output, f.out.h_n, f.out.c_n, f.flat, f.act, f.pred};
        for (int i = 0; i < 6; i++) tg_free(mine[i]); /* before the backward that reads them */
        assert_true(tg__graph_held() > 0);
        assert_int_equal(tg_backward(f.loss, NULL), 0);
        tg_free(f.loss);
        assert_int_equal(tg__graph_held(), 0);
        /* The same tensors live after every step: the parameters, their
         * gradients (made by the first), the data. */
        if (step == 0) live = tg__live_tensors();
        assert_int_equal(tg__live_tensors(), live);
    }
    loop_model_free(&m);
}

static int hook_calls;
static tg_tensor *count_hook(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    hook_calls++;
    return tg_mul_scalar(grad, 2.0);
}

/* The same loop keeps the outputs it holds across the backward: once the
 * backward has released every node, the base-level tape and the arena go
 * back to where they were, so the loop reuses its memory as one inside a
 * scope does (before, every step's nodes stayed until
 * tg_release_thread_memory). What the caller held keeps its op's name and
 * refuses a second backward, as PyTorch's grad_fn does. */
static void test_training_outside_scopes_reuses_memory(void **state)
{
    (void)state;
    loop_model m = loop_model_new(9);
    size_t used = 0, chunks = 0;
    int64_t live = 0;
    double first_loss = 0;
    for (int step = 0; step < 20; step++) {
        loop_step f = loop_forward(&m);
        tg_tensor *loss = f.loss, *pred = f.pred;
        assert_true(tg_arena_used() > used);
        assert_int_equal(tg_backward(loss, NULL), 0);
        /* The final states' nodes, which the loss does not reach, go with
         * them; then no node can run again. */
        tg_free(f.out.h_n);
        tg_free(f.out.c_n);
        if (step == 0) {
            used = tg_arena_used();
            chunks = tg_arena_chunk_allocs();
            live = tg__live_tensors();
            first_loss = tg_item(loss);
        }
        assert_int_equal(tg_arena_used(), used);
        assert_int_equal(tg_arena_chunk_allocs(), chunks);
        assert_int_equal(tg__live_tensors(), live);
        assert_int_equal(tg__graph_held(), 0);
        /* Held past its graph: the op's name, and no second backward
         * through it, directly or from a new graph that reads it. */
        char text[256];
        tg_repr(loss, text, sizeof text);
        assert_non_null(strstr(text, "grad_fn=<mean>"));
        EXPECT_FAIL(tg_backward(loss, NULL), -1, "tg_backward: Trying to backward through the graph a second time");
        tg_tensor *square = tg_mul(pred, pred), *again = tg_sum(square, 0, NULL, false);
        EXPECT_FAIL(tg_backward(again, NULL), -1, "tg_backward: Trying to backward through the graph a second time");
        EXPECT_FAIL(tg_register_hook(pred, count_hook, NULL), -1, "tg_register_hook: the graph that made this tensor is gone");
        tg_tensor *mine[] = {f.out.output, f.flat, f.act, pred, loss, square, again};
        for (int i = 0; i < 7; i++) tg_free(mine[i]);
        /* A training step: the loss falls. */
        tg_no_grad_begin();
        tg_add_(m.w, m.w->grad, -0.1);
        tg_no_grad_end(true);
        tg_zero_grad(1, &m.w);
    }
    loop_step f = loop_forward(&m);
    assert_true(tg_item(f.loss) < first_loss);
    tg_tensor *mine[] = {f.out.output, f.out.h_n, f.out.c_n, f.flat, f.act, f.pred, f.loss};
    for (int i = 0; i < 7; i++) tg_free(mine[i]);
    loop_model_free(&m);
}

/* A hook on a leaf registered outside any scope outlives the graphs the
 * loop frees after it: it runs at every backward. Graphs recorded with
 * grad on and never backpropagated (an evaluation that forgot no-grad)
 * are freed with their results. */
static void test_leaf_hook_outlives_freed_graphs(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors();
    tg_tensor *x = leaf_f64(1, (int64_t[]){3}, -1, 1);
    tg_tensor *unused = tg_exp(x);
    tg_free(unused); /* its node dropped, as nothing can reach it: the tape is given back */
    assert_int_equal(tg_arena_used(), 0);
    assert_int_equal(tg_register_hook(x, count_hook, NULL), 0);
    hook_calls = 0;
    size_t used = 0;
    for (int step = 0; step < 5; step++) {
        tg_tensor *square = tg_mul(x, x), *y = tg_sum(square, 0, NULL, false);
        assert_int_equal(tg_backward(y, NULL), 0);
        tg_free(square);
        tg_free(y);
        assert_int_equal(hook_calls, step + 1);
        /* d/dx sum(x^2) = 2x, doubled by the hook, added up over the steps. */
        const double *g = tg_data(x->grad), *v = tg_data(x);
        for (int i = 0; i < 3; i++) assert_true(fabs(g[i] - 4.0 * v[i] * (step + 1)) < 1e-12);
        if (step == 0) used = tg_arena_used();
        assert_int_equal(tg_arena_used(), used);
    }
    for (int step = 0; step < 5; step++) {
        tg_tensor *a = tg_tanh(x), *b = tg_mul(a, x);
        tg_free(a);
        tg_free(b);
        assert_int_equal(tg_arena_used(), used);
    }
    tg_release_thread_memory();
    tg_free(x);
    assert_int_equal(tg__live_tensors(), live);
}

/* A chain of 3000 ops outside any scope, freed from its first result to its
 * last: freeing the last lets go of the chain's nodes one after the other,
 * a bounded number at a time; tg_release_thread_memory takes the rest. */
static void test_long_chain_freed_outside_scopes(void **state)
{
    (void)state;
    enum { N = 3000 };
    int64_t live = tg__live_tensors();
    tg_tensor *x = leaf_f64(1, (int64_t[]){3}, -1, 1), **y = malloc(sizeof *y * N);
    assert_non_null(y);
    for (int i = 0; i < N; i++) y[i] = tg_tanh(i ? y[i - 1] : x);
    assert_true(y[N - 1] && y[N - 1]->requires_grad);
    for (int i = 0; i < N; i++) tg_free(y[i]);
    free(y);
    assert_int_equal(tg__live_tensors() - live, 1); /* x */
    assert_true(tg__graph_held() > 0 && tg__graph_held() < N);
    tg_release_thread_memory();
    assert_int_equal(tg__graph_held(), 0);
    tg_free(x);
    assert_int_equal(tg__live_tensors() - live, 0);
}

/* A recurrent layer with its first parameter frozen still records outside
 * any scope: any of its parameters that requires grad decides. */
static void test_rnn_partly_frozen_outside_scopes(void **state)
{
    (void)state;
    int64_t live = tg__live_tensors();
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = 3, .dtype = TG_F64});
    tg_params params = tg_params_new();
    assert_int_equal(tg_rnn_params(lstm, &params, NULL), 0);
    tg_tensor *w_ih = tg_params_find(&params, "weight_ih_l0"), *w_hh = tg_params_find(&params, "weight_hh_l0");
    assert_true(w_ih && w_hh && lstm->weights[0] == w_ih);
    tg_requires_grad(w_ih, false);
    tg_tensor *x = tg_randn(TG_F64, 3, (int64_t[]){4, 1, 2}, 0, 1);
    tg_rnn_output out;
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, NULL, NULL, &out), 0);
    assert_true(out.output->requires_grad);
    tg_tensor *loss = tg_sum(out.output, 0, NULL, false);
    assert_int_equal(tg_backward(loss, NULL), 0);
    assert_null(w_ih->grad);
    assert_non_null(w_hh->grad);
    tg_release_thread_memory();
    tg_tensor *held[] = {loss, out.output, out.h_n, out.c_n, x};
    for (int i = 0; i < 5; i++) tg_free(held[i]);
    tg_params_free(&params);
    tg_rnn_free(lstm);
    assert_int_equal(tg__live_tensors() - live, 0);
}

/* 7. GEMM's packing buffers go with tg_release_thread_memory and with the
 * thread. */
static void *short_lived(void *arg)
{
    (void)arg;
    tg_set_num_threads(1); /* this thread's own OpenMP setting: no workers */
    bool ok = true;
    for (int round = 0; round < 2; round++) {
        tg_scope *s = tg_scope_begin();
        /* A with no unit stride, which a BLAS build cannot hand to cblas
         * either: the product packs it. */
        tg_tensor *a = tg_ones(TG_F32, 2, (int64_t[]){64, 128}), *c = tg_empty(TG_F32, 2, (int64_t[]){64, 64});
        const float *ad = a ? tg_data(a) : NULL;
        ok = ok && c && tg_gemm_f32(64, 64, 64, 1, ad, 128, 2, ad, 1, 128, 0, tg_data(c), 64, 1) == 0 &&
             tg__thread_scratch_bytes() > 0;
        tg_scope_end(s);
        if (round == 0) {
            tg_release_thread_memory();
            ok = ok && tg__thread_scratch_bytes() == 0;
        }
    }
    return ok ? NULL : (void *)1; /* the second round's memory goes with the thread */
}

static void test_packing_buffers_freed(void **state)
{
    (void)state;
    size_t held = tg__scratch_bytes();
    for (int i = 0; i < 20; i++) {
        pthread_t thread;
        void *failed = NULL;
        assert_int_equal(pthread_create(&thread, NULL, short_lived, NULL), 0);
        assert_int_equal(pthread_join(thread, &failed), 0);
        assert_null(failed);
    }
    assert_int_equal(tg__scratch_bytes(), held);
}

/* 8. Absurd arguments: casts that cannot be represented, sizes whose
 * products wrap, constructors that cannot get their memory (which stop at
 * the first failure and name the function the user called). */
static void test_absurd_arguments(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    const double bad[] = {NAN, INFINITY, -INFINITY, 1e300, 0x1p63};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tg_tensor *x = tg_from_array(TG_F64, 1, (int64_t[]){2}, (double[]){1.0, bad[i]});
        EXPECT_ERR(tg_cast(x, TG_I64), "tg_cast: value cannot be converted to type int64 without overflow");
        EXPECT_FAIL(tg_copy_(tg_zeros(TG_I64, 1, (int64_t[]){2}), x), -1, "tg_copy_: value cannot be converted");
        EXPECT_ERR(tg_cast(tg_cast(x, TG_F32), TG_I64), "tg_cast");
    }
    /* int64 extremes print as themselves (found by the API fuzzer). */
    char text[128];
    tg_repr(tg_from_array(TG_I64, 1, (int64_t[]){2}, (int64_t[]){INT64_MAX, INT64_MIN}), text, sizeof text);
    assert_non_null(strstr(text, "9223372036854775807"));
    assert_non_null(strstr(text, "-9223372036854775808"));
    tg_tensor *fine = tg_cast(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){-0x1p63, -2.5, 7.9}), TG_I64);
    assert_true(tg_get(fine, (int64_t[]){0}) == -0x1p63 && tg_get(fine, (int64_t[]){1}) == -2 &&
                tg_get(fine, (int64_t[]){2}) == 7);
    /* A cast of a view of 2^40 elements (one value, expanded) is refused for
     * its result's memory before any value is read: the check of the values
     * used to come first, and read the 2^40 (found by the API fuzzer: 2
     * minutes for a view the fuzzer's memory limit refused). */
    tg_tensor *one = tg_from_array(TG_F64, 1, (int64_t[]){1}, (double[]){1.5});
    tg_tensor *vast = tg_expand(one, 2, (int64_t[]){(int64_t)1 << 20, (int64_t)1 << 20});
    assert_non_null(vast);
    tg__alloc_limit((size_t)1 << 30);
    EXPECT_ERR(tg_cast(vast, TG_I64), "tg_cast: can't allocate memory");
    EXPECT_ERR(tg_cast(tg_expand(tg_from_array(TG_F64, 1, (int64_t[]){1}, (double[]){NAN}), 1, (int64_t[]){4}), TG_I64),
               "tg_cast: value cannot be converted to type int64 without overflow");
    tg__alloc_limit(0);
    tg_scope_end(s);

    const int64_t wraps = (int64_t)1 << 62;
    EXPECT_ERR(tg_lstm_new(&(tg_lstm_config){.input_size = 1, .hidden_size = wraps}), "tg_lstm_new");
    EXPECT_ERR(tg_gru_new(&(tg_gru_config){.input_size = wraps, .hidden_size = 1}), "tg_gru_new");
    EXPECT_ERR(tg_cell_layer_new(&tg_cell_lstm, 1, wraps, true, TG_F32), "tg_cell_layer_new");
    EXPECT_ERR(tg_lstm_new(&(tg_lstm_config){.input_size = 1, .hidden_size = 8, .num_layers = 1 << 30}), "tg_lstm_new");

    /* Memory for 1e9 hidden units is refused (as a machine without it would):
     * one refusal, and the message starts with the constructor's name. */
    tg__alloc_limit((size_t)1 << 30);
    tg__alloc_fail_at(INT64_MAX);
    tg_clear_error();
    assert_null(tg_lstm_new(&(tg_lstm_config){.input_size = 1, .hidden_size = 1000000000}));
    assert_int_equal(tg__alloc_refusals(), 1);
    assert_true(strncmp(tg_last_error(), "tg_lstm_new: ", 13) == 0);
    assert_error_contains("can't allocate memory");
    tg__alloc_fail_at(INT64_MAX);
    tg_clear_error();
    assert_null(tg_cell_layer_new(&tg_cell_gru, 1, 1000000000, true, TG_F32));
    assert_int_equal(tg__alloc_refusals(), 1);
    assert_true(strncmp(tg_last_error(), "tg_cell_layer_new: ", 19) == 0);
    tg__alloc_fail_at(INT64_MAX);
    tg_clear_error();
    assert_null(tg_linear_layer_new(1000000000, 1000, true, TG_F32));
    assert_int_equal(tg__alloc_refusals(), 1);
    assert_true(strncmp(tg_last_error(), "tg_linear_layer_new: ", 21) == 0);
    tg__alloc_fail_at(INT64_MAX);
    tg_clear_error();
    assert_null(tg_embedding_layer_new(1000000000, 1000, -1, TG_F32));
    assert_true(strncmp(tg_last_error(), "tg_embedding_layer_new: ", 24) == 0);
    tg__alloc_fail_at(INT64_MAX);
    tg_clear_error();
    assert_null(tg_layernorm_layer_new(2, (int64_t[]){100000, 10000}, 1e-5, true, TG_F32));
    assert_int_equal(tg__alloc_refusals(), 1); /* the weight fails; no bias is tried */
    assert_true(strncmp(tg_last_error(), "tg_layernorm_layer_new: ", 24) == 0);
    tg__alloc_fail_at(-1);
    tg__alloc_limit(0);
}

/* 9. Ownership: a returned tensor is always a new header the caller owns
 * outside a scope, never the input itself; freeing input and result is
 * right, and a second free of one tensor is reported in debug builds. */
static void test_returned_tensors_are_new(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F64, 2, (int64_t[]){2, 3}), true);
    tg_tensor *same[] = {tg_contiguous(x), tg_dropout(x, 0.5, false), tg_dropout(x, 0, true),
                         tg_sum_to(x, 2, (int64_t[]){2, 3})};
    for (int i = 0; i < 4; i++) {
        assert_non_null(same[i]);
        assert_true(same[i] != x && same[i]->storage == x->storage && same[i]->persistent);
        assert_true(same[i]->requires_grad); /* the gradient passes through */
    }
    /* The gradient flows through such a result. */
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_backward(tg_sum(tg_contiguous(x), 0, NULL, false), NULL), 0);
    assert_true(tg_get(x->grad, (int64_t[]){1, 2}) == 1.0);
    tg_scope_end(s);
    tg_free(x);
    for (int i = 0; i < 4; i++) {
        assert_true(tg_get(same[i], (int64_t[]){1, 1}) == 1.0); /* the storage lives on */
        tg_free(same[i]);
    }
#ifndef NDEBUG
    tg_tensor *once = tg_zeros(TG_F32, 1, (int64_t[]){4});
    tg_free(once);
    tg_clear_error();
    tg_free(once);
    assert_error_contains("tg_free");
    assert_error_contains("freed twice");
#endif
}

/* 10. In sanitizer builds the arena's unused and freed memory is poisoned,
 * so ASan sees an overflow inside a scope's chunk. */
static void test_arena_poisoned(void **state)
{
    (void)state;
#ifdef TG_ASAN
    tg_scope *s = tg_scope_begin();
    tg_tensor *t = tg_empty(TG_F32, 1, (int64_t[]){3});
    char *data = tg_data(t);
    assert_false(__asan_address_is_poisoned(data));
    assert_false(__asan_address_is_poisoned(data + 11));
    assert_true(__asan_address_is_poisoned(data + 12)); /* the padding past the end */
    tg_scope_end(s);
    assert_true(__asan_address_is_poisoned(data)); /* an ended scope's memory */
    tg_tensor *kept = tg_empty(TG_F64, 1, (int64_t[]){5});
    assert_true(__asan_address_is_poisoned((char *)tg_data(kept) + 40)); /* persistent slack */
    tg_free(kept);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_sizes_checked),
        cmocka_unit_test(test_saved_tensors_modified_in_place),
        cmocka_unit_test(test_unread_outputs_modified_in_place),
        cmocka_unit_test(test_product_factors_read_for_the_other),
        cmocka_unit_test(test_product_factor_made_to_require_grad_later),
        cmocka_unit_test(test_backward_out_of_memory),
        cmocka_unit_test(test_forward_out_of_memory), cmocka_unit_test(test_matmul_vectors_out_of_memory),
        cmocka_unit_test(test_pad_out_of_memory),
        cmocka_unit_test(test_release_detaches_persistent_results),
        cmocka_unit_test(test_gradcheck_same_leaf_twice),
        cmocka_unit_test(test_null_outputs),
        cmocka_unit_test(test_empty_work_returns_at_once),
        cmocka_unit_test(test_no_leaks),
        cmocka_unit_test(test_graphs_outside_scopes_leave_nothing),
        cmocka_unit_test(test_user_ops_outside_scopes),
        cmocka_unit_test(test_freed_before_backward_outside_scopes),
        cmocka_unit_test(test_training_outside_scopes_holds_nothing),
        cmocka_unit_test(test_training_outside_scopes_reuses_memory),
        cmocka_unit_test(test_leaf_hook_outlives_freed_graphs),
        cmocka_unit_test(test_long_chain_freed_outside_scopes),
        cmocka_unit_test(test_rnn_partly_frozen_outside_scopes),
        cmocka_unit_test(test_packing_buffers_freed),
        cmocka_unit_test(test_absurd_arguments),
        cmocka_unit_test(test_returned_tensors_are_new),
        cmocka_unit_test(test_arena_poisoned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
