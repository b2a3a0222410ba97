// Matrix products with several input rows that read each weight once per group of rows, while
// every input row is summed exactly as the one-row kernels of f32.c and q8.c sum it: the same
// lanes, the same accumulators, the same order of blocks and the same final reduction. A row's
// result is therefore the same bits whether it is multiplied alone or beside others, and
// whatever the size of its group (batch-invariant decoding).
#include "dispatch.h"

// Each kernel below is written once for a group size `R` known at compile time (the helpers are
// inlined with a literal `R`, so the per-row accumulators stay in registers) and the public
// entry points walk the input rows in groups of the path's largest `R`.
#define CK_ALWAYS_INLINE static inline __attribute__((always_inline))

// ---- f32: portable. ----

CK_ALWAYS_INLINE void f32_multi_portable(const float *w, ptrdiff_t ldw, const float *x,
                                         ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                                         ptrdiff_t cols, int R) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *row = w + r * ldw;
    float sums[4][8] = {{0}};
    ptrdiff_t i = 0;
    for (; i + 8 <= cols; i += 8)
      for (int k = 0; k < R; k++)
        for (int j = 0; j < 8; j++) sums[k][j] += row[i + j] * x[k * ldx + i + j];
    for (int k = 0; k < R; k++) {
      const float *xk = x + k * ldx;
      float total = 0;
      for (int j = 0; j < 8; j++) total += sums[k][j];
      for (ptrdiff_t t = i; t < cols; t++) total += row[t] * xk[t];
      y[k * ldy + r] = total;
    }
  }
}

static void f32_multi_portable_rows(const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx,
                                    float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                                    ptrdiff_t n) {
  for (ptrdiff_t k = 0; k < n; k += 4) {
    const ptrdiff_t m = n - k < 4 ? n - k : 4;
    const float *xk = x + k * ldx;
    float *yk = y + k * ldy;
    switch (m) {
    case 4: f32_multi_portable(w, ldw, xk, ldx, yk, ldy, rows, cols, 4); break;
    case 3: f32_multi_portable(w, ldw, xk, ldx, yk, ldy, rows, cols, 3); break;
    case 2: f32_multi_portable(w, ldw, xk, ldx, yk, ldy, rows, cols, 2); break;
    default: f32_multi_portable(w, ldw, xk, ldx, yk, ldy, rows, cols, 1); break;
    }
  }
}

// ---- q8_0 (our layout: quants row-major, one float scale per block): portable. ----

CK_ALWAYS_INLINE void q8_multi_portable(const int8_t *wq, const float *wd, const int8_t *xq,
                                        const float *xd, float *y, ptrdiff_t ldy,
                                        ptrdiff_t rows, ptrdiff_t cols, int R) {
  const ptrdiff_t blocks = cols / 32;
  for (ptrdiff_t r = 0; r < rows; r++) {
    const int8_t *w = wq + r * cols;
    float totals[4] = {0, 0, 0, 0};
    for (ptrdiff_t b = 0; b < blocks; b++) {
      for (int k = 0; k < R; k++) {
        const int8_t *x = xq + k * cols;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) sum += (int32_t)w[32 * b + i] * (int32_t)x[32 * b + i];
        totals[k] += wd[r * blocks + b] * xd[k * blocks + b] * (float)sum;
      }
    }
    for (int k = 0; k < R; k++) y[k * ldy + r] = totals[k];
  }
}

static void q8_multi_portable_rows(const int8_t *wq, const float *wd, const int8_t *xq,
                                   const float *xd, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                                   ptrdiff_t cols, ptrdiff_t n) {
  const ptrdiff_t blocks = cols / 32;
  for (ptrdiff_t k = 0; k < n; k += 4) {
    const ptrdiff_t m = n - k < 4 ? n - k : 4;
    const int8_t *xqk = xq + k * cols;
    const float *xdk = xd + k * blocks;
    float *yk = y + k * ldy;
    switch (m) {
    case 4: q8_multi_portable(wq, wd, xqk, xdk, yk, ldy, rows, cols, 4); break;
    case 3: q8_multi_portable(wq, wd, xqk, xdk, yk, ldy, rows, cols, 3); break;
    case 2: q8_multi_portable(wq, wd, xqk, xdk, yk, ldy, rows, cols, 2); break;
    default: q8_multi_portable(wq, wd, xqk, xdk, yk, ldy, rows, cols, 1); break;
    }
  }
}

