/* Learning-rate schedules: torch.optim.lr_scheduler 1.13, epoch for epoch.
 *
 *     tg_sched *s = tg_sched_cosine_lr(opt, 100, 0.0);
 *     for (int epoch = 0; epoch < 100; epoch++) {
 *         ... train one epoch with tg_optim_step ...
 *         tg_sched_step(s);
 *     }
 *     tg_sched_free(s);
 *
 * A schedule writes each group's learning rate into its optimizer, which
 * must outlive it. As in PyTorch, making a schedule counts as its first step
 * (epoch 0: the lr each group starts with, which is the group's current lr
 * for all but LambdaLR and LinearLR), and each tg_sched_step moves to the
 * next epoch using PyTorch's recursive ("chainable") formulas: each epoch's
 * lr is computed from the group's current lr, so two schedules stepped
 * together compose as they do in PyTorch (linear warm-up then cosine) and
 * the values agree with PyTorch's to the last bit. base_lr below is a
 * group's lr when the schedule was made.
 *
 * State export/import, for checkpoints, uses these names:
 *     last_epoch         I64 0-dim
 *     base_lrs, last_lr  F64 (n_groups)
 *     best               F64 0-dim        (ReduceLROnPlateau only)
 *     num_bad_epochs, cooldown_counter   I64 0-dim (ReduceLROnPlateau only)
 * The optimizer's own export holds the learning rates it is using. */
#ifndef TG_SCHEDULE_H
#define TG_SCHEDULE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/optim.h>

typedef struct tg_sched tg_sched;

/* StepLR: lr * gamma every step_size (> 0) epochs. */
tg_sched *tg_sched_step_lr(tg_optim *o, int64_t step_size, double gamma);
/* MultiStepLR: lr * gamma at each of the n milestones (non-decreasing
 * epochs; a milestone listed k times multiplies by gamma^k). */
tg_sched *tg_sched_multistep_lr(tg_optim *o, int n, const int64_t *milestones, double gamma);
/* ExponentialLR: lr * gamma every epoch. */
tg_sched *tg_sched_exponential_lr(tg_optim *o, double gamma);
/* CosineAnnealingLR: from base_lr down to eta_min over t_max (> 0) epochs
 * along half a cosine, then back up, periodically with period 2 * t_max. */
tg_sched *tg_sched_cosine_lr(tg_optim *o, int64_t t_max, double eta_min);

/* LambdaLR: lr = base_lr * fn(epoch, group, user). */
typedef double (*tg_lr_lambda)(int64_t epoch, int group, void *user);
tg_sched *tg_sched_lambda_lr(tg_optim *o, tg_lr_lambda fn, void *user);

/* LinearLR, the linear warm-up: the factor on base_lr goes from
 * start_factor (epoch 0; in (0, 1]) to end_factor (in [0, 1]) in total_iters
 * (> 0) equal steps and stays there. */
tg_sched *tg_sched_linear_lr(tg_optim *o, double start_factor, double end_factor, int64_t total_iters);

/* ReduceLROnPlateau: after more than `patience` epochs without improvement
 * of the metric, lr = max(lr * factor, min_lr) (skipped when the change is
 * at most eps), then wait `cooldown` epochs before counting again.
 * Improvement over the best value so far in mode min (max): below
 * best * (1 - threshold) (above best * (1 + threshold)) in relative
 * threshold mode, below best - threshold (above best + threshold) in
 * absolute mode. */
typedef struct {
    bool mode_max;        /* false: a lower metric is better (loss) */
    double factor;        /* in [0, 1) */
    int64_t patience;     /* >= 0 */
    double threshold;
    bool threshold_abs;   /* false: relative threshold */
    int64_t cooldown;     /* >= 0 */
    double min_lr;        /* for every group, unless min_lrs is given */
    const double *min_lrs;/* NULL, or one per group (copied) */
    double eps;
} tg_plateau_config;
/* PyTorch's defaults: mode min, factor 0.1, patience 10, threshold 1e-4
 * relative, cooldown 0, min_lr 0, eps 1e-8. */
tg_plateau_config tg_plateau_defaults(void);
tg_sched *tg_sched_plateau(tg_optim *o, const tg_plateau_config *cfg);

/* Every constructor returns NULL with a message on a NULL optimizer or an
 * out-of-range argument (the messages name it). */

/* Move to the next epoch and write the new learning rates into the
 * optimizer. Returns 0, or -1 for ReduceLROnPlateau, which needs the metric. */
int tg_sched_step(tg_sched *s);
/* ReduceLROnPlateau's step with this epoch's metric (a NaN metric never
 * improves). Returns 0, or -1 for the other schedules. */
int tg_sched_step_metric(tg_sched *s, double metric);

/* The learning rate the last step gave group (PyTorch's get_last_lr), or
 * NAN with a message for a bad group. */
double tg_sched_last_lr(const tg_sched *s, int group);
/* The current epoch (0 after making the schedule). */
int64_t tg_sched_last_epoch(const tg_sched *s);

/* Append the state (names above) to out. The entries are the schedule's own
 * tensors, refreshed by this call: valid until tg_sched_free, write them
 * before the next step. Returns 0 or -1. */
int tg_sched_state_export(tg_sched *s, tg_params *out);
/* Load state exported from a schedule of the same kind over an optimizer
 * with as many groups. Every name above that applies must be present;
 * fails (-1, nothing changed) naming the missing or malformed entry. */
int tg_sched_state_import(tg_sched *s, const tg_params *in);

/* NULL is ignored; the optimizer is not freed. */
void tg_sched_free(tg_sched *s);

#ifdef __cplusplus
}
#endif

#endif
