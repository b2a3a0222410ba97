#include "CKernels.h"

#include "dispatch.h"

static void dot_rows_portable(const float *w, ptrdiff_t ldw, const float *x, float *y,
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
__attribute__((target("avx2,fma"))) static void dot_rows_avx2(
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
#endif

void ck_f32_dot_rows(const float *w, ptrdiff_t ldw, const float *x, float *y, ptrdiff_t rows,
                     ptrdiff_t cols, int accumulate) {
#ifdef CK_X86
  if (ck_cpu_has_avx2_fma()) {
    dot_rows_avx2(w, ldw, x, y, rows, cols, accumulate);
    return;
  }
#endif
  dot_rows_portable(w, ldw, x, y, rows, cols, accumulate);
}
