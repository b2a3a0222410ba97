#include "dispatch.h"

void ck_f32_dot_rows_portable(const float *w, ptrdiff_t ldw, const float *x, float *y,
                              ptrdiff_t rows, ptrdiff_t cols, int accumulate) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *row = w + r * ldw;
    float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= cols; i += 8)
      for (int j = 0; j < 8; j++) sums[j] += row[i + j] * x[i + j];
    float total = 0;
    for (int j = 0; j < 8; j++) total += sums[j];
    for (; i < cols; i++) total += row[i] * x[i];
    y[r] = accumulate ? y[r] + total : total;
  }
}

#ifdef CK_X86
__attribute__((target(CK_TARGET_AVX2))) void ck_f32_dot_rows_avx2(
    const float *w, ptrdiff_t ldw, const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
    int accumulate) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *row = w + r * ldw;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    ptrdiff_t i = 0;
    // The hardware prefetchers stop at each 4 KiB page: ask for the row 4 rows ahead.
    const char *ahead = (const char *)(row + 4 * ldw);
    for (; i + 32 <= cols; i += 32) {
      _mm_prefetch(ahead + 4 * i, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 64, _MM_HINT_T0);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(x + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 8), _mm256_loadu_ps(x + i + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 16), _mm256_loadu_ps(x + i + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= cols; i += 8)
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(x + i), a0);
    const __m256 acc = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    float total = _mm_cvtss_f32(sum);
    for (; i < cols; i++) total += row[i] * x[i];
    y[r] = accumulate ? y[r] + total : total;
  }
}

__attribute__((target(CK_TARGET_AVX512))) void ck_f32_dot_rows_avx512(
    const float *w, ptrdiff_t ldw, const float *x, float *y, ptrdiff_t rows, ptrdiff_t cols,
    int accumulate) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *row = w + r * ldw;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    ptrdiff_t i = 0;
    const char *ahead = (const char *)(row + 4 * ldw);
    for (; i + 64 <= cols; i += 64) {
      _mm_prefetch(ahead + 4 * i, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 64, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 128, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 192, _MM_HINT_T0);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + i), _mm512_loadu_ps(x + i), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(row + i + 16), _mm512_loadu_ps(x + i + 16), a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(row + i + 32), _mm512_loadu_ps(x + i + 32), a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(row + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= cols; i += 16)
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + i), _mm512_loadu_ps(x + i), a0);
    if (i < cols) {
      // The tail through a mask: no element is read past the row.
      const __mmask16 mask = (__mmask16)((1u << (cols - i)) - 1);
      a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, row + i), _mm512_maskz_loadu_ps(mask, x + i),
                           a1);
    }
    const __m512 acc = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    const float total = _mm512_reduce_add_ps(acc);
    y[r] = accumulate ? y[r] + total : total;
  }
}

// Twelve independent chains of multiply-adds: enough to cover the latency of two FMA pipes.
#define CK_FMA_LOOP(vector, zero, set1, fmadd, lanes)                                  \
  vector a[12];                                                                          \
  for (int j = 0; j < 12; j++) a[j] = set1(1.0f + 1e-3f * (float)j);                     \
  const vector b = set1(0.999999f), c = set1(1e-7f);                                     \
  for (long it = 0; it < iterations; it++)                                               \
    for (int j = 0; j < 12; j++) a[j] = fmadd(a[j], b, c);                               \
  vector s = zero();                                                                     \
  for (int j = 0; j < 12; j++) s = s + a[j];                                             \
  volatile float sink = s[0];                                                            \
  (void)sink;                                                                            \
  return 2.0 * 12 * (lanes) * (double)iterations;

__attribute__((target(CK_TARGET_AVX512))) double ck_fma_loop_avx512(long iterations) {
  CK_FMA_LOOP(__m512, _mm512_setzero_ps, _mm512_set1_ps, _mm512_fmadd_ps, 16)
}

__attribute__((target(CK_TARGET_AVX2))) double ck_fma_loop_avx2(long iterations) {
  CK_FMA_LOOP(__m256, _mm256_setzero_ps, _mm256_set1_ps, _mm256_fmadd_ps, 8)
}
#endif

// Without FMA: a multiply and an add per lane, the best SSE2 does (counted as two operations).
static inline __m128 ck_mul_add_sse(__m128 a, __m128 b, __m128 c) {
  return _mm_add_ps(_mm_mul_ps(a, b), c);
}

double ck_fma_loop_portable(long iterations) {
#ifdef CK_X86
  CK_FMA_LOOP(__m128, _mm_setzero_ps, _mm_set1_ps, ck_mul_add_sse, 4)
#else
  float a[48];
  for (int j = 0; j < 48; j++) a[j] = 1.0f + 1e-3f * (float)j;
  for (long it = 0; it < iterations; it++)
    for (int j = 0; j < 48; j++) a[j] = a[j] * 0.999999f + 1e-7f;
  float s = 0;
  for (int j = 0; j < 48; j++) s += a[j];
  volatile float sink = s;
  (void)sink;
  return 2.0 * 48 * (double)iterations;
#endif
}
