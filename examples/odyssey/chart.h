/* The odyssey's results and a small SVG chart of them: two panels (test
 * accuracy, final training loss), one column per cell, each seed a small
 * circle, the mean a filled marker with a bar of one standard deviation
 * either side, the vanilla LSTM's mean a dashed line across. Plain text,
 * no library. */
#ifndef ODYSSEY_CHART_H
#define ODYSSEY_CHART_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CHART_MAX_RUNS 16

typedef struct {
    int64_t params;
    double seconds_per_epoch, train_loss, test_accuracy;
} chart_run;

typedef struct {
    const char *name, *family; /* family "LSTM" or "GRU" picks the colour */
    int n_runs;
    chart_run runs[CHART_MAX_RUNS];
} chart_series;

typedef struct {
    double seconds_per_epoch, train_loss, train_loss_spread, test_accuracy, test_accuracy_spread;
} chart_summary;

/* Mean and sample standard deviation (0 for one run) of n values. */
static void chart_mean_std(int n, const double *v, double *mean, double *std)
{
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    *mean = sum / n;
    for (int i = 0; i < n; i++) sq += (v[i] - *mean) * (v[i] - *mean);
    *std = n > 1 ? sqrt(sq / (n - 1)) : 0;
}

static chart_summary chart_summarise(const chart_series *s)
{
    double loss[CHART_MAX_RUNS], acc[CHART_MAX_RUNS], secs[CHART_MAX_RUNS], unused;
    for (int i = 0; i < s->n_runs; i++) {
        loss[i] = s->runs[i].train_loss;
        acc[i] = s->runs[i].test_accuracy;
        secs[i] = s->runs[i].seconds_per_epoch;
    }
    chart_summary m;
    chart_mean_std(s->n_runs, loss, &m.train_loss, &m.train_loss_spread);
    chart_mean_std(s->n_runs, acc, &m.test_accuracy, &m.test_accuracy_spread);
    chart_mean_std(s->n_runs, secs, &m.seconds_per_epoch, &unused);
    return m;
}

/* A tick step of 1, 2 or 5 times a power of ten giving about 5 ticks. */
static double chart_tick_step(double range)
{
    double raw = range / 5, power = pow(10, floor(log10(raw)));
    double unit = raw / power;
    return (unit < 1.5 ? 1 : unit < 3.5 ? 2 : unit < 7.5 ? 5 : 10) * power;
}

/* Panel geometry: the plot area and the value range it shows. */
typedef struct {
    double left, top, width, height, lo, hi;
} chart_panel;

static double chart_y(const chart_panel *p, double v) { return p->top + p->height * (p->hi - v) / (p->hi - p->lo); }

