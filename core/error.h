/* Errors: nothing in tapegrad aborts on bad input.
 *
 * A public function that fails returns NULL (or a non-zero status) and
 * records a message in a thread-local slot that names the function and the
 * offending shapes, dtypes or offsets, for example
 *     tg_matmul: shapes [3,4] and [5,6] cannot be multiplied (4 != 5)
 * An op given a NULL input returns NULL without a new message, so a whole
 * expression can be checked once at the end. */
#ifndef TG_ERROR_H
#define TG_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The message of the most recent failure on this thread, or "" if none. */
const char *tg_last_error(void);

/* Forget the last message (tg_last_error() returns "" afterwards). */
void tg_clear_error(void);

/* Called with every new message, on the failing thread; NULL restores the
 * default (record only). A handler may abort, log or count. Returns the
 * previous handler. The handler is the calling thread's: other threads
 * keep their own (none until they set one). */
typedef void (*tg_error_handler)(const char *message, void *user);
tg_error_handler tg_set_error_handler(tg_error_handler handler, void *user);

/* The two ways to fail, one per kind of return value; the library's own
 * functions use nothing else, and custom ops can use them too:
 *     return tg_error("tg_foo: ...");   in a function returning a pointer
 *     return tg_fail("tg_foo: ...");    in a function returning a status
 * Both record a printf-style message; tg_error returns NULL, tg_fail -1.
 * The message may quote tg_last_error() to add context to a failure from a
 * callee, as constructors do: "tg_lstm_new: tg_param_uniform: can't
 * allocate memory ..." (the handler then sees both messages). */
void *tg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tg_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
