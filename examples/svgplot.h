/* A small SVG chart writer for the examples: line charts and grouped bar
 * charts with a title, axis labels, ticks, a legend, and optional log axes.
 * It writes one self-contained .svg file that any browser shows (and
 * `rsvg-convert` or ImageMagick's `convert` turn into PNG).
 *
 *     svg_chart *c = svg_chart_new("Loss", "epoch", "cross-entropy");
 *     svg_chart_line(c, "train", n, epochs, train_loss);
 *     svg_chart_line(c, "held-out", n, epochs, test_loss);
 *     svg_chart_log_y(c, true);                 // when the data spans decades
 *     if (svg_chart_write(c, "loss.svg") < 0) perror("loss.svg");
 *     svg_chart_free(c);
 *
 * A bar chart names its categories once, then adds one series of values per
 * group; bars of the same category stand side by side:
 *
 *     const char *cells[] = {"RNN", "LSTM", "GRU"};
 *     svg_chart *c = svg_chart_new("Test MSE", NULL, "MSE");
 *     svg_chart_categories(c, 3, cells);
 *     svg_chart_bars(c, "T = 50", mse_t50);     // 3 values, one per category
 *     svg_chart_bars(c, "T = 100", mse_t100);
 *     svg_chart_hline(c, "baseline", 0.167);    // a dashed reference line
 *
 * A chart holds either lines or bars. Points that are not finite (or not
 * positive on a log axis) are left out: a line has a gap there. Series get
 * colours from a fixed palette in the order they are added (or as
 * svg_chart_style says); up to 16 series
 * and 8 reference lines. Strings are copied and escaped for XML. Functions
 * returning int give 0, or -1 (bad arguments, out of memory, or, for
 * svg_chart_write, a file that cannot be written: errno tells why). */
#ifndef EXAMPLES_SVGPLOT_H
#define EXAMPLES_SVGPLOT_H

#include <stdbool.h>

typedef struct svg_chart svg_chart;

/* A new empty chart, 760 x 460 pixels; any label may be NULL. NULL if out of memory. */
svg_chart *svg_chart_new(const char *title, const char *x_label, const char *y_label);
void svg_chart_free(svg_chart *c);

/* Logarithmic (base 10) axes, decades labelled. The x axis applies to line charts. */
void svg_chart_log_y(svg_chart *c, bool on);
void svg_chart_log_x(svg_chart *c, bool on);
/* Fix the y range instead of fitting it to the data (lo < hi). */
void svg_chart_y_range(svg_chart *c, double lo, double hi);

/* A line through the n points (x[i], y[i]), x increasing. */
int svg_chart_line(svg_chart *c, const char *name, int n, const double *x, const double *y);
/* Bar charts: the n category names along x (set once, before the bars),
 * then one series of n values per call. */
int svg_chart_categories(svg_chart *c, int n, const char *const *names);
int svg_chart_bars(svg_chart *c, const char *name, const double *values);
/* Draw the series added last in palette colour `colour` (0..9: blue, red,
 * green, orange, purple, brown, pink, grey, olive, cyan) instead of the next
 * one in turn, and, for a line, dashed. */
int svg_chart_style(svg_chart *c, int colour, bool dashed);
/* A dashed horizontal reference line at y, named in the legend. */
int svg_chart_hline(svg_chart *c, const char *name, double y);

/* Write the chart to path. */
int svg_chart_write(const svg_chart *c, const char *path);

#endif
