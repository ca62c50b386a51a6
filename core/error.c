#include <tapegrad/error.h>
#include <tapegrad/version.h>
#include <stdio.h>

static _Thread_local char last_message[1024];
static _Thread_local tg_error_handler handler;
static _Thread_local void *handler_user;

const char *tg_last_error(void) { return last_message; }

void tg_clear_error(void) { last_message[0] = '\0'; }

tg_error_handler tg_set_error_handler(tg_error_handler h, void *user)
{
    tg_error_handler previous = handler;
    handler = h;
    handler_user = user;
    return previous;
}

static void record(const char *fmt, va_list ap)
{
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    if (handler) handler(last_message, handler_user);
}

void *tg_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return NULL;
}

int tg_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return -1;
}

const char *tg_version(void) { return TG_VERSION_STRING; }
