// Tiled int8 matrix products for prompts (prefill): many activation rows times a block-quantized
// weight, every block an exact integer dot product scaled by the weight's and the activation's
// block scales and summed in `float`, as ggml's `ggml_vec_dot_*` define the product, but with
// the additions in another order (per tile, not per row) than the one-row kernels of q8.c and
// ggml_quants.c. The weights (our q8_0 layout or ggml's blocks, unpacked a panel of rows at a
// time) and the activations are brought to one layout: per row `cols` int8 values, and per block
// of 32 a `float` scale (two for q6_K, one per 16 values) and, for the formats with minimums, a
// `float` minimum term.
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

#define CK_ALWAYS_INLINE static inline __attribute__((always_inline))

enum { QB = 32, QK_K = 256, PANEL = 16 };

// A weight panel in the common layout: row `r` has `cols` int8 values at `q + r·ldq`, its block
// scales at `s + r·lds` (one per block, or two per block when `halves`: the first 16 values and
// the last 16), and, when `m` is non-null, per block a minimum `m[r·ldm + b]` subtracted as
// `m·sx` (sx: the activation block's sum of values).
typedef struct {
  const int8_t *q;
  ptrdiff_t ldq;
  const float *s;
  ptrdiff_t lds;
  const float *m;
  ptrdiff_t ldm;
  int halves;
  // Whether the values may be negative (q8_0, q6_K); the others are 0..63.
  int is_signed;
} panel;

// An activation row in the common layout (`ck_*_gemm_activation_bytes` bytes): `cols` int8
// values, then `cols / 32` float scales, then `cols / 32` float block sums.
static inline const int8_t *act_q(const uint8_t *x) { return (const int8_t *)x; }
static inline const float *act_d(const uint8_t *x, ptrdiff_t cols) {
  return (const float *)(x + cols);
}
static inline const float *act_s(const uint8_t *x, ptrdiff_t cols) {
  return (const float *)(x + cols) + cols / QB;
}

ptrdiff_t ck_gemm_activation_bytes(ptrdiff_t cols) { return cols + 8 * (cols / QB); }

// ---- Minimum terms: y[k·ldy + r] −= Σ_b m[r, b]·sx[k, b] (q4_1, q4_K, q5_K). ----

static void subtract_minimums(const panel *w, const uint8_t *x, ptrdiff_t ldx, float *y,
                              ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  const ptrdiff_t nb = cols / QB;
  for (ptrdiff_t k = 0; k < n; k++) {
    const float *sx = act_s(x + k * ldx, cols);
    for (ptrdiff_t r = 0; r < rows; r++) {
      const float *m = w->m + r * w->ldm;
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      ptrdiff_t b = 0;
      for (; b + 8 <= nb; b += 8)
        for (int l = 0; l < 8; l++) lanes[l] += m[b + l] * sx[b + l];
      float total = 0;
      for (int l = 0; l < 8; l++) total += lanes[l];
      for (; b < nb; b++) total += m[b] * sx[b];
      y[k * ldy + r] -= total;
    }
  }
}

// ---- Portable tiles: 2 weight rows × 4 activation rows, eight lanes per product. ----

CK_ALWAYS_INLINE void tile_portable(const panel *w, ptrdiff_t r0, const uint8_t *x, ptrdiff_t ldx,
                                    float *y, ptrdiff_t ldy, ptrdiff_t cols, int RW, int RX) {
  const ptrdiff_t nb = cols / QB;
  float acc[2][4][8];
  memset(acc, 0, sizeof acc);
  for (ptrdiff_t b = 0; b < nb; b++) {
    for (int i = 0; i < RW; i++) {
      const int8_t *wq = w->q + (r0 + i) * w->ldq + QB * b;
      const float *ws = w->s + (r0 + i) * w->lds;
      const float s0 = w->halves ? ws[2 * b] : ws[b], s1 = w->halves ? ws[2 * b + 1] : ws[b];
      for (int k = 0; k < RX; k++) {
        const int8_t *xq = act_q(x + k * ldx) + QB * b;
        const float dx = act_d(x + k * ldx, cols)[b];
        int32_t lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int j = 0; j < QB; j++) lanes[(j / 4) % 8] += (int32_t)wq[j] * (int32_t)xq[j];
        for (int l = 0; l < 8; l++) acc[i][k][l] += (float)lanes[l] * ((l < 4 ? s0 : s1) * dx);
      }
    }
  }
  for (int i = 0; i < RW; i++)
    for (int k = 0; k < RX; k++) {
      float total = 0;
      for (int l = 0; l < 8; l++) total += acc[i][k][l];
      y[k * ldy + r0 + i] = total;
    }
}