/* One panel: metric 0 is test accuracy in %, 1 the final training loss. */
static void chart_draw_panel(FILE *f, chart_panel p, int metric, const char *label, int n, const chart_series *series)
{
    double lo = INFINITY, hi = -INFINITY, vanilla = NAN;
    for (int s = 0; s < n; s++) {
        chart_summary m = chart_summarise(&series[s]);
        double mean = metric ? m.train_loss : 100 * m.test_accuracy;
        double spread = metric ? m.train_loss_spread : 100 * m.test_accuracy_spread;
        lo = fmin(lo, mean - spread);
        hi = fmax(hi, mean + spread);
        for (int r = 0; r < series[s].n_runs; r++) {
            double v = metric ? series[s].runs[r].train_loss : 100 * series[s].runs[r].test_accuracy;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        if (!strcmp(series[s].name, "peephole")) vanilla = mean;
    }
    double step = chart_tick_step(hi > lo ? hi - lo : fabs(hi) + 1);
    p.lo = floor(lo / step) * step;
    p.hi = ceil(hi / step) * step;
    if (p.hi <= p.lo) p.hi = p.lo + step;
    /* axes, ticks and grid */
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#444'/>\n", p.left, p.top, p.width,
            p.height);
    for (double v = p.lo; v <= p.hi + step / 2; v += step) {
        double y = chart_y(&p, v);
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>\n", p.left, y, p.left + p.width, y);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='12' text-anchor='end'>%g</text>\n", p.left - 6, y + 4,
                round(v / step) * step);
    }
    fprintf(f, "<text transform='translate(%.1f,%.1f) rotate(-90)' font-size='13' text-anchor='middle'>%s</text>\n",
            p.left - 48, p.top + p.height / 2, label);
    if (!isnan(vanilla))
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#1f5fa8' stroke-dasharray='6,4'/>\n", p.left,
                chart_y(&p, vanilla), p.left + p.width, chart_y(&p, vanilla));
    /* one column per cell */
    double column = p.width / n;
    for (int s = 0; s < n; s++) {
        const char *colour = !strcmp(series[s].family, "GRU") ? "#d9730d" : "#1f5fa8";
        double x = p.left + column * (s + 0.5);
        chart_summary m = chart_summarise(&series[s]);
        double mean = metric ? m.train_loss : 100 * m.test_accuracy;
        double spread = metric ? m.train_loss_spread : 100 * m.test_accuracy_spread;
        for (int r = 0; r < series[s].n_runs; r++) {
            double v = metric ? series[s].runs[r].train_loss : 100 * series[s].runs[r].test_accuracy;
            fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='none' stroke='%s'/>\n", x + 12, chart_y(&p, v), colour);
        }
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>\n", x,
                chart_y(&p, mean - spread), x, chart_y(&p, mean + spread), colour);
        for (int e = -1; e <= 1; e += 2)
            fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>\n", x - 6,
                    chart_y(&p, mean + e * spread), x + 6, chart_y(&p, mean + e * spread), colour);
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='5' fill='%s'/>\n", x, chart_y(&p, mean), colour);
        fprintf(f, "<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle'>%s</text>\n", x, p.top + p.height + 16,
                series[s].name);
    }
}

/* The two panels with a title, axis labels and a legend. Returns 0 or -1. */
static int chart_write_svg(const char *path, const char *title, int n, const chart_series *series)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const double width = 960, height = 720;
    fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='%g' height='%g' "
               "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n", width, height);
    fprintf(f, "<text x='%g' y='28' font-size='16' text-anchor='middle'>%s</text>\n", width / 2, title);
    chart_panel top = {90, 60, 840, 250, 0, 0}, bottom = {90, 370, 840, 250, 0, 0};
    chart_draw_panel(f, top, 0, "test accuracy (%)", n, series);
    chart_draw_panel(f, bottom, 1, "final training loss", n, series);
    fprintf(f, "<text x='%g' y='%g' font-size='13' text-anchor='middle'>cell (LSTM variants of Greff et al. 2017; GRU "
               "and minimal gated unit)</text>\n", top.left + top.width / 2, bottom.top + bottom.height + 40);
    /* legend */
    double y = height - 34;
    fprintf(f, "<circle cx='100' cy='%g' r='5' fill='#1f5fa8'/>"
               "<text x='112' y='%g' font-size='12'>LSTM family: mean</text>\n", y, y + 4);
    fprintf(f, "<circle cx='250' cy='%g' r='5' fill='#d9730d'/>"
               "<text x='262' y='%g' font-size='12'>GRU family: mean</text>\n", y, y + 4);
    fprintf(f, "<line x1='400' y1='%g' x2='400' y2='%g' stroke='#444' stroke-width='2'/><text x='410' y='%g' "
               "font-size='12'>bar: &#177; 1 standard deviation</text>\n", y - 8, y + 8, y + 4);
    fprintf(f, "<circle cx='590' cy='%g' r='3' fill='none' stroke='#444'/><text x='600' y='%g' font-size='12'>one seed"
               "</text>\n", y, y + 4);
    fprintf(f, "<line x1='670' y1='%g' x2='700' y2='%g' stroke='#1f5fa8' stroke-dasharray='6,4'/><text x='708' y='%g' "
               "font-size='12'>vanilla LSTM (peephole) mean</text>\n", y, y, y + 4);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}

#endif
