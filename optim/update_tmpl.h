/* The update loops of one float type. update.c includes this file twice,
 * with T = float or double and FMA, SQRT and FN(name) (name_f32/name_f64)
 * defined to match.
 *
 * Each loop follows torch.optim 1.13's single-tensor code operation by
 * operation, in T, with hyper-parameters rounded to T as ATen rounds a
 * Python scalar. ATen evaluates `a.add(b, alpha=s)` and
 * `a.addcmul(b, c, value=s)` with a fused multiply-add (FMA(s, b, a) and
 * FMA(s * b, c, a)) and `a.addcdiv(b, c, value=s)` as a + s * b / c; doing
 * the same keeps F64 trajectories equal to PyTorch's to the last bits the
 * model's own rounding allows. Elements are independent, so large
 * parameters split across threads with identical results. */

/* d = g + wd * p;  buf = first ? d : m * buf + (1 - dampening) * d;
 * d = nesterov ? d + m * buf : buf (no buffer when m == 0);  p -= lr * d */
static void FN(sgd)(int64_t n, void *param_v, const void *grad_v, void *buf_v, bool first,
                    const optim_hyper *h, double lr)
{
    T *param = param_v, *buf = buf_v;
    const T *grad = grad_v;
    const bool decay = h->weight_decay != 0;
    const T wd = (T)h->weight_decay, momentum = (T)h->momentum;
    const T keep = (T)(1 - h->dampening), neg_lr = (T)(-lr);
    tg__parallel region = tg__parallel_begin(tg__threads_for(n, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            T d = grad[i];
            if (decay) d = FMA(wd, param[i], d);
            if (buf) {
                buf[i] = first ? d : FMA(keep, d, buf[i] * momentum);
                d = h->nesterov ? FMA(momentum, buf[i], d) : buf[i];
            }
            param[i] = FMA(neg_lr, d, param[i]);
        }
    }
    tg__parallel_end(&region);
}

/* Adam: g += wd * p;  AdamW instead: p *= 1 - lr * wd.
 * m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g;
 * amsgrad: vmax = max(vmax, v) (NaN propagates, as torch.maximum), used for v;
 * p += -(lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps), bc_k = 1 - beta_k^step */
typedef struct {
    T *param, *exp_avg, *exp_avg_sq, *max_sq;
    const T *grad;
    T neg_step_size, bias_correction2_sqrt, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, wd, shrink;
    bool l2, decoupled;
} FN(adam_args);

