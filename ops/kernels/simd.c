/* Run-time choice of the SIMD level. The tables below point at kernels
 * compiled with -mavx512f / -mavx2 in their own libraries; this file is
 * compiled without such flags, so it runs on any x86-64 (or other) CPU and
 * only hands out a table whose instructions the CPU (and OS: the builtin
 * checks XGETBV for zmm/ymm state) supports. */
#include <tapegrad/gemm.h>
#include "kern_simd.h"
#include <tapegrad/error.h>

#if defined(TG_HAVE_AVX512) && defined(TG_HAVE_AVX512VL)
#include <x86intrin.h>
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The fields every level fills the same way: its name and its kernels,
 * tg_<kernel>_<dtype>_<level> (declared in kern_simd.h). */
#define TG_SIMD_KERNELS(LEVEL)                                                              \
    .name = #LEVEL, .ukr_f32 = tg_ukr_f32_##LEVEL, .ukr_f64 = tg_ukr_f64_##LEVEL,           \
    .pack_bt_f32 = tg_pack_bt_f32_##LEVEL, .pack_bt_f64 = tg_pack_bt_f64_##LEVEL,           \
    .dots_f32 = tg_dots_f32_##LEVEL, .dots_f64 = tg_dots_f64_##LEVEL,                       \
    .vexp_f32 = tg_vexp_f32_##LEVEL, .vtanh_f32 = tg_vtanh_f32_##LEVEL,                     \
    .vsigmoid_f32 = tg_vsigmoid_f32_##LEVEL

/* The vector levels' kernels for tiles of few columns, for a transposed B
 * read in place and for packing a row-major A. */
#define TG_SIMD_VECTOR_KERNELS(LEVEL)                                                       \
    .ukr_cols_f32 = tg_ukr_cols_f32_##LEVEL, .ukr_cols_f64 = tg_ukr_cols_f64_##LEVEL,       \
    .ukr_bias_f32 = tg_ukr_bias_f32_##LEVEL, .ukr_bias_f64 = tg_ukr_bias_f64_##LEVEL,       \
    .ukr_wt_f32 = tg_ukr_wt_f32_##LEVEL, .ukr_wt_f64 = tg_ukr_wt_f64_##LEVEL,               \
    .pack_a_f32 = tg_pack_a_f32_##LEVEL, .pack_a_f64 = tg_pack_a_f64_##LEVEL

/* Blocking: {mr, nr, mc, kc, nc} (see tg_gemm_blocking). */
static const tg_simd_impl impl_scalar = {
    TG_SIMD_KERNELS(scalar),
    .blocking_f32 = {TG_SCALAR_MR, TG_SCALAR_NR, 128, 256, 2048},
    .blocking_f64 = {TG_SCALAR_MR, TG_SCALAR_NR, 128, 128, 2048},
};

static bool cpu_any(void) { return true; }

#ifdef TG_HAVE_AVX2
static const tg_simd_impl impl_avx2 = {
    TG_SIMD_KERNELS(avx2),
    TG_SIMD_VECTOR_KERNELS(avx2),
    .blocking_f32 = {TG_AVX2_MR, TG_AVX2_NR_F32, 144, 256, 4096},
    .blocking_f64 = {TG_AVX2_MR, TG_AVX2_NR_F64, 96, 256, 4096},
};

static bool cpu_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

#ifdef TG_HAVE_AVX512VL
static const tg_simd_impl impl_avx512vl = {
    TG_SIMD_KERNELS(avx512vl),
    TG_SIMD_VECTOR_KERNELS(avx512vl),
    .blocking_f32 = {TG_AVX512VL_MR, TG_AVX2_NR_F32, 144, 256, 4096},
    .blocking_f64 = {TG_AVX512VL_MR, TG_AVX2_NR_F64, 96, 256, 4096},
};
static bool cpu_avx512vl(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
}
#endif
#ifdef TG_HAVE_AVX512
static const tg_simd_impl impl_avx512 = {
    TG_SIMD_KERNELS(avx512),
    TG_SIMD_VECTOR_KERNELS(avx512),
    .blocking_f32 = {TG_AVX512_MR, TG_AVX512_NR_F32, 192, 256, 4096},
    .blocking_f64 = {TG_AVX512_MR, TG_AVX512_NR_F64, 96, 256, 4096},
};

static bool cpu_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
}
#endif

/* Levels from best to worst. A level is usable if this build has its table
 * and cpu_has() says the CPU can run it; a level the build lacks keeps its
 * name, so that forcing it says "not supported" rather than "unknown". */
static const struct {
    const char *name;
    const tg_simd_impl *impl;
    bool (*cpu_has)(void);
} levels[] = {
#ifdef TG_HAVE_AVX512
    {"avx512", &impl_avx512, cpu_avx512},
#else
    {"avx512", NULL, NULL},
#endif
#ifdef TG_HAVE_AVX512VL
    {"avx512vl", &impl_avx512vl, cpu_avx512vl},
#else
    {"avx512vl", NULL, NULL},
#endif
#ifdef TG_HAVE_AVX2
    {"avx2", &impl_avx2, cpu_avx2},
#else
    {"avx2", NULL, NULL},
#endif
    {"scalar", &impl_scalar, cpu_any},
};
enum { LEVEL_COUNT = sizeof levels / sizeof levels[0] };

