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

// The end of a row's sum: the four accumulators added pairwise, the horizontal sum, then the
// columns after the last multiple of 8 one by one.
__attribute__((target(CK_TARGET_AVX2))) CK_ALWAYS_INLINE float f32_finish_avx2(
    __m256 a0, __m256 a1, __m256 a2, __m256 a3, const float *row, const float *xk, ptrdiff_t i,
    ptrdiff_t cols) {
  const __m256 acc = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  float total = _mm_cvtss_f32(sum);
  for (ptrdiff_t t = i; t < cols; t++) total += row[t] * xk[t];
  return total;
}

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
    for (int k = 0; k < R; k++)
      y[k * ldy + r] = f32_finish_avx2(a[k][0], a[k][1], a[k][2], a[k][3], row, x + k * ldx, i, cols);
  }
}

// Three weight rows against up to 16 input rows (1 to 4 groups of four): 12 pairs of a weight
// and an input row at a time, each summed exactly as above. The four accumulators of a pair are
// independent chains (accumulator j takes the columns 32·m + 8·j … + 7 in order of m), so they
// are formed one j at a time, with the 12 pairs' j-th accumulators in registers and each weight
// and input vector loaded once for 3 or 4 products, over chunks of columns: the three weight
// rows' chunk comes from memory once (prefetched during the previous chunk) and stays in the L1
// cache for every input row and j. Then the tail of 8 into the first accumulator and the
// reduction, as above.
enum { F32_CHUNK = 256 };

__attribute__((target(CK_TARGET_AVX2))) CK_ALWAYS_INLINE void f32_block_pass_avx2(
    const float *w0, const float *w1, const float *w2, const float *x0, ptrdiff_t ldx,
    __m256 *acc, ptrdiff_t start, ptrdiff_t end, int prefetch) {
  // a[4·q + k]: weight row q, input row k (the loops below unroll into 12 registers).
  __m256 a[12];
  for (int t = 0; t < 12; t++) a[t] = acc[t];
  for (ptrdiff_t i = start; i < end; i += 32) {
    if (prefetch) {
      _mm_prefetch((const char *)(w0 + i + F32_CHUNK), _MM_HINT_T0);
      _mm_prefetch((const char *)(w1 + i + F32_CHUNK), _MM_HINT_T0);
      _mm_prefetch((const char *)(w2 + i + F32_CHUNK), _MM_HINT_T0);
    }
    const __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i),
                 v2 = _mm256_loadu_ps(w2 + i);
    for (int k = 0; k < 4; k++) {
      const __m256 xv = _mm256_loadu_ps(x0 + k * ldx + i);
      a[k] = _mm256_fmadd_ps(v0, xv, a[k]);
      a[4 + k] = _mm256_fmadd_ps(v1, xv, a[4 + k]);
      a[8 + k] = _mm256_fmadd_ps(v2, xv, a[8 + k]);
    }
  }
  for (int t = 0; t < 12; t++) acc[t] = a[t];
}

__attribute__((target(CK_TARGET_AVX2))) static void f32_block3_avx2(
    const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
    ptrdiff_t cols, int groups) {
  const ptrdiff_t main = cols / 32 * 32;
  const float *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw;
  __m256 acc[4][4][12]; // [group][j][pair]
  for (int g = 0; g < groups; g++)
    for (int j = 0; j < 4; j++)
      for (int t = 0; t < 12; t++) acc[g][j][t] = _mm256_setzero_ps();
  for (ptrdiff_t c0 = 0; c0 < main; c0 += F32_CHUNK) {
    const ptrdiff_t c1 = c0 + F32_CHUNK < main ? c0 + F32_CHUNK : main;
    for (int j = 0; j < 4; j++)
      f32_block_pass_avx2(w0, w1, w2, x, ldx, acc[0][j], c0 + 8 * j, c1, 1);
    for (int g = 1; g < groups; g++)
      for (int j = 0; j < 4; j++)
        f32_block_pass_avx2(w0, w1, w2, x + 4 * g * ldx, ldx, acc[g][j], c0 + 8 * j, c1, 0);
  }
  for (int g = 0; g < groups; g++)
    for (int q = 0; q < 3; q++) {
      const float *row = w + q * ldw;
      for (int k = 0; k < 4; k++) {
        const float *xk = x + (4 * g + k) * ldx;
        const int t = 4 * q + k;
        __m256 first = acc[g][0][t];
        ptrdiff_t i = main;
        for (; i + 8 <= cols; i += 8)
          first = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(xk + i), first);
        y[(4 * g + k) * ldy + q] =
            f32_finish_avx2(first, acc[g][1][t], acc[g][2][t], acc[g][3][t], row, xk, i, cols);
      }
    }
}

