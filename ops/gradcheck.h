/* gradcheck: compare analytic gradients with central differences.
 *
 * fn maps the inputs to an output tensor; gradcheck reduces it to the
 * scalar L = sum(out * w) with fixed pseudo-random weights w, so every
 * output element's gradient is exercised. For every input that requires
 * grad and every element of it, (L(x + eps) - L(x - eps)) / (2 eps) is
 * compared with the element of dL/dx from tg_backward. Inputs should be F64
 * leaves; fn may view them (transpose, narrow, expand) before its op to
 * test non-contiguous and broadcast paths. */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef tg_tensor *(*tg_gradcheck_fn)(int n, tg_tensor **inputs, void *ctx);

typedef struct {
    double max_abs_err;   /* worst |analytic - numeric| */
    double max_rel_err;   /* worst |analytic - numeric| / |numeric|, where numeric != 0 */
    int worst_input;      /* which input and element gave the worst error */
    int64_t worst_index;  /* row-major element index */
    double analytic, numeric; /* the two values there */
} tg_gradcheck_result;

/* At most 16 inputs. Returns 0 if every element satisfies |analytic - numeric| <= atol + rtol *
 * |numeric| (PyTorch's test), 1 if not (result says where), -1 on error (fn
 * failed, memory ran out, an input is not a float leaf, an input that
 * requires grad is expanded (stride 0: one perturbation would move several
 * of its elements), or eps is not positive). Sensible values for F64: eps 1e-6,
 * atol 1e-5, rtol 1e-3. result may be NULL; it is written on every return,
 * on -1 with NaN errors and values and worst_input and worst_index -1.
 * F32 inputs are accepted, as PyTorch's gradcheck accepts them (it warns
 * "Input #0 requires gradient and is not a double precision floating
 * point"): with F32's 24-bit mantissa the difference at eps 1e-6 is mostly
 * rounding, so the check will likely fail at F64's settings; eps 1e-3,
 * atol and rtol 1e-2 suit smooth functions. */
int tg_gradcheck(tg_gradcheck_fn fn, int n, tg_tensor **inputs, void *ctx, double eps, double atol,
                 double rtol, tg_gradcheck_result *result);

#ifdef __cplusplus
}
#endif

#endif
