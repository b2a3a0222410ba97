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

void ck_q8_dot_rows_portable(const int8_t *wq, const float *wd, const int8_t *xq,
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
__attribute__((target(CK_TARGET_AVX2))) void ck_q8_dot_rows_avx2(
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

// Two blocks per 512-bit register: `vpdpbusd` multiplies |w| (unsigned) by x·sign(w) (signed)
// and adds each four products into an int32 lane, so lanes 0–7 hold block b's eight partial
// sums and lanes 8–15 block b + 1's, scaled per half and accumulated in float. AVX-512 has no
// `vpsignb`: x is negated under the mask of w's sign bits.
__attribute__((target(CK_TARGET_AVX512_VNNI))) void ck_q8_dot_rows_avx512_vnni(
    const int8_t *wq, const float *wd, const int8_t *xq, const float *xd, float *y,
    ptrdiff_t rows, ptrdiff_t cols) {
  const ptrdiff_t blocks = cols / 32;
  const __m512i zero = _mm512_setzero_si512();
  for (ptrdiff_t r = 0; r < rows; r++) {
    const int8_t *w = wq + r * cols;
    const float *scales = wd + r * blocks;
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    const char *ahead = (const char *)(w + 4096);
    ptrdiff_t b = 0;
    for (; b + 3 < blocks; b += 4) {
      _mm_prefetch(ahead + 32 * b, _MM_HINT_T0);
      _mm_prefetch(ahead + 32 * b + 64, _MM_HINT_T0);
      const __m512i w0 = _mm512_loadu_si512((const void *)(w + 32 * b));
      const __m512i x0 = _mm512_loadu_si512((const void *)(xq + 32 * b));
      const __m512i w1 = _mm512_loadu_si512((const void *)(w + 32 * b + 64));
      const __m512i x1 = _mm512_loadu_si512((const void *)(xq + 32 * b + 64));
      const __m512i s0 = _mm512_mask_sub_epi8(x0, _mm512_movepi8_mask(w0), zero, x0);
      const __m512i s1 = _mm512_mask_sub_epi8(x1, _mm512_movepi8_mask(w1), zero, x1);
      const __m512i p0 = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(w0), s0);
      const __m512i p1 = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(w1), s1);
      const __m512 d0 = _mm512_insertf32x8(_mm512_set1_ps(scales[b] * xd[b]),
                                           _mm256_set1_ps(scales[b + 1] * xd[b + 1]), 1);
      const __m512 d1 = _mm512_insertf32x8(_mm512_set1_ps(scales[b + 2] * xd[b + 2]),
                                           _mm256_set1_ps(scales[b + 3] * xd[b + 3]), 1);
      acc0 = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(p0), acc0);
      acc1 = _mm512_fmadd_ps(d1, _mm512_cvtepi32_ps(p1), acc1);
    }
    __m256 tail = _mm256_setzero_ps();
    for (; b < blocks; b++) {
      const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 32 * b));
      const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
      const __m256i s0 =
          _mm256_mask_sub_epi8(x0, _mm256_movepi8_mask(w0), _mm256_setzero_si256(), x0);
      const __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w0), s0);
      tail = _mm256_fmadd_ps(_mm256_set1_ps(scales[b] * xd[b]), _mm256_cvtepi32_ps(p0), tail);
    }
    const __m512 acc = _mm512_add_ps(acc0, acc1);
    const __m256 halves =
        _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    const __m256 v = _mm256_add_ps(halves, tail);
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    y[r] = _mm_cvtss_f32(sum);
  }
}
#endif
