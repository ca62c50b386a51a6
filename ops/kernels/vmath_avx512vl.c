/* The AVX-512 vector math (16 floats a vector) for the avx512vl level too:
 * where 512-bit operations are two 256-bit halves (Zen 4), the FMA peak is
 * the AVX2 one, but these kernels, long chains of many kinds of operation,
 * are limited by how many instructions the core takes in, and 512-bit ones
 * do twice the work each. Zen 4, 256 floats in L1: sigmoid 0.34 ns a float
 * against 0.43 for the AVX2 kernel, tanh 0.50 against 0.64; LSTM training
 * step B=64 T=50 I=H=256 0.45% faster, B=64 T=28 I=28 H=128 about 2%. */
#define ISA avx512vl
#include "vmath_avx512.c"
