/* SVG charts: see svgplot.h. The plot area is mapped from data to pixels by
 * one function per axis (linear or log10); ticks are "nice" numbers (1, 2, 5
 * times a power of ten) on linear axes and powers of ten on log axes. */
#include "svgplot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 760
#define HEIGHT 460
#define MAX_SERIES 16
#define MAX_HLINES 8
#define LEFT 78   /* room for y tick labels and the y label */
#define TOP 44    /* room for the title */
#define BOTTOM 58 /* room for x tick labels and the x label */

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                      "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

typedef struct {
    char *name;
    int n;
    double *x, *y;
    int colour; /* index into palette */
    bool dashed;
} series;

struct svg_chart {
    char *title, *x_label, *y_label;
    bool log_x, log_y, fixed_y;
    double y_lo, y_hi;
    bool bars;
    int n_categories;
    char **categories;
    int n_series;
    series s[MAX_SERIES];
    int n_hlines;
    char *hline_name[MAX_HLINES];
    double hline_y[MAX_HLINES];
};

static char *copy(const char *s)
{
    if (!s) return NULL;
    char *d = malloc(strlen(s) + 1);
    return d ? strcpy(d, s) : NULL;
}

svg_chart *svg_chart_new(const char *title, const char *x_label, const char *y_label)
{
    svg_chart *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->title = copy(title);
    c->x_label = copy(x_label);
    c->y_label = copy(y_label);
    return c;
}

void svg_chart_free(svg_chart *c)
{
    if (!c) return;
    free(c->title);
    free(c->x_label);
    free(c->y_label);
    for (int i = 0; i < c->n_categories; i++) free(c->categories[i]);
    free(c->categories);
    for (int i = 0; i < c->n_series; i++) {
        free(c->s[i].name);
        free(c->s[i].x);
        free(c->s[i].y);
    }
    for (int i = 0; i < c->n_hlines; i++) free(c->hline_name[i]);
    free(c);
}

void svg_chart_log_y(svg_chart *c, bool on) { c->log_y = on; }
void svg_chart_log_x(svg_chart *c, bool on) { c->log_x = on; }

void svg_chart_y_range(svg_chart *c, double lo, double hi)
{
    c->fixed_y = lo < hi;
    c->y_lo = lo;
    c->y_hi = hi;
}

static int add_series(svg_chart *c, const char *name, int n, const double *x, const double *y)
{
    if (!c || n < 1 || !y || c->n_series == MAX_SERIES) return -1;
    series *s = &c->s[c->n_series];
    s->name = copy(name ? name : "");
    s->x = malloc(sizeof(double) * (size_t)n);
    s->y = malloc(sizeof(double) * (size_t)n);
    if (!s->name || !s->x || !s->y) {
        free(s->name);
        free(s->x);
        free(s->y);
        return -1;
    }
    for (int i = 0; i < n; i++) s->x[i] = x ? x[i] : i;
    memcpy(s->y, y, sizeof(double) * (size_t)n);
    s->n = n;
    s->colour = c->n_series % (int)(sizeof palette / sizeof *palette);
    s->dashed = false;
    c->n_series++;
    return 0;
}

int svg_chart_line(svg_chart *c, const char *name, int n, const double *x, const double *y)
{
    if (!c || !x || c->bars) return -1;
    return add_series(c, name, n, x, y);
}

int svg_chart_categories(svg_chart *c, int n, const char *const *names)
{
    if (!c || n < 1 || !names || c->n_series > 0 || c->n_categories > 0) return -1;
    c->categories = calloc((size_t)n, sizeof *c->categories);
    if (!c->categories) return -1;
    for (int i = 0; i < n; i++)
        if (!(c->categories[i] = copy(names[i] ? names[i] : ""))) return -1;
    c->n_categories = n;
    c->bars = true;
    return 0;
}

int svg_chart_bars(svg_chart *c, const char *name, const double *values)
{
    if (!c || !c->bars) return -1;
    return add_series(c, name, c->n_categories, NULL, values);
}

int svg_chart_style(svg_chart *c, int colour, bool dashed)
{
    if (!c || c->n_series == 0 || colour < 0 || colour >= (int)(sizeof palette / sizeof *palette)) return -1;
    c->s[c->n_series - 1].colour = colour;
    c->s[c->n_series - 1].dashed = dashed;
    return 0;
}

int svg_chart_hline(svg_chart *c, const char *name, double y)
{
    if (!c || c->n_hlines == MAX_HLINES || !(c->hline_name[c->n_hlines] = copy(name ? name : ""))) return -1;
    c->hline_y[c->n_hlines++] = y;
    return 0;
}

/* --- drawing ---------------------------------------------------------------- */

typedef struct {
    double lo, hi; /* data range (log10 of it on a log axis) */
    bool log;
    double px0, px1; /* pixel positions of lo and hi */
} axis;

static bool usable(double v, bool log) { return isfinite(v) && (!log || v > 0); }

