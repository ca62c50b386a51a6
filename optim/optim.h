/* Optimizers: SGD, Adam, AdamW, RMSprop and Adagrad over a parameter
 * collection, with the update rules of torch.optim 1.13 (its single-tensor
 * code path, operation for operation, so trajectories agree with PyTorch's
 * to rounding).
 *
 *     tg_adam_config cfg[2] = {tg_adam_defaults(), tg_adam_defaults()};
 *     cfg[1].weight_decay = 0;                   // group 1: no decay on biases
 *     tg_params_set_group(&params, "bias", 1);
 *     tg_optim *opt = tg_adam(&params, 2, cfg);
 *     for (...) {
 *         tg_scope *s = tg_scope_begin();
 *         tg_optim_zero_grad(opt);
 *         tg_backward(loss(...), NULL);
 *         tg_optim_step(opt);
 *         tg_scope_end(s);
 *     }
 *     tg_optim_free(opt);
 *
 * Per-group hyper-parameters: a constructor takes an array of n_groups
 * configs and each parameter uses the config indexed by its entry's group
 * (layers/params.h). The optimizer copies the list of parameters when it is
 * made; adding to the collection later does not reach it.
 *
 * Parameters must be persistent, contiguous float leaves. A parameter whose
 * .grad is NULL (never computed) is skipped by step, as PyTorch skips a
 * grad of None: its state and step count do not advance.
 *
 * State (moments, step counts) lives in persistent tensors of the
 * parameter's dtype, made on a parameter's first update (Adagrad: when the
 * optimizer is made, as in PyTorch) and reused afterwards, so a training
 * loop allocates nothing. Updates read and write the data directly; they
 * record nothing on the tape and work whether grad mode is on or off.
 *
 * State export/import (for checkpoints) uses PyTorch's state_dict names:
 *     state.<i>.step              I64 0-dim, updates made to parameter i
 *     state.<i>.<moment>          parameter i's shape and dtype, where
 *                                 <moment> is momentum_buffer (SGD);
 *                                 exp_avg, exp_avg_sq, max_exp_avg_sq
 *                                 (Adam/AdamW, the last with amsgrad);
 *                                 square_avg, momentum_buffer (momentum > 0),
 *                                 grad_avg (centered) (RMSprop); sum (Adagrad)
 *     param_groups.<g>.lr         F64 0-dim, group g's current learning rate
 * i numbers the parameters as PyTorch's param_groups list them, group by
 * group: group 0's in collection order, then group 1's, and so on (which
 * is collection order unless the groups interleave, as biases put in a
 * group of their own do). SGD keeps no step count, and only parameters
 * that have state appear. An imported learning rate may be below 0 (a
 * chain of schedules can take it there, as in PyTorch) or NaN (a LambdaLR
 * whose function returned NaN). */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/params.h>

typedef struct tg_optim tg_optim;

/* torch.optim.SGD. With momentum m and dampening d, on the gradient g
 * (plus weight_decay * param):
 *     buf = g on the first step, else m * buf + (1 - d) * g
 *     update = nesterov ? g + m * buf : buf     (plain g when m == 0)
 *     param -= lr * update
 * Nesterov needs momentum > 0 and dampening 0 (PyTorch's rule). */
typedef struct {
    double lr;           /* >= 0 */
    double momentum;     /* >= 0 */
    double dampening;
    double weight_decay; /* >= 0, L2 penalty added to the gradient */
    bool nesterov;
} tg_sgd_config;

/* torch.optim.Adam and AdamW. Adam adds weight_decay * param to the
 * gradient; AdamW instead multiplies param by (1 - lr * weight_decay)
 * (decoupled decay). Then, at step t:
 *     m = beta1 * m + (1 - beta1) * g,  v = beta2 * v + (1 - beta2) * g^2
 *     vmax = max(vmax, v) with amsgrad (and used in place of v below)
 *     param -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
typedef struct {
    double lr;           /* >= 0 */
    double beta1, beta2; /* each in [0, 1) */
    double eps;          /* >= 0 */
    double weight_decay; /* >= 0 */
    bool amsgrad;
} tg_adam_config;

/* torch.optim.RMSprop, on g (plus weight_decay * param):
 *     sq = alpha * sq + (1 - alpha) * g^2
 *     centered: ga = alpha * ga + (1 - alpha) * g, avg = sqrt(sq - ga^2) + eps
 *     otherwise avg = sqrt(sq) + eps
 *     momentum > 0: buf = momentum * buf + g / avg, param -= lr * buf
 *     otherwise param -= lr * g / avg */