static void panel_portable(const panel *w, ptrdiff_t rows, const uint8_t *x, ptrdiff_t ldx,
                           float *y, ptrdiff_t ldy, ptrdiff_t cols, ptrdiff_t n) {
  for (ptrdiff_t k = 0; k < n; k += 4) {
    const int rx = n - k < 4 ? (int)(n - k) : 4;
    for (ptrdiff_t r = 0; r < rows; r += 2) {
      const int rw = rows - r < 2 ? 1 : 2;
      tile_portable(w, r, x + k * ldx, ldx, y + k * ldy, ldy, cols, rw, rx);
    }
  }
}

#ifdef CK_X86
// ---- x86 tiles: RW weight rows × RX activation rows, one 8-lane accumulator per pair. The
// block's 32 products are summed as int32 in 8 lanes (lanes 0–3 the first 16 values, 4–7 the
// last 16), converted, and added with the scale d_w·d_x by one fused multiply-add. AVX2 sums
// with vpmaddubsw (|w| times x with w's sign, pairs in int16, at most 2·128·127 so never
// saturated) and vpmaddwd; VNNI with one vpdpbusd. ----

#define CK_TARGET_VNNI256 "avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"
#define CK_TARGET_AVXVNNI "avx2,fma,avxvnni"

// Four blocks at a time: each block's 8 int32 lanes are folded by two rounds of vphaddd into one
// lane per block and half (lanes 0–3: the first 16 values of blocks b..b+3, lanes 4–7 the last
// 16), so one conversion and one fused multiply-add with the scale products serve four blocks.
// Weights of the unsigned formats (SIGNED 0: values 0..63) meet x directly; signed weights give
// vpmaddubsw |w| and x with w's sign.
#define DEFINE_TILE(NAME, TARGET, BLOCKDOT)                                                     \
  __attribute__((target(TARGET))) CK_ALWAYS_INLINE __m256i NAME##_dot(__m256i w, __m256i x,     \
                                                                      int SIGNED) {             \
    const __m256i ones = _mm256_set1_epi16(1);                                                  \
    (void)ones;                                                                                 \
    if (SIGNED) return BLOCKDOT(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));                \
    return BLOCKDOT(w, x);                                                                      \
  }                                                                                             \
  __attribute__((target(TARGET))) CK_ALWAYS_INLINE __m256 NAME##_scales(const float *s,         \
                                                                        int HALVES) {           \
    if (HALVES)                                                                                 \
      return _mm256_permutevar8x32_ps(_mm256_loadu_ps(s),                                       \
                                      _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));               \
    return _mm256_broadcast_ps((const __m128 *)s);                                              \
  }                                                                                             \
  __attribute__((target(TARGET))) CK_ALWAYS_INLINE void NAME(                                   \
      const panel *w, ptrdiff_t r0, const uint8_t *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy,   \
      ptrdiff_t cols, int RW, int RX, int HALVES, int SIGNED) {                                 \
    const ptrdiff_t nb = cols / QB;                                                             \
    __m256 acc[4][8];                                                                           \
    for (int i = 0; i < RW; i++)                                                                \
      for (int k = 0; k < RX; k++) acc[i][k] = _mm256_setzero_ps();                             \
    const int8_t *wq[4];                                                                        \
    const float *ws[4];                                                                         \
    const int8_t *xq[8];                                                                        \
    const float *xd[8];                                                                         \
    for (int i = 0; i < RW; i++) {                                                              \
      wq[i] = w->q + (r0 + i) * w->ldq;                                                         \
      ws[i] = w->s + (r0 + i) * w->lds;                                                         \
    }                                                                                           \
    for (int k = 0; k < RX; k++) {                                                              \
      xq[k] = act_q(x + k * ldx);                                                               \
      xd[k] = act_d(x + k * ldx, cols);                                                         \
    }                                                                                           \
    ptrdiff_t b = 0;                                                                            \
    for (; b + 4 <= nb; b += 4) {                                                               \
      __m256 dv[8];                                                                             \
      for (int k = 0; k < RX; k++) dv[k] = _mm256_broadcast_ps((const __m128 *)(xd[k] + b));    \
      for (int i = 0; i < RW; i++) {                                                            \
        const __m256 sv = NAME##_scales(ws[i] + (HALVES ? 2 * b : b), HALVES);                  \
        const int8_t *wb = wq[i] + QB * b;                                                      \
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)wb);                             \
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wb + 32));                      \
        const __m256i w2 = _mm256_loadu_si256((const __m256i *)(wb + 64));                      \
        const __m256i w3 = _mm256_loadu_si256((const __m256i *)(wb + 96));                      \
        for (int k = 0; k < RX; k++) {                                                          \
          const int8_t *xb = xq[k] + QB * b;                                                    \
          const __m256i p0 = NAME##_dot(w0, _mm256_loadu_si256((const __m256i *)xb), SIGNED);   \
          const __m256i p1 =                                                                    \
              NAME##_dot(w1, _mm256_loadu_si256((const __m256i *)(xb + 32)), SIGNED);           \
          const __m256i p2 =                                                                    \
              NAME##_dot(w2, _mm256_loadu_si256((const __m256i *)(xb + 64)), SIGNED);           \
          const __m256i p3 =                                                                    \
              NAME##_dot(w3, _mm256_loadu_si256((const __m256i *)(xb + 96)), SIGNED);           \
          const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1),                        \
                                              _mm256_hadd_epi32(p2, p3));                       \
          acc[i][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h), _mm256_mul_ps(sv, dv[k]),          \
                                      acc[i][k]);                                               \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    for (; b < nb; b++) {                                                                       \
      for (int i = 0; i < RW; i++) {                                                            \
        const __m256i wv = _mm256_loadu_si256((const __m256i *)(wq[i] + QB * b));               \
        const __m256 sv = HALVES ? _mm256_set_m128(_mm_broadcast_ss(ws[i] + 2 * b + 1),         \
                                                   _mm_broadcast_ss(ws[i] + 2 * b))             \
                                 : _mm256_broadcast_ss(ws[i] + b);                              \
        for (int k = 0; k < RX; k++) {                                                          \
          const __m256i p =                                                                     \
              NAME##_dot(wv, _mm256_loadu_si256((const __m256i *)(xq[k] + QB * b)), SIGNED);    \
          acc[i][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),                                    \
                                      _mm256_mul_ps(sv, _mm256_broadcast_ss(xd[k] + b)),        \
                                      acc[i][k]);                                               \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    for (int i = 0; i < RW; i++)                                                                \
      for (int k = 0; k < RX; k++) {                                                            \
        const __m256 a = acc[i][k];                                                             \
        __m128 sum = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));        \
        sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));                                         \
        sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));                                            \
        y[k * ldy + r0 + i] = _mm_cvtss_f32(sum);                                               \
      }                                                                                         \
  }

