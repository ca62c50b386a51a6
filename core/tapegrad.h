/* tapegrad: a tape-based autodiff tensor library in C with recurrent layers.
 * Include this one header to get the whole public API. */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "error.h"
#include "tensor.h"
#include "scope.h"
#include "autograd.h"
#include "random.h"
#include "threads.h"
#include "gradcheck.h"
#include "gemm.h"
#include "elementwise.h"
#include "reduce.h"
#include "linalg.h"
#include "shape.h"
#include "nn.h"
#include "params.h"
#include "linear.h"
#include "embedding.h"
#include "dropout.h"
#include "layernorm.h"
#include "cells.h"
#include "rnn.h"
#include "optim.h"
#include "clip.h"
#include "schedule.h"

#endif