#ifdef CK_X86
// ---- f32: AVX2 (as ck_f32_dot_rows_avx2: four accumulators over 32 floats, tail of 8 into the
// first, then a scalar tail). Three rows keep 12 accumulators in the 16 registers. ----

__attribute__((target(CK_TARGET_AVX2))) CK_ALWAYS_INLINE void f32_multi_avx2(
    const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
    ptrdiff_t rows, ptrdiff_t cols, int R) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *row = w + r * ldw;
    __m256 a[3][4];
    for (int k = 0; k < R; k++)
      for (int j = 0; j < 4; j++) a[k][j] = _mm256_setzero_ps();
    ptrdiff_t i = 0;
    const char *ahead = (const char *)(row + 4 * ldw);
    for (; i + 32 <= cols; i += 32) {
      _mm_prefetch(ahead + 4 * i, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 64, _MM_HINT_T0);
      for (int j = 0; j < 4; j++) {
        const __m256 wv = _mm256_loadu_ps(row + i + 8 * j);
        for (int k = 0; k < R; k++)
          a[k][j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + k * ldx + i + 8 * j), a[k][j]);
      }
    }
    for (; i + 8 <= cols; i += 8) {
      const __m256 wv = _mm256_loadu_ps(row + i);
      for (int k = 0; k < R; k++)
        a[k][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + k * ldx + i), a[k][0]);
    }
    for (int k = 0; k < R; k++) {
      const float *xk = x + k * ldx;
      const __m256 acc = _mm256_add_ps(_mm256_add_ps(a[k][0], a[k][1]),
                                       _mm256_add_ps(a[k][2], a[k][3]));
      __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
      sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
      sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
      float total = _mm_cvtss_f32(sum);
      for (ptrdiff_t t = i; t < cols; t++) total += row[t] * xk[t];
      y[k * ldy + r] = total;
    }
  }
}

__attribute__((target(CK_TARGET_AVX2))) static void f32_multi_avx2_rows(
    const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
    ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  for (ptrdiff_t k = 0; k < n; k += 3) {
    const ptrdiff_t m = n - k < 3 ? n - k : 3;
    const float *xk = x + k * ldx;
    float *yk = y + k * ldy;
    switch (m) {
    case 3: f32_multi_avx2(w, ldw, xk, ldx, yk, ldy, rows, cols, 3); break;
    case 2: f32_multi_avx2(w, ldw, xk, ldx, yk, ldy, rows, cols, 2); break;
    default: f32_multi_avx2(w, ldw, xk, ldx, yk, ldy, rows, cols, 1); break;
    }
  }
}

// ---- f32: AVX-512 (as ck_f32_dot_rows_avx512: four accumulators over 64 floats, tail of 16
// into the first, masked tail into the second). Six rows keep 24 accumulators in registers. ----

__attribute__((target(CK_TARGET_AVX512))) CK_ALWAYS_INLINE void f32_multi_avx512(
    const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
    ptrdiff_t rows, ptrdiff_t cols, int R) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *row = w + r * ldw;
    __m512 a[6][4];
    for (int k = 0; k < R; k++)
      for (int j = 0; j < 4; j++) a[k][j] = _mm512_setzero_ps();
    ptrdiff_t i = 0;
    const char *ahead = (const char *)(row + 4 * ldw);
    for (; i + 64 <= cols; i += 64) {
      _mm_prefetch(ahead + 4 * i, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 64, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 128, _MM_HINT_T0);
      _mm_prefetch(ahead + 4 * i + 192, _MM_HINT_T0);
      for (int j = 0; j < 4; j++) {
        const __m512 wv = _mm512_loadu_ps(row + i + 16 * j);
        for (int k = 0; k < R; k++)
          a[k][j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + k * ldx + i + 16 * j), a[k][j]);
      }
    }
    for (; i + 16 <= cols; i += 16) {
      const __m512 wv = _mm512_loadu_ps(row + i);
      for (int k = 0; k < R; k++)
        a[k][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + k * ldx + i), a[k][0]);
    }
    if (i < cols) {
      const __mmask16 mask = (__mmask16)((1u << (cols - i)) - 1);
      const __m512 wv = _mm512_maskz_loadu_ps(mask, row + i);
      for (int k = 0; k < R; k++)
        a[k][1] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask, x + k * ldx + i), a[k][1]);
    }
    for (int k = 0; k < R; k++) {
      const __m512 acc = _mm512_add_ps(_mm512_add_ps(a[k][0], a[k][1]),
                                       _mm512_add_ps(a[k][2], a[k][3]));
      y[k * ldy + r] = _mm512_reduce_add_ps(acc);
    }
  }
}

