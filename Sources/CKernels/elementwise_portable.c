// The element-wise kernels in portable C (SSE2 on x86-64): multiply then add, never fused.
#include "dispatch.h"

#define CK_SUFFIX portable
#define CK_FMA(a, b, c) ((a) * (b) + (c))
#include "elementwise.h"

const ck_kernels ck_kernels_portable = {
    .isa = CK_ISA_PORTABLE,
    .f32_dot_rows = ck_f32_dot_rows_portable,
    .q8_dot_rows = ck_q8_dot_rows_portable,
    CK_ELEMENTWISE_ENTRIES,
};