__attribute__((target(CK_TARGET_AVX2))) static void f32_multi_avx2_groups(
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

// Blocks of 3 weight rows × 4 input rows where both counts allow, the rest in groups of input
// rows.
__attribute__((target(CK_TARGET_AVX2))) static void f32_multi_avx2_rows(
    const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
    ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  const ptrdiff_t rows3 = rows - rows % 3, n4 = n - n % 4;
  for (ptrdiff_t r = 0; r < rows3; r += 3)
    for (ptrdiff_t k = 0; k < n4; k += 16) {
      const int groups = n4 - k >= 16 ? 4 : (int)((n4 - k) / 4);
      f32_block3_avx2(w + r * ldw, ldw, x + k * ldx, ldx, y + k * ldy + r, ldy, cols, groups);
    }
  if (rows3 < rows)
    f32_multi_avx2_groups(w + rows3 * ldw, ldw, x, ldx, y + rows3, ldy, rows - rows3, cols, n);
  if (n4 < n && rows3 > 0)
    f32_multi_avx2_groups(w, ldw, x + n4 * ldx, ldx, y + n4 * ldy, ldy, rows3, cols, n - n4);
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

// Bytes of `Float` weight rows that the groups of input rows go over in turn: the tile stays in
// the L2 cache while every group reads it, so the weights come from memory once per call, not
// once per group (each row's sums are untouched: only the order of (weight row, group) pairs
// changes).
enum { F32_TILE_BYTES = 96 * 1024 };

typedef void (*f32_multi_rows_fn)(const float *, ptrdiff_t, const float *, ptrdiff_t, float *,
                                  ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t);

static void f32_multi_tiled(f32_multi_rows_fn kernel, ptrdiff_t group, const float *w,
                            ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,
                            ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  if (n <= group) {
    kernel(w, ldw, x, ldx, y, ldy, rows, cols, n);
    return;
  }
  const ptrdiff_t rowBytes = 4 * (cols > 0 ? cols : 1);
  const ptrdiff_t tile = F32_TILE_BYTES / rowBytes > 0 ? F32_TILE_BYTES / rowBytes : 1;
  for (ptrdiff_t r = 0; r < rows; r += tile) {
    const ptrdiff_t count = rows - r < tile ? rows - r : tile;
    kernel(w + r * ldw, ldw, x, ldx, y + r, ldy, count, cols, n);
  }
}

void ck_f32_dot_rows_multi_for(ck_isa isa, const float *w, ptrdiff_t ldw, const float *x,
                               ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                               ptrdiff_t cols, ptrdiff_t n) {
  const ck_kernels *kernels = ck_kernels_for(isa);
#ifdef CK_X86
  if (kernels->f32_dot_rows == ck_f32_dot_rows_avx512) {
    f32_multi_tiled(f32_multi_avx512_rows, 6, w, ldw, x, ldx, y, ldy, rows, cols, n);
    return;
  }
  if (kernels->f32_dot_rows == ck_f32_dot_rows_avx2) {
    f32_multi_tiled(f32_multi_avx2_rows, 3, w, ldw, x, ldx, y, ldy, rows, cols, n);
    return;
  }
#endif
  if (kernels->f32_dot_rows == ck_f32_dot_rows_portable) {
    f32_multi_tiled(f32_multi_portable_rows, 4, w, ldw, x, ldx, y, ldy, rows, cols, n);
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