#define ADAM_RANGE                                                                               \
    {                                                                                            \
        T *restrict param = a->param, *restrict exp_avg = a->exp_avg;                            \
        T *restrict exp_avg_sq = a->exp_avg_sq, *restrict max_sq = a->max_sq;                    \
        const T *restrict grad = a->grad;                                                        \
        const T neg_step_size = a->neg_step_size, bc2_sqrt = a->bias_correction2_sqrt;           \
        const T beta1 = a->beta1, beta2 = a->beta2, one_minus_beta1 = a->one_minus_beta1;        \
        const T one_minus_beta2 = a->one_minus_beta2, eps = a->eps, wd = a->wd, shrink = a->shrink; \
        const bool l2 = a->l2, decoupled = a->decoupled;                                         \
        if (!l2 && !decoupled && !max_sq) { /* plain Adam: a loop without branches */           \
            for (int64_t i = i0; i < i1; i++) {                                                  \
                exp_avg[i] = FMA(one_minus_beta1, grad[i], exp_avg[i] * beta1);                  \
                exp_avg_sq[i] = FMA(one_minus_beta2 * grad[i], grad[i], exp_avg_sq[i] * beta2);  \
                param[i] += neg_step_size * exp_avg[i] / (SQRT(exp_avg_sq[i]) / bc2_sqrt + eps); \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        for (int64_t i = i0; i < i1; i++) {                                                      \
            T g = grad[i];                                                                       \
            if (decoupled) param[i] *= shrink;                                                   \
            else if (l2) g = FMA(wd, param[i], g);                                               \
            exp_avg[i] = FMA(one_minus_beta1, g, exp_avg[i] * beta1);                            \
            exp_avg_sq[i] = FMA(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);                  \
            T second = exp_avg_sq[i];                                                            \
            if (max_sq) second = max_sq[i] = MAX_NAN(max_sq[i], second);                         \
            const T denom = SQRT(second) / bc2_sqrt + eps;                                       \
            param[i] += neg_step_size * exp_avg[i] / denom;                                      \
        }                                                                                        \
    }
static void FN(adam_range)(const FN(adam_args) *a, int64_t i0, int64_t i1) ADAM_RANGE
#ifdef TG_UPDATE_FMA
/* The same loop where the CPU has FMA: fmaf is then an instruction, not a
 * call, and the loop runs in vectors; a fused multiply-add is exact either
 * way, so the results are the same bits. */
TG_UPDATE_FMA static void FN(adam_range_fma)(const FN(adam_args) *a, int64_t i0, int64_t i1) ADAM_RANGE
#endif
#undef ADAM_RANGE

static void FN(adam)(int64_t n, void *param_v, const void *grad_v, void *exp_avg_v, void *exp_avg_sq_v,
                     void *max_exp_avg_sq_v, const optim_hyper *h, double lr, int64_t step, bool decoupled)
{
    const double bias_correction1 = 1 - pow(h->beta1, (double)step);
    const double bias_correction2 = 1 - pow(h->beta2, (double)step);
    const FN(adam_args) args = {
        .param = param_v, .exp_avg = exp_avg_v, .exp_avg_sq = exp_avg_sq_v, .max_sq = max_exp_avg_sq_v,
        .grad = grad_v, .neg_step_size = (T)(-(lr / bias_correction1)),
        .bias_correction2_sqrt = (T)sqrt(bias_correction2), .beta1 = (T)h->beta1, .beta2 = (T)h->beta2,
        .one_minus_beta1 = (T)(1 - h->beta1), .one_minus_beta2 = (T)(1 - h->beta2), .eps = (T)h->eps,
        .wd = (T)h->weight_decay, .shrink = (T)(1 - lr * h->weight_decay),
        .l2 = !decoupled && h->weight_decay != 0, .decoupled = decoupled};
    void (*range)(const FN(adam_args) *, int64_t, int64_t) = FN(adam_range);
#ifdef TG_UPDATE_FMA
    if (update_has_fma()) range = FN(adam_range_fma);
#endif
    /* Fixed pieces, so that which thread takes one changes nothing. */
    const int64_t piece = 4096, pieces = (n + piece - 1) / piece;
    tg__parallel region = tg__parallel_begin(tg__threads_for(n, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t k = 0; k < pieces; k++) range(&args, k * piece, k + 1 < pieces ? (k + 1) * piece : n);
    }
    tg__parallel_end(&region);
}

/* g += wd * p;  sq = alpha * sq + (1 - alpha) * g * g;
 * centered: ga = alpha * ga + (1 - alpha) * g, avg = sqrt(sq - ga * ga) + eps;
 * else avg = sqrt(sq) + eps;
 * momentum: buf = momentum * buf + g / avg, p -= lr * buf;  else p += -lr * g / avg */
static void FN(rmsprop)(int64_t n, void *param_v, const void *grad_v, void *square_avg_v, void *buf_v,
                        void *grad_avg_v, const optim_hyper *h, double lr)
{
    T *param = param_v, *square_avg = square_avg_v, *buf = buf_v, *grad_avg = grad_avg_v;
    const T *grad = grad_v;
    const bool decay = h->weight_decay != 0;
    const T wd = (T)h->weight_decay, alpha = (T)h->alpha, one_minus_alpha = (T)(1 - h->alpha);
    const T eps = (T)h->eps, momentum = (T)h->momentum, neg_lr = (T)(-lr);
    tg__parallel region = tg__parallel_begin(tg__threads_for(n, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            T g = grad[i];
            if (decay) g = FMA(wd, param[i], g);
            square_avg[i] = FMA(one_minus_alpha * g, g, square_avg[i] * alpha);
            T avg;
            if (grad_avg) {
                grad_avg[i] = FMA(one_minus_alpha, g, grad_avg[i] * alpha);
                avg = SQRT(FMA(-grad_avg[i], grad_avg[i], square_avg[i]));
            } else {
                avg = SQRT(square_avg[i]);
            }
            avg = avg + eps;
            if (buf) {
                buf[i] = buf[i] * momentum + g / avg;
                param[i] = FMA(neg_lr, buf[i], param[i]);
            } else {
                param[i] += neg_lr * g / avg;
            }
        }
    }
    tg__parallel_end(&region);
}

/* g += wd * p;  sum += g * g;  p += -(lr / (1 + (step - 1) * lr_decay)) * g / (sqrt(sum) + eps) */
static void FN(adagrad)(int64_t n, void *param_v, const void *grad_v, void *sum_v, const optim_hyper *h,
                        double lr, int64_t step)
{
    T *param = param_v, *sum = sum_v;
    const T *grad = grad_v;
    const bool decay = h->weight_decay != 0;
    const T wd = (T)h->weight_decay, eps = (T)h->eps;
    const T neg_clr = (T)(-(lr / (1 + (double)(step - 1) * h->lr_decay)));
    tg__parallel region = tg__parallel_begin(tg__threads_for(n, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            T g = grad[i];
            if (decay) g = FMA(wd, param[i], g);
            sum[i] = FMA(g, g, sum[i]);
            const T std = SQRT(sum[i]) + eps;
            param[i] += neg_clr * g / std;
        }
    }
    tg__parallel_end(&region);
}
