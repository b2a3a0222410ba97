#include "CKernels.h"

#include <math.h>

#include "dispatch.h"

void ck_q8_quantize(const float *x, ptrdiff_t n, int8_t *q, float *d) {
  for (ptrdiff_t block = 0; block < n / 32; block++) {
    const float *xb = x + 32 * block;
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
    const float scale = amax / 127;
    const float inverse = scale != 0 ? 1 / scale : 0;
    d[block] = scale;
    for (int i = 0; i < 32; i++) q[32 * block + i] = (int8_t)roundf(xb[i] * inverse);
  }
}

static void dot_rows_portable(const int8_t *wq, const float *wd, const int8_t *xq,
                              const float *xd, float *y, ptrdiff_t rows, ptrdiff_t cols) {
  const ptrdiff_t blocks = cols / 32;
  for (ptrdiff_t r = 0; r < rows; r++) {
    const int8_t *w = wq + r * cols;
    float total = 0;
    for (ptrdiff_t b = 0; b < blocks; b++) {
      int32_t sum = 0;
      for (int i = 0; i < 32; i++) sum += (int32_t)w[32 * b + i] * (int32_t)xq[32 * b + i];
      total += wd[r * blocks + b] * xd[b] * (float)sum;
    }
    y[r] = total;
  }
}

#ifdef CK_X86
// Products of |w| (unsigned) and x·sign(w) (signed) in pairs (vpmaddubsw), then in fours
// (vpmaddwd): 8 int32 sums per block of 32. |q| ≤ 127, so no pair sum saturates int16.
__attribute__((target("avx2,fma"))) static void dot_rows_avx2(
    const int8_t *wq, const float *wd, const int8_t *xq, const float *xd, float *y,
    ptrdiff_t rows, ptrdiff_t cols) {
  const ptrdiff_t blocks = cols / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  for (ptrdiff_t r = 0; r < rows; r++) {
    const int8_t *w = wq + r * cols;
    const float *scales = wd + r * blocks;
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    // The hardware prefetchers stop at each 4 KiB page: ask for the quants 4 KiB ahead.
    const char *ahead = (const char *)(w + 4096);
    ptrdiff_t b = 0;
    for (; b + 1 < blocks; b += 2) {
      _mm_prefetch(ahead + 32 * b, _MM_HINT_T0);
      const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 32 * b));
      const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
      const __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + 32 * b + 32));
      const __m256i x1 = _mm256_loadu_si256((const __m256i *)(xq + 32 * b + 32));
      const __m256i p0 = _mm256_madd_epi16(
          _mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0)), ones);
      const __m256i p1 = _mm256_madd_epi16(
          _mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(x1, w1)), ones);
      acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scales[b] * xd[b]), _mm256_cvtepi32_ps(p0), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_set1_ps(scales[b + 1] * xd[b + 1]), _mm256_cvtepi32_ps(p1),
                             acc1);
    }
    for (; b < blocks; b++) {
      const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 32 * b));
      const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
      const __m256i p0 = _mm256_madd_epi16(
          _mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0)), ones);
      acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scales[b] * xd[b]), _mm256_cvtepi32_ps(p0), acc0);
    }
    const __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    y[r] = _mm_cvtss_f32(sum);
  }
}
#endif

void ck_q8_dot_rows(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd,
                    float *y, ptrdiff_t rows, ptrdiff_t cols) {
#ifdef CK_X86
  if (ck_cpu_has_avx2_fma()) {
    dot_rows_avx2(wq, wd, xq, xd, y, rows, cols);
    return;
  }
#endif
  dot_rows_portable(wq, wd, xq, xd, y, rows, cols);
}
