#include <tapegrad/error.h>
#include <tapegrad/version.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_message[1024];
static _Thread_local tg_error_handler handler;
static _Thread_local void *handler_user;
static _Thread_local uint64_t recorded;

uint64_t tg__error_count(void) { return recorded; }

tg_tensor *tg__named_result(const char *fn, uint64_t errors, tg_tensor *y)
{
    return !y && recorded != errors ? tg_error("%s: %s", fn, last_message) : y;
}

const char *tg_last_error(void) { return last_message; }

void tg_clear_error(void) { last_message[0] = '\0'; }

tg_error_handler tg_set_error_handler(tg_error_handler h, void *user)
{
    tg_error_handler previous = handler;
    handler = h;
    handler_user = user;
    return previous;
}

/* Formatted apart first, so that a message may quote tg_last_error(). */
static void record(const char *fmt, va_list ap)
{
    char message[sizeof last_message];
    vsnprintf(message, sizeof message, fmt, ap);
    memcpy(last_message, message, sizeof message);
    recorded++;
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
