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
static void FN(adam)(int64_t n, void *param_v, const void *grad_v, void *exp_avg_v, void *exp_avg_sq_v,
                     void *max_exp_avg_sq_v, const optim_hyper *h, double lr, int64_t step, bool decoupled)
{
    T *param = param_v, *exp_avg = exp_avg_v, *exp_avg_sq = exp_avg_sq_v, *max_sq = max_exp_avg_sq_v;
    const T *grad = grad_v;
    const double bias_correction1 = 1 - pow(h->beta1, (double)step);
    const double bias_correction2 = 1 - pow(h->beta2, (double)step);
    const T neg_step_size = (T)(-(lr / bias_correction1));
    const T bias_correction2_sqrt = (T)sqrt(bias_correction2);
    const T beta1 = (T)h->beta1, beta2 = (T)h->beta2;
    const T one_minus_beta1 = (T)(1 - h->beta1), one_minus_beta2 = (T)(1 - h->beta2);
    const T eps = (T)h->eps, wd = (T)h->weight_decay, shrink = (T)(1 - lr * h->weight_decay);
    const bool l2 = !decoupled && h->weight_decay != 0;
    tg__parallel region = tg__parallel_begin(tg__threads_for(n, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            T g = grad[i];
            if (decoupled) param[i] *= shrink;
            else if (l2) g = FMA(wd, param[i], g);
            exp_avg[i] = FMA(one_minus_beta1, g, exp_avg[i] * beta1);
            exp_avg_sq[i] = FMA(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);
            T second = exp_avg_sq[i];
            if (max_sq) second = max_sq[i] = MAX_NAN(max_sq[i], second);
            const T denom = SQRT(second) / bias_correction2_sqrt + eps;
            param[i] += neg_step_size * exp_avg[i] / denom;
        }
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
