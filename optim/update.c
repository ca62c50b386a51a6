/* Optimizer update loops in F32 and F64 (the formulas are in
 * update_tmpl.h, written once for both types) and their dispatch. */
#include <math.h>
#include <stdatomic.h>

#include "../core/internal.h"
#include "optim_internal.h"

/* Where GCC targets x86, the Adam loop is also built for AVX2 with FMA
 * and taken when the CPU has both. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TG_UPDATE_FMA __attribute__((target("avx2,fma")))
static bool update_has_fma(void)
{
    /* Asked once. Models trained one per thread take their first steps
     * at once: they may both ask, and store the same answer. */
    static atomic_int has = -1;
    int answer = atomic_load_explicit(&has, memory_order_relaxed);
    if (answer < 0) {
        __builtin_cpu_init();
        answer = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        atomic_store_explicit(&has, answer, memory_order_relaxed);
    }
    return answer;
}
#endif

/* torch.maximum: NaN if either side is NaN. */
#define MAX_NAN(a, b) (((a) != (a) || (a) > (b)) ? (a) : (b))

#define T float
#define FMA fmaf
#define SQRT sqrtf
#define FN(name) name##_f32
#include "update_tmpl.h"
#undef T
#undef FMA
#undef SQRT
#undef FN

#define T double
#define FMA fma
#define SQRT sqrt
#define FN(name) name##_f64
#include "update_tmpl.h"
#undef T
#undef FMA
#undef SQRT
#undef FN

static void *slot_data(const optim_state *st, int k) { return st->slot[k] ? tg_data(st->slot[k]) : NULL; }

void tg__optim_update(tg_optim *o, int i, bool first)
{
    tg_tensor *param = o->params[i].tensor;
    const int group = o->params[i].group;
    const optim_hyper *h = &o->hyper[group];
    const double lr = *(const double *)tg_data(o->lr[group]);
    const optim_state *st = &o->state[i];
    const int64_t n = tg_numel(param);
    const int64_t step = st->step ? *(const int64_t *)tg_data(st->step) : 0;
    const bool f32 = param->dtype == TG_F32;
    void *p = tg_data(param);
    const void *g = tg_data(param->grad);
    param->storage->version++; /* an in-place write, as tg_add_ */
    switch (o->kind) {
    case OPTIM_SGD:
        (f32 ? sgd_f32 : sgd_f64)(n, p, g, slot_data(st, 0), first, h, lr);
        break;
    case OPTIM_ADAM:
    case OPTIM_ADAMW:
        (f32 ? adam_f32 : adam_f64)(n, p, g, slot_data(st, 0), slot_data(st, 1), slot_data(st, 2), h, lr, step,
                                    o->kind == OPTIM_ADAMW);
        break;
    case OPTIM_RMSPROP:
        (f32 ? rmsprop_f32 : rmsprop_f64)(n, p, g, slot_data(st, 0), slot_data(st, 1), slot_data(st, 2), h, lr);
        break;
    case OPTIM_ADAGRAD:
        (f32 ? adagrad_f32 : adagrad_f64)(n, p, g, slot_data(st, 0), h, lr, step);
        break;
    }
}
