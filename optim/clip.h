/* Gradient clipping: torch.nn.utils.clip_grad_norm_ and clip_grad_value_
 * over a parameter collection. Entries whose .grad is NULL are skipped. */
#ifndef TG_CLIP_H
#define TG_CLIP_H

#include <tapegrad/params.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Scale every gradient by min(1, max_norm / (total + 1e-6)), where total is
 * the norm_type-norm of all gradients taken together, computed as PyTorch
 * does: the norm of the vector of per-gradient norms. norm_type is any
 * p >= 0 (0 counts non-zero entries) or INFINITY (largest magnitude). Sums
 * run in double for F32 gradients too, and a sum that would overflow is
 * rescaled (PyTorch returns inf there), so the total is non-finite only when
 * a gradient holds inf or NaN. The coefficient is rounded as PyTorch's
 * is: 1 / (total + 1e-6), then times max_norm, each rounded to float when
 * every gradient is F32 (and the total fits a float), so the clipped
 * gradients are torch's to the bit for the same total. The total is
 * written to *total_norm (when not NULL; 0 when no entry has a gradient).
 * Returns 0; 1 if the total is NaN or infinite, leaving every gradient
 * unchanged with a message (PyTorch's error_if_nonfinite=True); -1 with a
 * message on bad arguments (NULL collection, max_norm < 0, norm_type < 0 or
 * NaN, a non-float or strided gradient). */
int tg_clip_grad_norm(const tg_params *params, double max_norm, double norm_type, double *total_norm);

/* Clamp every gradient element into [-clip_value, clip_value] (NaN stays
 * NaN). Returns 0, or -1 with a message for clip_value < 0 or NaN or a bad
 * gradient. */
int tg_clip_grad_value(const tg_params *params, double clip_value);

#ifdef __cplusplus
}
#endif

#endif
