// Run-time choice of the kernels' instruction set, shared by the kernel files (not public).
#ifndef CKERNELS_DISPATCH_H
#define CKERNELS_DISPATCH_H

#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1

// The target attributes of each path: functions carrying them run only where ck_detected_isa()
// reports at least that level.
#define CK_TARGET_AVX2 "avx2,fma"
#define CK_TARGET_AVX512 "avx2,fma,avx512f,avx512bw,avx512dq,avx512vl"
#define CK_TARGET_AVX512_VNNI CK_TARGET_AVX512 ",avx512vnni"
#endif

// The element-wise kernels of each path (vector.inc compiled once per instruction set).
extern const ck_kernels ck_kernels_portable;
#ifdef CK_X86
extern const ck_kernels ck_kernels_avx2;
extern const ck_kernels ck_kernels_avx512;
extern const ck_kernels ck_kernels_avx512_vnni;
#endif

// The matrix-vector products of each path (f32.c, q8.c).
void ck_f32_dot_rows_portable(const float *w, ptrdiff_t ldw, const float *x, float *y,
                              ptrdiff_t rows, ptrdiff_t cols, int accumulate);
void ck_q8_dot_rows_portable(const int8_t *wq, const float *wd, const int8_t *xq,
                             const float *xd, float *y, ptrdiff_t rows, ptrdiff_t cols);
#ifdef CK_X86
void ck_f32_dot_rows_avx2(const float *w, ptrdiff_t ldw, const float *x, float *y,
                          ptrdiff_t rows, ptrdiff_t cols, int accumulate);
void ck_f32_dot_rows_avx512(const float *w, ptrdiff_t ldw, const float *x, float *y,
                            ptrdiff_t rows, ptrdiff_t cols, int accumulate);
void ck_q8_dot_rows_avx2(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd,
                         float *y, ptrdiff_t rows, ptrdiff_t cols);
void ck_q8_dot_rows_avx512_vnni(const int8_t *wq, const float *wd, const int8_t *xq,
                                const float *xd, float *y, ptrdiff_t rows, ptrdiff_t cols);
double ck_fma_loop_avx2(long iterations);
double ck_fma_loop_avx512(long iterations);
#endif
double ck_fma_loop_portable(long iterations);

#endif