__attribute__((target(CK_TARGET_AVX512))) static void f32_multi_avx512_rows(
    const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
    ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  for (ptrdiff_t k = 0; k < n; k += 6) {
    const ptrdiff_t m = n - k < 6 ? n - k : 6;
    const float *xk = x + k * ldx;
    float *yk = y + k * ldy;
    switch (m) {
    case 6: f32_multi_avx512(w, ldw, xk, ldx, yk, ldy, rows, cols, 6); break;
    case 5: f32_multi_avx512(w, ldw, xk, ldx, yk, ldy, rows, cols, 5); break;
    case 4: f32_multi_avx512(w, ldw, xk, ldx, yk, ldy, rows, cols, 4); break;
    case 3: f32_multi_avx512(w, ldw, xk, ldx, yk, ldy, rows, cols, 3); break;
    case 2: f32_multi_avx512(w, ldw, xk, ldx, yk, ldy, rows, cols, 2); break;
    default: f32_multi_avx512(w, ldw, xk, ldx, yk, ldy, rows, cols, 1); break;
    }
  }
}

// ---- q8_0: AVX2 (as ck_q8_dot_rows_avx2: two accumulators over pairs of blocks, an odd last
// block into the first). |w| is computed once per block for every row of the group. ----

__attribute__((target(CK_TARGET_AVX2))) CK_ALWAYS_INLINE void q8_multi_avx2(
    const int8_t *wq, const float *wd, const int8_t *xq, const float *xd, float *y,
    ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, int R) {
  const ptrdiff_t blocks = cols / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  for (ptrdiff_t r = 0; r < rows; r++) {
    const int8_t *w = wq + r * cols;
    const float *scales = wd + r * blocks;
    __m256 acc0[4], acc1[4];
    for (int k = 0; k < R; k++) acc0[k] = acc1[k] = _mm256_setzero_ps();
    const char *ahead = (const char *)(w + 4096);
    ptrdiff_t b = 0;
    for (; b + 1 < blocks; b += 2) {
      _mm_prefetch(ahead + 32 * b, _MM_HINT_T0);
      const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 32 * b));
      const __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + 32 * b + 32));
      const __m256i u0 = _mm256_sign_epi8(w0, w0), u1 = _mm256_sign_epi8(w1, w1);
      for (int k = 0; k < R; k++) {
        const int8_t *x = xq + k * cols;
        const float *d = xd + k * blocks;
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + 32 * b));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + 32 * b + 32));
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(u0, _mm256_sign_epi8(x0, w0)),
                                             ones);
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(u1, _mm256_sign_epi8(x1, w1)),
                                             ones);
        acc0[k] = _mm256_fmadd_ps(_mm256_set1_ps(scales[b] * d[b]), _mm256_cvtepi32_ps(p0),
                                  acc0[k]);
        acc1[k] = _mm256_fmadd_ps(_mm256_set1_ps(scales[b + 1] * d[b + 1]),
                                  _mm256_cvtepi32_ps(p1), acc1[k]);
      }
    }
    for (; b < blocks; b++) {
      const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 32 * b));
      const __m256i u0 = _mm256_sign_epi8(w0, w0);
      for (int k = 0; k < R; k++) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + k * cols + 32 * b));
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(u0, _mm256_sign_epi8(x0, w0)),
                                             ones);
        acc0[k] = _mm256_fmadd_ps(_mm256_set1_ps(scales[b] * xd[k * blocks + b]),
                                  _mm256_cvtepi32_ps(p0), acc0[k]);
      }
    }
    for (int k = 0; k < R; k++) {
      const __m256 acc = _mm256_add_ps(acc0[k], acc1[k]);
      __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
      sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
      sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
      y[k * ldy + r] = _mm_cvtss_f32(sum);
    }
  }
}

