// Run-time choice of the kernels' instruction set, shared by the kernel files (not public).
#ifndef CKERNELS_DISPATCH_H
#define CKERNELS_DISPATCH_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1

// Whether this CPU runs the functions compiled with __attribute__((target("avx2,fma"))).
static inline int ck_cpu_has_avx2_fma(void) {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

#endif
