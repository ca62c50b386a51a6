/* Shared by the hostile-input tests: checks that a call fails cleanly, and
 * a zoo of awkward tensors. Each call must fail with NULL (or -1, NAN, ...)
 * and a message naming the function, or with NULL and no new message when
 * the bad argument is a NULL tensor (NULL propagates). */
#ifndef TG_TEST_HOSTILE_H
#define TG_TEST_HOSTILE_H

#include "support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* call returns fail_value and leaves a message naming fn. */
#define EXPECT_FAIL(call, fail_value, fn)          \
    do {                                           \
        tg_clear_error();                          \
        assert_true((call) == (fail_value));       \
        assert_error_contains(fn);                 \
    } while (0)
#define EXPECT_ERR(call, fn) EXPECT_FAIL(call, NULL, fn)
/* call returns fail_value without a new message (NULL propagation). */
#define EXPECT_SILENT(call, fail_value)            \
    do {                                           \
        tg_clear_error();                          \
        assert_true((call) == (fail_value));       \
        assert_string_equal(tg_last_error(), "");  \
    } while (0)
#define EXPECT_NULL_SILENT(call) EXPECT_SILENT(call, NULL)
/* call succeeds (non-NULL) and sets no message. */
#define EXPECT_OK(call)                            \
    do {                                           \
        tg_clear_error();                          \
        assert_non_null(call);                     \
        assert_string_equal(tg_last_error(), "");  \
    } while (0)
#define EXPECT_NAN(call, fn)                       \
    do {                                           \
        tg_clear_error();                          \
        assert_true(isnan(call));                  \
        assert_error_contains(fn);                 \
    } while (0)

/* Tensors every table test uses, made in the caller's scope. */
typedef struct {
    tg_tensor *f64;   /* (2,3) F64 */
    tg_tensor *f32;   /* (2,3) F32 */
    tg_tensor *i64;   /* (2,3) I64 zeros */
    tg_tensor *dim0;  /* () F64 */
    tg_tensor *empty; /* (0,3) F64 */
    tg_tensor *other; /* (4,5) F64: broadcasts with none of the above */
    tg_tensor *dead;  /* a tensor whose scope has ended */
} zoo;

static inline zoo make_zoo(void)
{
    tg_scope *inner = tg_scope_begin();
    tg_tensor *dead = tg_ones(TG_F64, 1, (int64_t[]){3});
    tg_scope_end(inner);
    return (zoo){
        .f64 = tg_rand(TG_F64, 2, (int64_t[]){2, 3}, 0.5, 1.5),
        .f32 = tg_rand(TG_F32, 2, (int64_t[]){2, 3}, 0.5, 1.5),
        .i64 = tg_zeros(TG_I64, 2, (int64_t[]){2, 3}),
        .dim0 = tg_scalar(TG_F64, 0.5),
        .empty = tg_zeros(TG_F64, 2, (int64_t[]){0, 3}),
        .other = tg_ones(TG_F64, 2, (int64_t[]){4, 5}),
        .dead = dead,
    };
}


#endif