typedef struct {
    double lr;           /* >= 0 */
    double alpha;        /* >= 0, smoothing constant */
    double eps;          /* >= 0 */
    double weight_decay; /* >= 0 */
    double momentum;     /* >= 0 */
    bool centered;
} tg_rmsprop_config;

/* torch.optim.Adagrad, on g (plus weight_decay * param) at step t:
 *     sum += g^2   (sum starts at the group's initial_accumulator_value;
 *                   PyTorch 1.13 takes its constructor's argument for
 *                   every group instead)
 *     param -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps) */
typedef struct {
    double lr;                        /* >= 0 */
    double lr_decay;                  /* >= 0 */
    double weight_decay;              /* >= 0 */
    double initial_accumulator_value; /* >= 0 */
    double eps;                       /* >= 0 */
} tg_adagrad_config;

/* PyTorch's defaults: SGD has none for lr, so it is an argument;
 * Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay; AdamW the same with
 * weight_decay 1e-2; RMSprop lr 1e-2, alpha 0.99, eps 1e-8; Adagrad lr 1e-2,
 * eps 1e-10, the rest 0. */
tg_sgd_config tg_sgd_defaults(double lr);
tg_adam_config tg_adam_defaults(void);
tg_adam_config tg_adamw_defaults(void);
tg_rmsprop_config tg_rmsprop_defaults(void);
tg_adagrad_config tg_adagrad_defaults(void);

/* Make an optimizer over params with n_groups group configs (every entry's
 * group must be below n_groups). NULL with a message naming the offending
 * group or parameter on an invalid hyper-parameter (PyTorch's wording, e.g.
 * "Invalid learning rate: -1"), an empty collection, a repeated, non-float,
 * non-leaf, non-contiguous or scope-owned parameter. Free with tg_optim_free. */
tg_optim *tg_sgd(const tg_params *params, int n_groups, const tg_sgd_config *groups);
tg_optim *tg_adam(const tg_params *params, int n_groups, const tg_adam_config *groups);
tg_optim *tg_adamw(const tg_params *params, int n_groups, const tg_adam_config *groups);
tg_optim *tg_rmsprop(const tg_params *params, int n_groups, const tg_rmsprop_config *groups);
tg_optim *tg_adagrad(const tg_params *params, int n_groups, const tg_adagrad_config *groups);

/* One update of every parameter that has a gradient. Fails (-1, nothing
 * updated) if a gradient's shape or dtype differs from its parameter's or
 * if state cannot be allocated. */
int tg_optim_step(tg_optim *o);
/* Zero every parameter's .grad (kept allocated; PyTorch 1.13's default). */
void tg_optim_zero_grad(tg_optim *o);

/* Number of groups, and the learning rate of one group (schedules change
 * it). get returns NAN and set returns -1 with a message for a bad group or
 * a negative or NaN lr. */
int tg_optim_num_groups(const tg_optim *o);
double tg_optim_get_lr(const tg_optim *o, int group);
int tg_optim_set_lr(tg_optim *o, int group, double lr);
/* The step count of parameter index (0 before its first update; SGD keeps
 * none and gives 0); -1 with a message for a bad index. */
int64_t tg_optim_param_steps(const tg_optim *o, int index);

/* Append the state (names above) to out. The entries point at the
 * optimizer's own tensors: they stay valid until tg_optim_free and change
 * with every step, so write or copy them before stepping again. Returns 0,
 * or -1 (e.g. a name already in out). */
int tg_optim_state_export(const tg_optim *o, tg_params *out);
/* Load state written by tg_optim_state_export of an optimizer of the same
 * kind over the same parameters: copies the values (float dtypes convert),
 * so resuming is bit-exact. Parameters with no entries start afresh. A
 * group's learning rate entry holds one value, which may be below 0 or NaN
 * (schedules can make both; tg_optim_set_lr refuses them). Fails (-1,
 * nothing changed) with a message naming the entry if a name is unknown, a
 * shape differs, an index or group is out of range, or a parameter's
 * entries are incomplete. */
int tg_optim_state_import(tg_optim *o, const tg_params *in);

/* Free the optimizer and its state (not the parameters). NULL is ignored. */
void tg_optim_free(tg_optim *o);

#ifdef __cplusplus
}
#endif

#endif
