/* Linear algebra: matmul with torch.matmul's rules, bmm, linear and outer.
 * All run on the packed GEMM (gemm.h) with the operands' own strides, so
 * transposed or sliced inputs cost no copy, in forward or backward. */
#ifndef TG_LINALG_H
#define TG_LINALG_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* torch.matmul: 1-D x 1-D is a dot product (0-dim); 2-D x 2-D is the matrix
 * product (n,k)x(k,m) -> (n,m); a 1-D operand is promoted to a row (first)
 * or a column (second) and that dim removed after; N-D operands are batches
 * of matrices whose batch dims broadcast: (j,1,n,k) x (l,k,m) -> (j,l,n,m). */
tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b);
/* Batched product without broadcasting: (B,n,k) x (B,k,m) -> (B,n,m). */
tg_tensor *tg_bmm(tg_tensor *a, tg_tensor *b);
/* x W^T + b with x (..., in), W (out, in) as PyTorch stores it, and bias
 * (out) or NULL: one op, one GEMM, the bias added in the same pass. bias
 * may also be any tensor that broadcasts to the output (..., out), such as
 * a (B, out) term to add, as torch.addmm's input: a recurrent cell's
 * x W_ih^T + b + h W_hh^T is then one op per step. */
tg_tensor *tg_linear(tg_tensor *x, tg_tensor *weight, tg_tensor *bias);
/* Outer product: (n) x (m) -> (n,m). */
tg_tensor *tg_outer(tg_tensor *a, tg_tensor *b);

#ifdef __cplusplus
}
#endif

#endif
