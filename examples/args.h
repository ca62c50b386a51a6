/* Command-line values for the examples. A value is taken whole or refused:
 * atoi("abc") is 0 and atoi("99999999999") is whatever the conversion makes
 * of it, either of which would run the example with sizes nobody asked for.
 * Each function takes the value after the flag argv[*i] (moving *i past it)
 * and on a bad or missing value prints
 *
 *     sine: --epochs must be a whole number in 1..1000000, not 'abc'
 *
 * to stderr and returns false; the example then exits with status 2:
 *
 *     if (strcmp(argv[i], "--epochs") == 0) ok = arg_int("sine", argc, argv, &i, 1, 1000000, &epochs);
 *     ...
 *     if (!ok) return 2;
 */
#ifndef EXAMPLES_ARGS_H
#define EXAMPLES_ARGS_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text after the flag argv[*i]. */
static inline bool arg_text(const char *prog, int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", prog, argv[*i]);
        return false;
    }
    *out = argv[++*i];
    return true;
}

/* A whole number in lo..hi. */
static inline bool arg_int64(const char *prog, int argc, char **argv, int *i, int64_t lo, int64_t hi, int64_t *out)
{
    const char *flag = argv[*i], *text;
    if (!arg_text(prog, argc, argv, i, &text)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    /* strtoll would skip leading spaces; no one means " 5" */
    const char *first = *text == '-' || *text == '+' ? text + 1 : text;
    bool digits = *first >= '0' && *first <= '9';
    if (!digits || *end || errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "%s: %s must be a whole number in %lld..%lld, not '%s'\n", prog, flag, (long long)lo,
                (long long)hi, text);
        return false;
    }
    *out = v;
    return true;
}

static inline bool arg_int(const char *prog, int argc, char **argv, int *i, int lo, int hi, int *out)
{
    int64_t v;
    if (!arg_int64(prog, argc, argv, i, lo, hi, &v)) return false;
    *out = (int)v;
    return true;
}

/* A finite number in the interval `range`, written as in mathematics,
 * "(0, 10]" or "[0, 1)": the message quotes it as the example documents it. */
static inline bool arg_real(const char *prog, int argc, char **argv, int *i, const char *range, double *out)
{
    const char *flag = argv[*i], *text;
    if (!arg_text(prog, argc, argv, i, &text)) return false;
    char open, close;
    double lo, hi;
    if (sscanf(range, "%c%lf ,%lf%c", &open, &lo, &hi, &close) != 4) abort(); /* a typo in the example */
    char *end;
    double v = strtod(text, &end);
    /* strtod would skip leading spaces too */
    const char *first = *text == '-' || *text == '+' ? text + 1 : text;
    bool digits = (*first >= '0' && *first <= '9') || *first == '.';
    bool in = isfinite(v) && (open == '(' ? v > lo : v >= lo) && (close == ')' ? v < hi : v <= hi);
    if (!digits || end == text || *end || !in) {
        fprintf(stderr, "%s: %s must be a number in %s, not '%s'\n", prog, flag, range, text);
        return false;
    }
    *out = v;
    return true;
}

/* A seed: any whole number that fits in 64 bits, none negative (strtoull
 * would turn "-1" into 2^64 - 1). */
static inline bool arg_seed(const char *prog, int argc, char **argv, int *i, uint64_t *out)
{
    const char *flag = argv[*i], *text;
    if (!arg_text(prog, argc, argv, i, &text)) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!(*text >= '0' && *text <= '9') || *end || errno == ERANGE) {
        fprintf(stderr, "%s: %s must be a whole number in 0..18446744073709551615, not '%s'\n", prog, flag, text);
        return false;
    }
    *out = v;
    return true;
}

/* An argument no branch took: say which, then the caller prints its usage
 * to stderr and exits with status 2. */
static inline void arg_unknown(const char *prog, const char *arg)
{
    fprintf(stderr, "%s: unknown option '%s'\n", prog, arg);
}

/* The example's usage, written to `to` with argv0 as the program's name. */
typedef void arg_usage_fn(FILE *to, const char *argv0);

/* An argument no branch took: --help (or -h) prints the usage to stdout
 * and gives 0; anything else is named as unknown, the usage goes to stderr
 * and it gives 2. The example exits with what it gives:
 *
 *     else return arg_other("sine", argv[i], argv[0], usage);
 */
static inline int arg_other(const char *prog, const char *arg, const char *argv0, arg_usage_fn *usage)
{
    bool help = strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
    if (!help) arg_unknown(prog, arg);
    usage(help ? stdout : stderr, argv0);
    return help ? 0 : 2;
}

/* The examples whose only flag is --quiet: sets *quiet, and gives -1 to go
 * on or the exit status arg_other gives for any other argument. */
static inline int arg_quiet_only(const char *prog, int argc, char **argv, arg_usage_fn *usage, bool *quiet)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) *quiet = true;
        else return arg_other(prog, argv[i], argv[0], usage);
    }
    return -1;
}

#endif