__attribute__((target(CK_TARGET_AVX2))) static void q8_multi_avx2_rows(
    const int8_t *wq, const float *wd, const int8_t *xq, const float *xd, float *y,
    ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  const ptrdiff_t blocks = cols / 32;
  for (ptrdiff_t k = 0; k < n; k += 4) {
    const ptrdiff_t m = n - k < 4 ? n - k : 4;
    const int8_t *xqk = xq + k * cols;
    const float *xdk = xd + k * blocks;
    float *yk = y + k * ldy;
    switch (m) {
    case 4: q8_multi_avx2(wq, wd, xqk, xdk, yk, ldy, rows, cols, 4); break;
    case 3: q8_multi_avx2(wq, wd, xqk, xdk, yk, ldy, rows, cols, 3); break;
    case 2: q8_multi_avx2(wq, wd, xqk, xdk, yk, ldy, rows, cols, 2); break;
    default: q8_multi_avx2(wq, wd, xqk, xdk, yk, ldy, rows, cols, 1); break;
    }
  }
}

// ---- q8_0: AVX-512 VNNI (as ck_q8_dot_rows_avx512_vnni: four blocks per step in two
// registers, the remaining blocks in a 256-bit tail). ----

__attribute__((target(CK_TARGET_AVX512_VNNI))) CK_ALWAYS_INLINE void q8_multi_vnni(
    const int8_t *wq, const float *wd, const int8_t *xq, const float *xd, float *y,
    ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, int R) {
  const ptrdiff_t blocks = cols / 32;
  const __m512i zero = _mm512_setzero_si512();
  for (ptrdiff_t r = 0; r < rows; r++) {
    const int8_t *w = wq + r * cols;
    const float *scales = wd + r * blocks;
    __m512 acc0[6], acc1[6];
    for (int k = 0; k < R; k++) acc0[k] = acc1[k] = _mm512_setzero_ps();
    const char *ahead = (const char *)(w + 4096);
    ptrdiff_t b = 0;
    for (; b + 3 < blocks; b += 4) {
      _mm_prefetch(ahead + 32 * b, _MM_HINT_T0);
      _mm_prefetch(ahead + 32 * b + 64, _MM_HINT_T0);
      const __m512i w0 = _mm512_loadu_si512((const void *)(w + 32 * b));
      const __m512i w1 = _mm512_loadu_si512((const void *)(w + 32 * b + 64));
      const __mmask64 m0 = _mm512_movepi8_mask(w0), m1 = _mm512_movepi8_mask(w1);
      const __m512i u0 = _mm512_abs_epi8(w0), u1 = _mm512_abs_epi8(w1);
      for (int k = 0; k < R; k++) {
        const int8_t *x = xq + k * cols;
        const float *d = xd + k * blocks;
        const __m512i x0 = _mm512_loadu_si512((const void *)(x + 32 * b));
        const __m512i x1 = _mm512_loadu_si512((const void *)(x + 32 * b + 64));
        const __m512i s0 = _mm512_mask_sub_epi8(x0, m0, zero, x0);
        const __m512i s1 = _mm512_mask_sub_epi8(x1, m1, zero, x1);
        const __m512i p0 = _mm512_dpbusd_epi32(zero, u0, s0);
        const __m512i p1 = _mm512_dpbusd_epi32(zero, u1, s1);
        const __m512 d0 = _mm512_insertf32x8(_mm512_set1_ps(scales[b] * d[b]),
                                             _mm256_set1_ps(scales[b + 1] * d[b + 1]), 1);
        const __m512 d1 = _mm512_insertf32x8(_mm512_set1_ps(scales[b + 2] * d[b + 2]),
                                             _mm256_set1_ps(scales[b + 3] * d[b + 3]), 1);
        acc0[k] = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(p0), acc0[k]);
        acc1[k] = _mm512_fmadd_ps(d1, _mm512_cvtepi32_ps(p1), acc1[k]);
      }
    }
    __m256 tail[6];
    for (int k = 0; k < R; k++) tail[k] = _mm256_setzero_ps();
    for (; b < blocks; b++) {
      const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 32 * b));
      const __mmask32 m0 = _mm256_movepi8_mask(w0);
      const __m256i u0 = _mm256_abs_epi8(w0);
      for (int k = 0; k < R; k++) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + k * cols + 32 * b));
        const __m256i s0 = _mm256_mask_sub_epi8(x0, m0, _mm256_setzero_si256(), x0);
        const __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u0, s0);
        tail[k] = _mm256_fmadd_ps(_mm256_set1_ps(scales[b] * xd[k * blocks + b]),
                                  _mm256_cvtepi32_ps(p0), tail[k]);
      }
    }
    for (int k = 0; k < R; k++) {
      const __m512 acc = _mm512_add_ps(acc0[k], acc1[k]);
      const __m256 halves =
          _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
      const __m256 v = _mm256_add_ps(halves, tail[k]);
      __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
      sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
      sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
      y[k * ldy + r] = _mm_cvtss_f32(sum);
    }
  }
}