static double to_px(const axis *a, double v)
{
    double t = a->log ? log10(v) : v;
    return a->px0 + (t - a->lo) / (a->hi - a->lo) * (a->px1 - a->px0);
}

/* Widen [lo, hi] to a range worth drawing: nice bounds on linear axes, whole
 * decades on log axes, something sensible for empty or flat data. Bars
 * start at 0 on a linear axis, and on a log axis at a decade below the
 * smallest bar, which would otherwise have no height when it is a power of 10. */
static void fit_axis(axis *a, double lo, double hi, bool bars)
{
    if (!(lo <= hi)) lo = hi = a->log ? 1 : 0;
    if (a->log) {
        a->lo = floor(log10(lo));
        if (bars && a->lo == log10(lo)) a->lo -= 1;
        a->hi = ceil(log10(hi));
        if (a->hi <= a->lo) a->hi = a->lo + 1;
        return;
    }
    if (bars) {
        lo = lo < 0 ? lo : 0;
        hi = hi > 0 ? hi : 0;
    }
    if (hi - lo < 1e-12 * (fabs(hi) + 1)) {
        lo -= fabs(lo) * 0.1 + 0.5;
        hi += fabs(hi) * 0.1 + 0.5;
    }
    double step = pow(10, floor(log10((hi - lo) / 5)));
    if ((hi - lo) / step > 12) step *= 2;
    if ((hi - lo) / step > 12) step *= 2.5;
    a->lo = floor(lo / step) * step;
    a->hi = ceil(hi / step) * step;
}

