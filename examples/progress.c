/* Progress display: see progress.h. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

progress progress_new(bool quiet, const char *unit)
{
    return (progress){.quiet = quiet, .tty = !quiet && isatty(STDOUT_FILENO), .unit = unit ? unit : "item",
                      .label = "epoch"};
}

void progress_begin(progress *p, int epoch, int epochs, int64_t batches)
{
    p->epoch = epoch;
    p->epochs = epochs;
    p->batch = 0;
    p->batches = batches;
    p->items = 0;
    p->loss_sum = 0;
    p->start = p->drawn = progress_now();
}

static void clock_text(double seconds, char *buf, size_t len)
{
    long s = seconds > 0 && seconds < 1e7 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

void progress_step(progress *p, int64_t items, double loss)
{
    p->batch++;
    p->items += items;
    p->loss_sum += loss;
    double now = progress_now();
    if (!p->tty || (now - p->drawn < 0.1 && p->batch < p->batches)) return;
    p->drawn = now;
    double elapsed = now - p->start, left = elapsed / (double)p->batch * (double)(p->batches - p->batch);
    char eta[32];
    clock_text(left, eta, sizeof eta);
    int width = snprintf(NULL, 0, "%lld", (long long)p->batches);
    /* \r returns to the line's start, \033[K clears what a longer line left. */
    printf("\r%s %d/%d  [%*lld/%lld]  loss %.4g  %.0f %s/s  %s left\033[K", p->label, p->epoch, p->epochs, width,
           (long long)p->batch, (long long)p->batches, p->loss_sum / (double)p->batch,
           (double)p->items / (elapsed > 1e-9 ? elapsed : 1e-9), p->unit, eta);
    fflush(stdout);
}

double progress_end(progress *p, const char *fmt, ...)
{
    p->seconds = progress_now() - p->start;
    double mean = p->batch ? p->loss_sum / (double)p->batch : 0;
    if (p->quiet) return mean;
    printf("%s%s %d/%d  loss %.4g  %.0f %s/s  %.2f s", p->tty ? "\r\033[K" : "", p->label, p->epoch, p->epochs, mean,
           (double)p->items / (p->seconds > 1e-9 ? p->seconds : 1e-9), p->unit, p->seconds);
    if (fmt) {
        printf("  ");
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
    return mean;
}
