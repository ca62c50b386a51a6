/* Test helpers: golden fixtures from PyTorch, closeness assertions, and a
 * gradcheck assertion. Include after <cmocka.h>'s prerequisites. */
#ifndef TG_TEST_SUPPORT_H
#define TG_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tapegrad.h"

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

#endif
