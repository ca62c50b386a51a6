/* Checkpoints: everything a training run needs to continue, in one
 * safetensors file, so that
 *
 *     20 steps straight  ==  10 steps, save, (a new process) load, 10 steps
 *
 * bit for bit, dropout masks and data shuffles included.
 *
 *     tg_checkpoint ck = {.params = &params, .optim = opt, .sched = sched, .step = step, .epoch = epoch};
 *     tg_checkpoint_save("run.ckpt", &ck);
 *     ...
 *     tg_checkpoint_load("run.ckpt", &ck);      // fills ck.step and ck.epoch
 *
 * The file holds, as PyTorch's checkpoint dicts do, with names:
 *     model.<name>            every parameter (its state_dict name)
 *     optimizer.<name>        tg_optim_state_export's entries
 *     scheduler.<name>        tg_sched_state_export's entries
 *     scheduler1.<name> ...   those of the schedules stepped with it
 *                             (more_scheds[0], ...), if any
 *     rng_state               I64 (6): the saving thread's generator: its four
 *                             words, has_spare_normal, spare_normal's bits
 *     step, epoch             I64 0-dim
 * and the metadata "format": "tapegrad.checkpoint", with "optimizer" and
 * "scheduler" (and "scheduler1", ...) naming the kinds saved (PyTorch's
 * class names: "Adam", "CosineAnnealingLR", ...). The model part loads by
 * itself with
 * tg_state_load_from(f, "model.", ...).
 *
 * Loading is all or nothing for the parameters, optimizer, schedule, RNG
 * and counters: the model must match strictly (tg_state_load), the file
 * must hold optimizer and schedule state exactly when ck names an optimizer
 * and a schedule (slot by slot: sched, more_scheds[0], ...), and those must
 * be of the kind and over the parameters that saved it; on any mismatch
 * nothing changes. (As with tg_state_load,
 * an I/O error while copying the parameters, after every check passed, can
 * leave them partly loaded; the optimizer and schedule are put back.) */
#ifndef TG_CHECKPOINT_H
#define TG_CHECKPOINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <tapegrad/optim.h>
#include <tapegrad/params.h>
#include <tapegrad/schedule.h>

/* Schedules stepped together compose (schedule.h: a LinearLR warm-up and a
 * cosine), and a resume needs the state of each: sched and up to three
 * more. */
#define TG_CHECKPOINT_MORE_SCHEDS 3

typedef struct {
    tg_params *params;   /* the model's parameters (required) */
    tg_optim *optim;     /* NULL: none */
    tg_sched *sched;     /* NULL: none */
    int64_t step, epoch; /* the caller's counters, >= 0 */
    /* Schedules stepped with sched, over the same optimizer (NULL: none;
     * each slot is saved and loaded as its own part). */
    tg_sched *more_scheds[TG_CHECKPOINT_MORE_SCHEDS];
} tg_checkpoint;

/* Write ck and the calling thread's RNG state to path, atomically (see
 * tg_safetensors_save). Returns 0 or -1 with a message. */
int tg_checkpoint_save(const char *path, const tg_checkpoint *ck);
/* Load path into ck's parameters, optimizer and schedule, set the calling
 * thread's RNG state and fill ck->step and ck->epoch. Returns 0 or -1 with
 * a message, changing nothing (see above). */
int tg_checkpoint_load(const char *path, tg_checkpoint *ck);

#ifdef __cplusplus
}
#endif

#endif
