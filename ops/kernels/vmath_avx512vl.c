/* The AVX2 vector math compiled with AVX-512VL, for the avx512vl level
 * (gemm_avx512vl.c says why that level exists). */
#define ISA avx512vl
#include "vmath_avx2.c"