static const tg_simd_impl *level_impl(int level)
{
    return levels[level].impl && levels[level].cpu_has() ? levels[level].impl : NULL;
}

static int level_from_name(const char *name)
{
    for (int level = 0; level < LEVEL_COUNT; level++)
        if (strcmp(name, levels[level].name) == 0) return level;
    return -1;
}

/* Which instructions exist does not say which are fast: Zen 4 runs a
 * 512-bit FMA as two 256-bit halves, so its AVX-512 peak equals its AVX2
 * peak (bench/peak: 117 GFLOP/s per core in f32 for both), and 256-bit
 * kernels, with their cheaper loads, are faster there (SGEMM 1024^3: 97
 * GFLOP/s with 512-bit tiles, 100 with the AVX2 ones, 103 with avx512vl's,
 * the AVX2 code given AVX-512's 32 registers for a taller tile). Zen 5's
 * server cores have full-width AVX-512, its laptop cores split it as Zen 4
 * does, and so do Intel's cores with one 512-bit FMA unit: no family or
 * model number says which, so the first call times both vector widths on
 * the FMA probe (kern_simd.h): about 20 us, once per process. Each
 * round's best time is kept, since a round the host interrupts only runs
 * long, and the two widths alternate, so a change of clock lands on both.
 * The two answers are 2 and 1 flops per tick against 256-bit vectors, far
 * from the 1.5 that separates them, so noise does not move the choice. */
#define PROBE_ROUNDS 12
#define PROBE_ITERS 512

bool tg_simd_wide_pays(uint64_t ticks_wide, uint64_t ticks_narrow)
{
    if (ticks_wide == 0 || ticks_narrow == 0) return true;
    /* 2 ticks_narrow / ticks_wide >= 1.5 */
    return 4 * (double)ticks_narrow >= 3 * (double)ticks_wide;
}

#if defined(TG_HAVE_AVX512) && defined(TG_HAVE_AVX512VL)
static bool avx512_is_full_width(void)
{
    uint64_t best[2] = {UINT64_MAX, UINT64_MAX};
    float (*const probe[2])(int64_t) = {tg_fma_probe_avx512, tg_fma_probe_avx512vl};
    volatile float sink = 0;
    unsigned aux;
    for (int round = 0; round < PROBE_ROUNDS; round++)
        for (int w = 0; w < 2; w++) {
            /* rdtscp waits for the instructions before it to finish. */
            uint64_t t0 = __rdtscp(&aux);
            sink += probe[w](PROBE_ITERS);
            uint64_t t = __rdtscp(&aux) - t0;
            if (t < best[w]) best[w] = t;
        }
    (void)sink;
    return tg_simd_wide_pays(best[0], best[1]);
}
#else
static bool avx512_is_full_width(void) { return true; }
#endif

/* The best usable level at or below the one TG_SIMD names (an unknown name
 * is ignored: the library must not fail because of a typo in the
 * environment); without TG_SIMD, the fastest level on this CPU. */
static const tg_simd_impl *automatic_choice(void)
{
    const char *env = getenv("TG_SIMD");
    int start = env ? level_from_name(env) : -1;
    if (start < 0) start = level_impl(0) && level_impl(1) && !avx512_is_full_width() ? 1 : 0;
    for (int level = start; level < LEVEL_COUNT; level++) {
        const tg_simd_impl *impl = level_impl(level);
        if (impl) return impl;
    }
    return &impl_scalar;
}

/* The first call chooses; calls racing it (the threads of a parallel
 * region entering the vector math at once) wait for its answer rather
 * than time the probe beside it, since two timings could disagree, and
 * on two vCPUs that share a core each would slow the other's. */
static _Atomic(const tg_simd_impl *) current;
static atomic_flag choosing = ATOMIC_FLAG_INIT;

const tg_simd_impl *tg_simd_current(void)
{
    const tg_simd_impl *impl = atomic_load_explicit(&current, memory_order_acquire);
    if (impl) return impl;
    if (!atomic_flag_test_and_set_explicit(&choosing, memory_order_acq_rel)) {
        impl = automatic_choice();
        atomic_store_explicit(&current, impl, memory_order_release);
        return impl;
    }
    while (!(impl = atomic_load_explicit(&current, memory_order_acquire))) {
    }
    return impl;
}

const char *tg_simd_level(void) { return tg_simd_current()->name; }

int tg_simd_force(const char *name)
{
    if (!name) {
        atomic_store_explicit(&current, automatic_choice(), memory_order_release);
        return 0;
    }
    int level = level_from_name(name);
    if (level < 0)
        return tg_fail("tg_simd_force: unknown SIMD level '%s' (expected avx512, avx512vl, avx2 or scalar)", name);
    const tg_simd_impl *impl = level_impl(level);
    if (!impl) return tg_fail("tg_simd_force: SIMD level '%s' is not supported by this CPU or build", name);
    atomic_store_explicit(&current, impl, memory_order_release);
    return 0;
}