__attribute__((target(CK_TARGET_AVX512_VNNI))) static void q8_multi_vnni_rows(
    const int8_t *wq, const float *wd, const int8_t *xq, const float *xd, float *y,
    ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  const ptrdiff_t blocks = cols / 32;
  for (ptrdiff_t k = 0; k < n; k += 6) {
    const ptrdiff_t m = n - k < 6 ? n - k : 6;
    const int8_t *xqk = xq + k * cols;
    const float *xdk = xd + k * blocks;
    float *yk = y + k * ldy;
    switch (m) {
    case 6: q8_multi_vnni(wq, wd, xqk, xdk, yk, ldy, rows, cols, 6); break;
    case 5: q8_multi_vnni(wq, wd, xqk, xdk, yk, ldy, rows, cols, 5); break;
    case 4: q8_multi_vnni(wq, wd, xqk, xdk, yk, ldy, rows, cols, 4); break;
    case 3: q8_multi_vnni(wq, wd, xqk, xdk, yk, ldy, rows, cols, 3); break;
    case 2: q8_multi_vnni(wq, wd, xqk, xdk, yk, ldy, rows, cols, 2); break;
    default: q8_multi_vnni(wq, wd, xqk, xdk, yk, ldy, rows, cols, 1); break;
    }
  }
}
#endif

// ---- Dispatch: the multi-row kernel that matches the one-row kernel `isa` selects. ----

void ck_f32_dot_rows_multi_for(ck_isa isa, const float *w, ptrdiff_t ldw, const float *x,
                               ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                               ptrdiff_t cols, ptrdiff_t n) {
  const ck_kernels *kernels = ck_kernels_for(isa);
#ifdef CK_X86
  if (kernels->f32_dot_rows == ck_f32_dot_rows_avx512) {
    f32_multi_avx512_rows(w, ldw, x, ldx, y, ldy, rows, cols, n);
    return;
  }
  if (kernels->f32_dot_rows == ck_f32_dot_rows_avx2) {
    f32_multi_avx2_rows(w, ldw, x, ldx, y, ldy, rows, cols, n);
    return;
  }
#endif
  if (kernels->f32_dot_rows == ck_f32_dot_rows_portable) {
    f32_multi_portable_rows(w, ldw, x, ldx, y, ldy, rows, cols, n);
    return;
  }
  // A one-row kernel without a multi-row twin: one input row at a time.
  for (ptrdiff_t k = 0; k < n; k++)
    kernels->f32_dot_rows(w, ldw, x + k * ldx, y + k * ldy, rows, cols, 0);
}

void ck_f32_dot_rows_multi(const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y,
                           ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  ck_f32_dot_rows_multi_for(ck_active_isa(), w, ldw, x, ldx, y, ldy, rows, cols, n);
}

void ck_q8_dot_rows_multi_for(ck_isa isa, const int8_t *wq, const float *wd, const int8_t *xq,
                              const float *xd, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                              ptrdiff_t cols, ptrdiff_t n) {
  const ck_kernels *kernels = ck_kernels_for(isa);
#ifdef CK_X86
  if (kernels->q8_dot_rows == ck_q8_dot_rows_avx512_vnni) {
    q8_multi_vnni_rows(wq, wd, xq, xd, y, ldy, rows, cols, n);
    return;
  }
  if (kernels->q8_dot_rows == ck_q8_dot_rows_avx2) {
    q8_multi_avx2_rows(wq, wd, xq, xd, y, ldy, rows, cols, n);
    return;
  }
#endif
  if (kernels->q8_dot_rows == ck_q8_dot_rows_portable) {
    q8_multi_portable_rows(wq, wd, xq, xd, y, ldy, rows, cols, n);
    return;
  }
  const ptrdiff_t blocks = cols / 32;
  for (ptrdiff_t k = 0; k < n; k++)
    kernels->q8_dot_rows(wq, wd, xq + k * cols, xd + k * blocks, y + k * ldy, rows, cols);
}

void ck_q8_dot_rows_multi(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd,
                          float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  ck_q8_dot_rows_multi_for(ck_active_isa(), wq, wd, xq, xd, y, ldy, rows, cols, n);
}
