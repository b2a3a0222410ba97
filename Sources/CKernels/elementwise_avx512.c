// The element-wise kernels for AVX-512 (each 16-lane vector is one register). The VNNI table
// differs only in its int8 dot product.
#include "dispatch.h"

#ifdef CK_X86
#pragma clang attribute push(__attribute__((target(CK_TARGET_AVX512))), apply_to = function)
#define CK_SUFFIX avx512
#define CK_FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
#include "elementwise.h"
#pragma clang attribute pop

const ck_kernels ck_kernels_avx512 = {
    .isa = CK_ISA_AVX512,
    .f32_dot_rows = ck_f32_dot_rows_avx512,
    .q8_dot_rows = ck_q8_dot_rows_avx2,
    CK_ELEMENTWISE_ENTRIES,
};

const ck_kernels ck_kernels_avx512_vnni = {
    .isa = CK_ISA_AVX512_VNNI,
    .f32_dot_rows = ck_f32_dot_rows_avx512,
    .q8_dot_rows = ck_q8_dot_rows_avx512_vnni,
    CK_ELEMENTWISE_ENTRIES,
};
#endif
