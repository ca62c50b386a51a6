/* tapegrad: a tape-based autodiff tensor library in C with recurrent layers.
 * Include this one header to get the whole public API. */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include <tapegrad/version.h>
#include <tapegrad/error.h>
#include <tapegrad/tensor.h>
#include <tapegrad/scope.h>
#include <tapegrad/autograd.h>
#include <tapegrad/random.h>
#include <tapegrad/safetensors.h>
#include <tapegrad/threads.h>
#include <tapegrad/gradcheck.h>
#include <tapegrad/gemm.h>
#include <tapegrad/elementwise.h>
#include <tapegrad/custom.h>
#include <tapegrad/fuse.h>
#include <tapegrad/reduce.h>
#include <tapegrad/linalg.h>
#include <tapegrad/shape.h>
#include <tapegrad/nn.h>
#include <tapegrad/params.h>
#include <tapegrad/linear.h>
#include <tapegrad/embedding.h>
#include <tapegrad/dropout.h>
#include <tapegrad/layernorm.h>
#include <tapegrad/cells.h>
#include <tapegrad/rnn.h>
#include <tapegrad/variants.h>
#include <tapegrad/state.h>
#include <tapegrad/optim.h>
#include <tapegrad/clip.h>
#include <tapegrad/schedule.h>
#include <tapegrad/checkpoint.h>
#include <tapegrad/dist.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
