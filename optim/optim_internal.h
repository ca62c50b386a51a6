/* Internal layout of an optimizer, shared by optim.c (construction, state,
 * export/import) and update.c (the per-element update loops). Not installed. */
#ifndef TG_OPTIM_INTERNAL_H
#define TG_OPTIM_INTERNAL_H

#include <tapegrad/optim.h>

typedef enum { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW, OPTIM_RMSPROP, OPTIM_ADAGRAD } optim_kind;

/* One group's hyper-parameters whatever the algorithm (fields an algorithm
 * does not use stay 0). The learning rate lives in the optimizer's lr
 * tensors, where schedules change it. */
typedef struct {
    double momentum, dampening, weight_decay;
    double beta1, beta2, eps;
    double alpha, lr_decay, initial_accumulator_value;
    bool nesterov, amsgrad, centered;
} optim_hyper;

/* Moment slots per parameter; their names depend on the kind (slot_names). */
#define OPTIM_SLOTS 3

typedef struct {
    bool initialized;              /* has state (PyTorch: state[p] not empty) */
    tg_tensor *step;               /* I64 0-dim, NULL for SGD */
    tg_tensor *slot[OPTIM_SLOTS];  /* NULL where the group's options need none */
} optim_state;

struct tg_optim {
    optim_kind kind;
    const char *name;       /* "tg_adam", ... for messages */
    int n_groups;
    optim_hyper *hyper;     /* [n_groups] */
    tg_tensor **lr;         /* [n_groups] persistent F64 0-dim */
    double *initial_lr;     /* [n_groups] set by the first schedule made (NAN
                               before): PyTorch's group['initial_lr'], the
                               base_lr of every later schedule too */
    int n_params;
    tg_param *params;       /* copied entries: name, tensor, group */
    optim_state *state;     /* [n_params] */
};

/* Apply one update to parameter i, whose gradient has been checked and whose
 * state exists; the step count has already been advanced. first: the
 * parameter had no state before this update (SGD's buffer starts as a copy
 * of the gradient). */
void tg__optim_update(tg_optim *o, int i, bool first);

/* PyTorch's class name of the optimizer ("Adam") and of the schedule
 * ("StepLR"), which a checkpoint records to refuse another kind's state. */
const char *tg__optim_kind_name(const tg_optim *o);
struct tg_sched;
const char *tg__sched_kind_name(const struct tg_sched *s);

#endif
