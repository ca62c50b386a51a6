/* Test helpers: golden fixtures from PyTorch, closeness assertions, and a
 * gradcheck assertion. Include after <cmocka.h>'s prerequisites. */
#ifndef TG_TEST_SUPPORT_H
#define TG_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <tapegrad/tapegrad.h>

/* Fail the test with a printf-style message, at the caller's file and line. */
#define fail_at(file, line, ...) \
    do { \
        print_error(__VA_ARGS__); \
        print_error("\n"); \
        _fail(file, line); \
    } while (0)

/* Tensor `name` from tests/golden/<file> (written by the scripts beside it),
 * converted to dtype, in the current scope. Fails the test if missing. */
tg_tensor *golden(const char *file, const char *name, tg_dtype dtype);

/* Fails the test unless every element satisfies
 * |actual - expected| <= atol + rtol * |expected| (NaN matches NaN, inf
 * matches inf of the same sign), and the shapes are equal. */
void assert_close_impl(const tg_tensor *actual, const tg_tensor *expected, double rtol, double atol,
                       const char *what, const char *file, int line);
#define assert_close(a, e, rtol, atol, what) assert_close_impl(a, e, rtol, atol, what, __FILE__, __LINE__)

/* Fails the test unless |actual - expected| <= tol, in double (cmocka's
 * assert_float_equal compares in float). */
void assert_near_impl(double actual, double expected, double tol, const char *file, int line);
#define assert_near(a, e, tol) assert_near_impl(a, e, tol, __FILE__, __LINE__)

/* Fails the test unless tg_gradcheck passes (F64, eps 1e-6, atol 1e-6, rtol 1e-4). */
void assert_gradcheck_impl(tg_gradcheck_fn fn, tg_tensor **inputs, int n, void *ctx, const char *what,
                           const char *file, int line);
#define assert_gradcheck(fn, inputs, n, ctx, what) assert_gradcheck_impl(fn, inputs, n, ctx, what, __FILE__, __LINE__)

/* Fails the test unless tg_last_error() contains needle. */
void assert_error_contains_impl(const char *needle, const char *file, int line);
#define assert_error_contains(needle) assert_error_contains_impl(needle, __FILE__, __LINE__)

/* A persistent F64 leaf requiring grad with values uniform in [lo, hi). */
tg_tensor *leaf_f64(int ndim, const int64_t *shape, double lo, double hi);

/* A persistent tensor holding fixture `name` of tests/golden/<file> in dtype,
 * requiring grad if requires_grad. */
tg_tensor *golden_leaf(const char *file, const char *name, tg_dtype dtype, bool requires_grad);

/* --- golden cases with fixtures <name>.in<k>, <name>.gout, <name>.out.<dt>
 * and <name>.grad<k>.<dt> (dt f32 or f64), as gen_*.py's Fixtures.case
 * writes them. */

typedef tg_tensor *(*golden_op)(tg_tensor **in);

typedef struct {
    const char *name;
    int n_inputs;
    unsigned index_inputs; /* bit k: input k is I64 */
    unsigned grad_inputs;  /* bit k: input k gets a gradient */
    golden_op op;
} golden_case;

/* Runs each case in F32 (rtol 1e-5, atol 1e-6) and F64 (1e-12, 1e-12), on
 * the fixture inputs as stored and in a strided layout, comparing the output
 * and, when some input gets one, the gradients after backpropagating gout. */
void run_golden_cases(const char *file, const golden_case *cases, size_t n);

/* --- gradchecks on views of a leaf: an input runs as its leaf (contiguous),
 * a transpose of the first and last dims, a narrow of the last dim (from a
 * leaf 3 longer) or an expand of the first dim (from size 1). */

typedef enum { LAYOUT_CONTIGUOUS, LAYOUT_TRANSPOSED, LAYOUT_SLICED, LAYOUT_EXPANDED, N_LAYOUTS } test_layout;

/* The input viewed in a layout: the view has shape [ndim] (ndim >= 1). */
typedef struct {
    test_layout layout;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} layout_input;

/* A plain leaf of an F64 gradcheck: its shape and value range. */
typedef struct {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    double lo, hi;
} leaf_spec;

/* Assert that x's gradient through y = op(x), backpropagating gout (ones
 * when NULL), is the same (and not all zero) when x (change_x) and y
 * (change_y) are multiplied in place between the forward and the backward:
 * the backward reads neither. */
void assert_change_keeps_grad(tg_tensor *(*op)(tg_tensor *), tg_tensor *x, const tg_tensor *gout, bool change_x,
                              bool change_y);

/* tg_graph_dot of t as text (malloc'd, the caller frees). */
char *graph_dot_text(const tg_tensor *t);

/* The view of leaf (made by assert_gradcheck_layouts) that x->layout names;
 * call it inside the gradcheck fn. */
tg_tensor *layout_view(tg_tensor *leaf, const layout_input *x);

/* assert_gradcheck of fn(ctx) once per layout: input 0 is a fresh leaf in
 * [lo, hi) for the layout set in *x, inputs 1..n_extra fresh leaves as in extra. */
void assert_gradcheck_layouts_impl(tg_gradcheck_fn fn, void *ctx, layout_input *x, double lo, double hi, int n_extra,
                                   const leaf_spec *extra, const char *what, const char *file, int line);
#define assert_gradcheck_layouts(fn, ctx, x, lo, hi, n_extra, extra, what) \
    assert_gradcheck_layouts_impl(fn, ctx, x, lo, hi, n_extra, extra, what, __FILE__, __LINE__)

#endif