/* Tick values (in data units) of an axis: at most max of them. */
static int ticks(const axis *a, double *out, int max)
{
    int n = 0;
    if (a->log) {
        double every = ceil((a->hi - a->lo) / 8); /* at most 8 labelled decades, at multiples of every */
        for (double e = ceil(a->lo / every) * every; e <= a->hi + 1e-9 && n < max; e += every) out[n++] = pow(10, e);
        return n;
    }
    double range = a->hi - a->lo, step = pow(10, floor(log10(range)));
    if (range / step < 2.5) step /= 5;
    else if (range / step < 5) step /= 2;
    for (double v = ceil(a->lo / step - 1e-9) * step; v <= a->hi + step * 1e-9 && n < max; v += step)
        out[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    return n;
}

static void tick_label(double v, bool log, char *buf, size_t len)
{
    if (log && (v >= 1e4 || v < 1e-3)) snprintf(buf, len, "1e%d", (int)lround(log10(v)));
    else snprintf(buf, len, "%g", v);
}

static void put_escaped(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void text(FILE *f, double x, double y, const char *anchor, int size, const char *extra, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size,
            extra ? extra : "");
    put_escaped(f, s);
    fputs("</text>\n", f);
}

int svg_chart_write(const svg_chart *c, const char *path)
{
    if (!c || !path) return -1;
    /* The legend sits right of the plot, as wide as its longest name. */
    size_t longest = 0;
    for (int i = 0; i < c->n_series; i++) longest = strlen(c->s[i].name) > longest ? strlen(c->s[i].name) : longest;
    for (int i = 0; i < c->n_hlines; i++)
        longest = strlen(c->hline_name[i]) > longest ? strlen(c->hline_name[i]) : longest;
    double legend_w = longest ? 44 + 7.0 * (double)longest : 10;
    axis x = {.log = c->log_x && !c->bars, .px0 = LEFT, .px1 = WIDTH - legend_w - 16};
    axis y = {.log = c->log_y, .px0 = HEIGHT - BOTTOM, .px1 = TOP};

    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < c->n_series; i++)
        for (int k = 0; k < c->s[i].n; k++) {
            double xv = c->s[i].x[k], yv = c->s[i].y[k];
            if (!usable(yv, y.log) || (!c->bars && !usable(xv, x.log))) continue;
            xlo = fmin(xlo, xv), xhi = fmax(xhi, xv);
            ylo = fmin(ylo, yv), yhi = fmax(yhi, yv);
        }
    for (int i = 0; i < c->n_hlines; i++)
        if (usable(c->hline_y[i], y.log)) ylo = fmin(ylo, c->hline_y[i]), yhi = fmax(yhi, c->hline_y[i]);
    if (c->fixed_y) ylo = c->y_lo, yhi = c->y_hi;
    fit_axis(&y, ylo, yhi, c->bars);
    if (c->fixed_y && !y.log) y.lo = c->y_lo, y.hi = c->y_hi;
    if (c->bars) x.lo = 0, x.hi = c->n_categories;
    else if (x.log) fit_axis(&x, xlo, xhi, false);
    else {
        if (!(xlo <= xhi)) xlo = 0, xhi = 1;
        x.lo = xlo;
        x.hi = xhi > xlo ? xhi : xlo + 1;
    }

    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    if (c->title) text(f, (x.px0 + x.px1) / 2, 26, "middle", 16, " font-weight=\"bold\"", c->title);

    /* Grid and tick labels. */
    double tv[64];
    char label[32];
    int nt = ticks(&y, tv, 64);
    for (int i = 0; i < nt; i++) {
        double py = to_px(&y, tv[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", x.px0, py, x.px1, py);
        tick_label(tv[i], y.log, label, sizeof label);
        text(f, x.px0 - 6, py + 4, "end", 11, NULL, label);
    }
    if (y.log) /* minor ticks: 2..9 times each decade, or each decade when there are many */
        for (double e = y.lo; e < y.hi; e++)
            for (int m = y.hi - y.lo > 8 ? 10 : 2; m <= 10; m++) {
                double py = to_px(&y, m * pow(10, e));
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", x.px0, py,
                        x.px0 + 4, py);
            }
    if (c->bars) {
        for (int i = 0; i < c->n_categories; i++)
            text(f, to_px(&x, i + 0.5), y.px0 + 18, "middle", 12, NULL, c->categories[i]);
    } else {
        nt = ticks(&x, tv, 64);
        for (int i = 0; i < nt; i++) {
            double px = to_px(&x, tv[i]);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", px, y.px0, px,
                    y.px1);
            tick_label(tv[i], x.log, label, sizeof label);
            text(f, px, y.px0 + 16, "middle", 11, NULL, label);
        }
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", x.px0,
            y.px1, x.px1 - x.px0, y.px0 - y.px1);
    if (c->x_label) text(f, (x.px0 + x.px1) / 2, HEIGHT - 16, "middle", 13, NULL, c->x_label);
    if (c->y_label) {
        char rotate[64];
        snprintf(rotate, sizeof rotate, " transform=\"rotate(-90 18 %.1f)\"", (y.px0 + y.px1) / 2);
        text(f, 18, (y.px0 + y.px1) / 2, "middle", 13, rotate, c->y_label);
    }

    /* Data, clipped to the plot area. */
    fprintf(f, "<clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n",
            x.px0, y.px1, x.px1 - x.px0, y.px0 - y.px1);
    fprintf(f, "<g clip-path=\"url(#plot)\">\n");
    for (int i = 0; i < c->n_series; i++) {
        const series *s = &c->s[i];
        const char *colour = palette[s->colour];
        const char *dash = s->dashed ? " stroke-dasharray=\"7 4\"" : "";
        if (c->bars) {
            double group = 0.8 / c->n_series, base = y.log ? pow(10, y.lo) : 0;
            for (int k = 0; k < s->n; k++) {
                if (!usable(s->y[k], y.log)) continue;
                double px = to_px(&x, k + 0.1 + group * i), top = to_px(&y, s->y[k]), bottom = to_px(&y, base);
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", px,
                        fmin(top, bottom), to_px(&x, group) - to_px(&x, 0) - 2, fabs(bottom - top), colour);
            }
            continue;
        }
        bool pen_down = false;
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s stroke-linejoin=\"round\" d=\"", colour,
                dash);
        for (int k = 0; k < s->n; k++) {
            if (!usable(s->y[k], y.log) || !usable(s->x[k], x.log)) {
                pen_down = false;
                continue;
            }
            fprintf(f, "%s%.1f %.1f ", pen_down ? "L" : "M", to_px(&x, s->x[k]), to_px(&y, s->y[k]));
            pen_down = true;
        }
        fprintf(f, "\"/>\n");
        if (s->n == 1 && usable(s->y[0], y.log)) /* a single point shows as a dot */
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", to_px(&x, s->x[0]),
                    to_px(&y, s->y[0]), colour);
    }
    for (int i = 0; i < c->n_hlines; i++)
        if (usable(c->hline_y[i], y.log)) {
            double py = to_px(&y, c->hline_y[i]);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" stroke-width=\"1.5\" "
                       "stroke-dasharray=\"6 4\"/>\n", x.px0, py, x.px1, py);
        }
    fprintf(f, "</g>\n");

    /* Legend. */
    double lx = x.px1 + 14, ly = y.px1 + 8;
    for (int i = 0; i < c->n_series + c->n_hlines; i++, ly += 20) {
        bool hline = i >= c->n_series;
        const char *name = hline ? c->hline_name[i - c->n_series] : c->s[i].name;
        const char *colour = hline ? "#000" : palette[c->s[i].colour];
        const char *dash = hline ? " stroke-dasharray=\"6 4\"" : c->s[i].dashed ? " stroke-dasharray=\"7 4\"" : "";
        if (!hline && c->bars)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"24\" height=\"10\" fill=\"%s\"/>\n", lx, ly - 5, colour);
        else
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", lx,
                    ly, lx + 24, ly, colour, dash);
        text(f, lx + 30, ly + 4, "start", 12, NULL, name);
    }
    fprintf(f, "</svg>\n");
    bool failed = ferror(f);
    return fclose(f) == 0 && !failed ? 0 : -1;
}