#define DOT_AVX2(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones)
#define DOT_VNNI256(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#define DOT_AVXVNNI(u, s) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s)

DEFINE_TILE(tile_avx2, CK_TARGET_AVX2, DOT_AVX2)
DEFINE_TILE(tile_vnni, CK_TARGET_VNNI256, DOT_VNNI256)
DEFINE_TILE(tile_avxvnni, CK_TARGET_AVXVNNI, DOT_AVXVNNI)

// A panel of weight rows against all activation rows: tiles of RW_MAX weight rows × RX_MAX
// activation rows, the activation tile (RX_MAX rows) kept in cache while it meets every weight
// row of the panel.
#define DEFINE_PANEL(NAME, TARGET, TILE, RW_MAX, RX_MAX)                                        \
  __attribute__((target(TARGET))) CK_ALWAYS_INLINE void NAME##_h(                               \
      const panel *w, ptrdiff_t rows, const uint8_t *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, \
      ptrdiff_t cols, ptrdiff_t n, int HALVES, int SIGNED) {                                    \
    for (ptrdiff_t k = 0; k < n; k += RX_MAX) {                                                 \
      const ptrdiff_t rx = n - k < RX_MAX ? n - k : RX_MAX;                                     \
      const uint8_t *xk = x + k * ldx;                                                          \
      float *yk = y + k * ldy;                                                                  \
      ptrdiff_t r = 0;                                                                          \
      if (rx == RX_MAX) {                                                                       \
        for (; r + RW_MAX <= rows; r += RW_MAX)                                                 \
          TILE(w, r, xk, ldx, yk, ldy, cols, RW_MAX, RX_MAX, HALVES, SIGNED);                   \
        for (; r < rows; r++) TILE(w, r, xk, ldx, yk, ldy, cols, 1, RX_MAX, HALVES, SIGNED);    \
      } else {                                                                                  \
        for (; r < rows; r++) {                                                                 \
          switch (rx) {                                                                         \
          case 3: TILE(w, r, xk, ldx, yk, ldy, cols, 1, 3, HALVES, SIGNED); break;              \
          case 2: TILE(w, r, xk, ldx, yk, ldy, cols, 1, 2, HALVES, SIGNED); break;              \
          default: TILE(w, r, xk, ldx, yk, ldy, cols, 1, 1, HALVES, SIGNED); break;             \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  __attribute__((target(TARGET))) static void NAME(const panel *w, ptrdiff_t rows,              \
                                                   const uint8_t *x, ptrdiff_t ldx, float *y,   \
                                                   ptrdiff_t ldy, ptrdiff_t cols, ptrdiff_t n) { \
    if (w->halves)                                                                              \
      NAME##_h(w, rows, x, ldx, y, ldy, cols, n, 1, 1);                                         \
    else if (w->is_signed)                                                                      \
      NAME##_h(w, rows, x, ldx, y, ldy, cols, n, 0, 1);                                         \
    else                                                                                        \
      NAME##_h(w, rows, x, ldx, y, ldy, cols, n, 0, 0);                                         \
  }

// AVX2 and AVX-VNNI have 16 vector registers: one weight row against four activation rows
// (four accumulators, four weight blocks, four scale products) measured fastest with AVX2 (two or
// more weight rows spill). AVX-512 VL reaches 32 registers: two weight rows.
DEFINE_PANEL(panel_avx2, CK_TARGET_AVX2, tile_avx2, 1, 4)
DEFINE_PANEL(panel_vnni, CK_TARGET_VNNI256, tile_vnni, 2, 4)
DEFINE_PANEL(panel_avxvnni, CK_TARGET_AVXVNNI, tile_avxvnni, 1, 4)
#endif

typedef void (*panel_fn)(const panel *, ptrdiff_t, const uint8_t *, ptrdiff_t, float *, ptrdiff_t,
                         ptrdiff_t, ptrdiff_t);

static panel_fn panel_for(ck_gemm_variant variant) {
#ifdef CK_X86
  switch (variant) {
  case CK_GEMM_VNNI: return panel_vnni;
  case CK_GEMM_AVX_VNNI: return panel_avxvnni;
  case CK_GEMM_AVX2: return panel_avx2;
  default: break;
  }
#else
  (void)variant;
#endif
  return panel_portable;
}

int ck_gemm_variant_available(ck_gemm_variant variant) {
  const ck_isa isa = ck_detected_isa();
  switch (variant) {
  case CK_GEMM_PORTABLE: return 1;
  case CK_GEMM_AVX2: return isa >= CK_ISA_AVX2;
  case CK_GEMM_AVX_VNNI: return isa >= CK_ISA_AVX2 && ck_cpu_supports("avxvnni");
  case CK_GEMM_VNNI: return isa >= CK_ISA_AVX512_VNNI;
  }
  return 0;
}

ck_gemm_variant ck_gemm_active_variant(void) {
  const ck_isa isa = ck_active_isa();
  if (isa >= CK_ISA_AVX512_VNNI) return CK_GEMM_VNNI;
  if (isa >= CK_ISA_AVX2 && ck_cpu_supports("avxvnni")) return CK_GEMM_AVX_VNNI;
  if (isa >= CK_ISA_AVX2) return CK_GEMM_AVX2;
  return CK_GEMM_PORTABLE;
}

static void run_panel(ck_gemm_variant variant, const panel *w, ptrdiff_t rows, const uint8_t *x,
                      float *y, ptrdiff_t ldy, ptrdiff_t cols, ptrdiff_t n) {
  const ptrdiff_t ldx = ck_gemm_activation_bytes(cols);
  panel_for(variant)(w, rows, x, ldx, y, ldy, cols, n);
  if (w->m) subtract_minimums(w, x, ldx, y, ldy, rows, cols, n);
}

// ---- Our q8_0 (Q8Matrix): the weight is already in the common layout. ----

void ck_q8_gemm_prepare_activation(const float *x, ptrdiff_t cols, void *out) {
  uint8_t *row = out;
  ck_q8_quantize(x, cols, (int8_t *)row, (float *)(row + cols));
  memset(row + cols + 4 * (cols / QB), 0, 4 * (size_t)(cols / QB));
}

void ck_q8_gemm_for(ck_gemm_variant variant, const int8_t *wq, const float *wd, const void *x,
                    float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  const panel w = {wq, cols, wd, cols / QB, NULL, 0, 0, 1};
  run_panel(variant, &w, rows, x, y, ldy, cols, n);
}

void ck_q8_gemm(const int8_t *wq, const float *wd, const void *x, float *y, ptrdiff_t ldy,
                ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  ck_q8_gemm_for(ck_gemm_active_variant(), wq, wd, x, y, ldy, rows, cols, n);
}

// ---- ggml's blocks: unpacked a panel of rows at a time. ----

static inline float half_at(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return ck_half_to_float(h);
}

// The 6-bit scale and minimum of sub-block j (0..7) of a q4_K / q5_K super-block.
static inline void scale_min_k4(int j, const uint8_t *q, int *scale, int *min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

static int has_minimums(ck_ggml_type type) {
  return type != CK_GGML_Q8_0 && type != CK_GGML_Q6_K;
}

// One row of `type` into the common layout: `q` (cols int8), `s` (per block one scale, two for
// q6_K) and `m` (per block, formats with minimums). Every scale is a product exact in `float`
// (an f16 times an integer below 2⁸).
static void unpack_row(ck_ggml_type type, const uint8_t *row, ptrdiff_t cols, int8_t *q, float *s,
                       float *m) {
  switch (type) {
  case CK_GGML_Q4_0:
    for (ptrdiff_t b = 0; b < cols / QB; b++) {
      const uint8_t *block = row + 18 * b;
      s[b] = half_at(block);
      m[b] = 8 * s[b];
      for (int j = 0; j < 16; j++) {
        q[QB * b + j] = (int8_t)(block[2 + j] & 0x0F);
        q[QB * b + j + 16] = (int8_t)(block[2 + j] >> 4);
      }
    }
    break;
  case CK_GGML_Q4_1:
    for (ptrdiff_t b = 0; b < cols / QB; b++) {
      const uint8_t *block = row + 20 * b;
      s[b] = half_at(block);
      m[b] = -half_at(block + 2);
      for (int j = 0; j < 16; j++) {
        q[QB * b + j] = (int8_t)(block[4 + j] & 0x0F);
        q[QB * b + j + 16] = (int8_t)(block[4 + j] >> 4);
      }
    }
    break;
  case CK_GGML_Q5_0:
  case CK_GGML_Q5_1: {
    // x = q·d − 16·d (q5_0) or q·d + min (q5_1), q the nibble with its fifth bit (0–31).
    const int size = type == CK_GGML_Q5_0 ? 22 : 24, header = type == CK_GGML_Q5_0 ? 2 : 4;
    for (ptrdiff_t b = 0; b < cols / QB; b++) {
      const uint8_t *block = row + size * b, *qs = block + header + 4;
      uint32_t qh;
      memcpy(&qh, block + header, 4);
      s[b] = half_at(block);
      m[b] = type == CK_GGML_Q5_0 ? 16 * s[b] : -half_at(block + 2);
      for (int j = 0; j < 16; j++) {
        q[QB * b + j] = (int8_t)((qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
        q[QB * b + j + 16] = (int8_t)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
      }
    }
    break;
  }
  case CK_GGML_Q8_0:
    for (ptrdiff_t b = 0; b < cols / QB; b++) {
      const uint8_t *block = row + 34 * b;
      s[b] = half_at(block);
      memcpy(q + QB * b, block + 2, QB);
    }
    break;
  case CK_GGML_Q4_K:
  case CK_GGML_Q5_K: {
    const int five = type == CK_GGML_Q5_K;
    const ptrdiff_t bytes = five ? 176 : 144;
    for (ptrdiff_t sb = 0; sb < cols / QK_K; sb++) {
      const uint8_t *block = row + bytes * sb;
      const float d = half_at(block), dmin = half_at(block + 2);
      const uint8_t *qh = block + 16, *q4 = block + (five ? 48 : 16);
      int8_t *out = q + QK_K * sb;
      for (int j = 0; j < 8; j++) {
        int sc, mn;
        scale_min_k4(j, block + 4, &sc, &mn);
        s[8 * sb + j] = d * (float)sc;
        m[8 * sb + j] = dmin * (float)mn;
      }
      for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++) {
          int lo = q4[32 * j + l] & 0xF, hi = q4[32 * j + l] >> 4;
          if (five) {
            lo += ((qh[l] >> (2 * j)) & 1) * 16;
            hi += ((qh[l] >> (2 * j + 1)) & 1) * 16;
          }
          out[64 * j + l] = (int8_t)lo;
          out[64 * j + 32 + l] = (int8_t)hi;
        }
    }
    break;
  }
  case CK_GGML_Q6_K:
    for (ptrdiff_t sb = 0; sb < cols / QK_K; sb++) {
      const uint8_t *block = row + 210 * sb;
      const int8_t *scales = (const int8_t *)(block + 192);
      const float d = half_at(block + 208);
      for (int g = 0; g < 16; g++) s[16 * sb + g] = d * (float)scales[g];
      int8_t *out = q + QK_K * sb;
      for (int c = 0; c < 2; c++) {
        const uint8_t *ql = block + 64 * c, *qh = block + 128 + 32 * c;
        int8_t *o = out + 128 * c;
        for (int l = 0; l < 32; l++) {
          o[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
          o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
          o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
          o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
      }
    }
    break;
  }
}

void ck_ggml_gemm_prepare_activation(ck_ggml_type type, const float *x, ptrdiff_t cols,
                                     void *scratch, void *out) {
  ck_ggml_quantize_activation(type, x, cols, scratch);
  uint8_t *row = out;
  int8_t *q = (int8_t *)row;
  float *d = (float *)(row + cols), *s = d + cols / QB;
  const uint8_t *in = scratch;
  switch (type) {
  case CK_GGML_Q4_0:
  case CK_GGML_Q5_0:
  case CK_GGML_Q8_0:
    for (ptrdiff_t b = 0; b < cols / QB; b++) {
      d[b] = half_at(in + 34 * b);
      memcpy(q + QB * b, in + 34 * b + 2, QB);
      int sum = 0;
      for (int j = 0; j < QB; j++) sum += q[QB * b + j];
      s[b] = d[b] * (float)sum;
    }
    break;
  case CK_GGML_Q4_1:
  case CK_GGML_Q5_1:
    for (ptrdiff_t b = 0; b < cols / QB; b++) {
      d[b] = half_at(in + 36 * b);
      s[b] = half_at(in + 36 * b + 2);
      memcpy(q + QB * b, in + 36 * b + 4, QB);
    }
    break;
  case CK_GGML_Q4_K:
  case CK_GGML_Q5_K:
  case CK_GGML_Q6_K:
    // block_q8_K: float d, int8 qs[256], int16 bsums[16] (292 bytes).
    for (ptrdiff_t sb = 0; sb < cols / QK_K; sb++) {
      const uint8_t *block = in + 292 * sb;
      float dk;
      memcpy(&dk, block, 4);
      memcpy(q + QK_K * sb, block + 4, QK_K);
      for (int j = 0; j < 8; j++) {
        int16_t sums[2];
        memcpy(sums, block + 4 + QK_K + 4 * j, 4);
        d[8 * sb + j] = dk;
        s[8 * sb + j] = dk * (float)(sums[0] + sums[1]);
      }
    }
    break;
  }
}

ptrdiff_t ck_ggml_gemm_scratch_bytes(ck_ggml_type type, ptrdiff_t cols) {
  (void)type;
  return PANEL * (cols + 12 * (cols / QB));
}

// Unpacks rows [r0, r0 + count) of the ggml matrix into `buffer` (ck_ggml_gemm_scratch_bytes).
static panel unpack_panel(ck_ggml_type type, const uint8_t *w, ptrdiff_t r0, ptrdiff_t count,
                          ptrdiff_t cols, uint8_t *buffer) {
  const ptrdiff_t nb = cols / QB, stride = ck_ggml_row_bytes(type, cols);
  int8_t *q = (int8_t *)buffer;
  float *s = (float *)(buffer + PANEL * cols);
  float *m = s + PANEL * 2 * nb;
  const int halves = type == CK_GGML_Q6_K;
  const ptrdiff_t lds = halves ? 2 * nb : nb;
  for (ptrdiff_t r = 0; r < count; r++)
    unpack_row(type, w + (r0 + r) * stride, cols, q + r * cols, s + r * lds, m + r * nb);
  const panel result = {q,   cols, s, lds, has_minimums(type) ? m : NULL, nb, halves,
                        type == CK_GGML_Q8_0 || type == CK_GGML_Q6_K};
  return result;
}

void ck_ggml_gemm_for(ck_gemm_variant variant, ck_ggml_type type, const void *w, const void *x,
                      float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  uint8_t *buffer = aligned_alloc(64, ((size_t)ck_ggml_gemm_scratch_bytes(type, cols) + 63) & ~(size_t)63);
  if (!buffer) abort();
  for (ptrdiff_t r = 0; r < rows; r += PANEL) {
    const ptrdiff_t count = rows - r < PANEL ? rows - r : PANEL;
    const panel p = unpack_panel(type, w, r, count, cols, buffer);
    run_panel(variant, &p, count, x, y + r, ldy, cols, n);
  }
  free(buffer);
}

void ck_ggml_gemm(ck_ggml_type type, const void *w, const void *x, float *y, ptrdiff_t ldy,
                  ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  ck_ggml_gemm_for(ck_gemm_active_variant(), type, w, x, y, ldy, rows, cols, n);
}

// ---- Reference: the exact integer block sums, scaled and summed in double. ----

static void reference_panel(const panel *w, ptrdiff_t rows, const uint8_t *x, float *y,
                            float *magnitude, ptrdiff_t ldy, ptrdiff_t cols, ptrdiff_t n) {
  const ptrdiff_t nb = cols / QB, ldx = ck_gemm_activation_bytes(cols);
  for (ptrdiff_t k = 0; k < n; k++) {
    const uint8_t *xk = x + k * ldx;
    const int8_t *xq = act_q(xk);
    const float *xd = act_d(xk, cols), *xs = act_s(xk, cols);
    for (ptrdiff_t r = 0; r < rows; r++) {
      const int8_t *wq = w->q + r * w->ldq;
      const float *ws = w->s + r * w->lds;
      double total = 0, size = 0;
      for (ptrdiff_t b = 0; b < nb; b++) {
        for (int h = 0; h < 2; h++) {
          int64_t sum = 0;
          for (int j = 16 * h; j < 16 * h + 16; j++)
            sum += (int64_t)wq[QB * b + j] * (int64_t)xq[QB * b + j];
          const double scale = (double)(w->halves ? ws[2 * b + h] : ws[b]) * (double)xd[b];
          total += scale * (double)sum;
          size += __builtin_fabs(scale * (double)sum);
        }
        if (w->m) {
          const double term = (double)w->m[r * w->ldm + b] * (double)xs[b];
          total -= term;
          size += __builtin_fabs(term);
        }
      }
      y[k * ldy + r] = (float)total;
      magnitude[k * ldy + r] = (float)size;
    }
  }
}

void ck_q8_gemm_reference(const int8_t *wq, const float *wd, const void *x, float *y,
                          float *magnitude, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                          ptrdiff_t n) {
  const panel w = {wq, cols, wd, cols / QB, NULL, 0, 0, 1};
  reference_panel(&w, rows, x, y, magnitude, ldy, cols, n);
}

void ck_ggml_gemm_reference(ck_ggml_type type, const void *w, const void *x, float *y,
                            float *magnitude, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                            ptrdiff_t n) {
  uint8_t *buffer = malloc((size_t)ck_ggml_gemm_scratch_bytes(type, cols));
  if (!buffer) abort();
  for (ptrdiff_t r = 0; r < rows; r += PANEL) {
    const ptrdiff_t count = rows - r < PANEL ? rows - r : PANEL;
    const panel p = unpack_panel(type, w, r, count, cols, buffer);
    reference_panel(&p, count, x, y + r, magnitude + r, ldy, cols, n);
  }
  free(buffer);
}
