// The element-wise kernels for AVX2 and FMA (each 16-lane vector is two registers).
#include "dispatch.h"

#ifdef CK_X86
#pragma clang attribute push(__attribute__((target(CK_TARGET_AVX2))), apply_to = function)
#define CK_SUFFIX avx2
#define CK_FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#include "elementwise.h"
#pragma clang attribute pop

const ck_kernels ck_kernels_avx2 = {
    .isa = CK_ISA_AVX2,
    .f32_dot_rows = ck_f32_dot_rows_avx2,
    .q8_dot_rows = ck_q8_dot_rows_avx2,
    CK_ELEMENTWISE_ENTRIES,
};
#endif
