/* Progress of a training run, for the examples.
 *
 * On a terminal, one line that redraws itself (at most ten times a second):
 *
 *     epoch 2/8  [ 212/469]  loss 0.4213  9120 img/s  0:07 left
 *
 * and when the epoch ends, that line is replaced by the epoch's summary.
 * When stdout is not a terminal (a pipe, a log file, CI) nothing is drawn
 * while the epoch runs and the summary is one plain line, flushed at once,
 * so a log shows each epoch as it ends. With quiet set, nothing is printed
 * at all (the example prints its final result itself).
 *
 *     progress p = progress_new(quiet, "img");
 *     for (int epoch = 1; epoch <= epochs; epoch++) {
 *         progress_begin(&p, epoch, epochs, n_batches);
 *         for (each batch) { ...; progress_step(&p, batch_size, loss); }
 *         progress_end(&p, "test accuracy %.4f", accuracy);
 *     }
 *
 * The summary reads "epoch 2/8  loss 0.4213  9120 img/s  21.4 s  test
 * accuracy 0.8812": the mean of the losses given to progress_step, the
 * speed and the epoch's time, then the caller's text. */
#ifndef EXAMPLES_PROGRESS_H
#define EXAMPLES_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool quiet, tty;
    const char *unit;        /* what items are: "img", "char", "seq" */
    const char *label;       /* what a round is: "epoch" (the default), "run" */
    int epoch, epochs;
    int64_t batch, batches;  /* batches done and in the epoch */
    int64_t items;           /* items done in the epoch */
    double loss_sum;         /* sum of the losses of the batches done */
    double start, drawn;     /* seconds: epoch start, last redraw */
    double seconds;          /* the last finished epoch's time */
} progress;

/* A progress display; unit names the items counted ("img" gives img/s).
 * Set .label afterwards to count rounds other than epochs. */
progress progress_new(bool quiet, const char *unit);
/* Start epoch `epoch` of `epochs`, which has `batches` batches. */
void progress_begin(progress *p, int epoch, int epochs, int64_t batches);
/* One batch of `items` items done with loss `loss`. */
void progress_step(progress *p, int64_t items, double loss);
/* End the epoch: print its summary followed by the printf-style text
 * (fmt may be NULL). Returns the epoch's mean loss. */
double progress_end(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seconds on a monotonic clock. */
double progress_now(void);

#endif
