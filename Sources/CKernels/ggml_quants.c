// ggml's block formats kept as llama.cpp stores them, for decoding. The activation row is
// quantized as ggml's x86 code does (quantize_row_q8_0 for q4_0 and q8_0 weights,
// quantize_row_q8_1 for q4_1, quantize_row_q8_K_ref for q4_K, q5_K and q6_K), and each block's
// product is an exact integer sum times the blocks' scales, as ggml's ggml_vec_dot_* compute it.
// Only the order of the `float` additions differs between the paths; AVX2's q4_0 adds in the
// order of llama.cpp's repacked q4_0_8x8 kernel (see dot_q4_0_avx2).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

#pragma clang fp contract(off)

enum { QK = 32, QK_K = 256 };

// The activation blocks (ggml's block_q8_0, block_q8_1, block_q8_K).
typedef struct {
  uint16_t d;
  int8_t qs[QK];
} ck_block_q8_0;

typedef struct {
  uint16_t d;
  uint16_t s;
  int8_t qs[QK];
} ck_block_q8_1;

typedef struct {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
} ck_block_q8_K;

_Static_assert(sizeof(ck_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(ck_block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(ck_block_q8_K) == 292, "q8_K block");

float ck_half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    // Zero or subnormal: mantissa · 2⁻²⁴, exact in float.
    const float value = (float)mantissa * 5.9604644775390625e-8f;
    memcpy(&bits, &value, 4);
    bits |= sign;
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float result;
  memcpy(&result, &bits, 4);
  return result;
}

uint16_t ck_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return sign | 0x7c00 | (x > 0x7f800000u ? 0x200 : 0);
  if (x < 0x38800000u) {
    // Below the smallest normal half (2⁻¹⁴): units of 2⁻²⁴, rounded to nearest even.
    float magnitude;
    memcpy(&magnitude, &x, 4);
    return sign | (uint16_t)rintf(magnitude * 16777216.0f);
  }
  uint32_t h = ((((x >> 23) - 127 + 15)) << 10) | ((x & 0x7fffff) >> 13);
  const uint32_t rest = x & 0x1fff;
  // Round to nearest even; a carry moves into the exponent (up to infinity) as it should.
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | (uint16_t)(h > 0x7c00 ? 0x7c00 : h);
}

static inline float half_at(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return ck_half_to_float(h);
}

ptrdiff_t ck_ggml_block_size(ck_ggml_type type) {
  return (type == CK_GGML_Q4_K || type == CK_GGML_Q5_K || type == CK_GGML_Q6_K) ? QK_K : QK;
}

ptrdiff_t ck_ggml_row_bytes(ck_ggml_type type, ptrdiff_t cols) {
  switch (type) {
  case CK_GGML_Q4_0: return cols / QK * 18;
  case CK_GGML_Q4_1: return cols / QK * 20;
  case CK_GGML_Q5_0: return cols / QK * 22;
  case CK_GGML_Q5_1: return cols / QK * 24;
  case CK_GGML_Q8_0: return cols / QK * 34;
  case CK_GGML_Q4_K: return cols / QK_K * 144;
  case CK_GGML_Q5_K: return cols / QK_K * 176;
  case CK_GGML_Q6_K: return cols / QK_K * 210;
  }
  return 0;
}

ptrdiff_t ck_ggml_activation_bytes(ck_ggml_type type, ptrdiff_t cols) {
  switch (type) {
  case CK_GGML_Q4_0:
  case CK_GGML_Q5_0:
  case CK_GGML_Q8_0: return cols / QK * (ptrdiff_t)sizeof(ck_block_q8_0);
  case CK_GGML_Q4_1:
  case CK_GGML_Q5_1: return cols / QK * (ptrdiff_t)sizeof(ck_block_q8_1);
  case CK_GGML_Q4_K:
  case CK_GGML_Q5_K:
  case CK_GGML_Q6_K: return cols / QK_K * (ptrdiff_t)sizeof(ck_block_q8_K);
  }
  return 0;
}

// q8_0 and q8_1 as ggml's x86 code (quantize_row_q8_0 / _q8_1 for AVX and AVX2, which
// llama.cpp runs there): d = max|x| / 127 stored as f16, q = x · (127 / max|x|) rounded to
// nearest even; q8_1 adds s = d · Σq (f16). ggml's reference code multiplies by 1/d and rounds
// halves away from zero instead, which differs wherever x · id falls on or near a tie, and
// ties are common: after a q4_0 embedding row and RMSNorm, a block's values are multiples of
// max|x| / 8, so the ±4 multiples land on ±63.5.

static void quantize_q8_0(const float *x, ptrdiff_t n, ck_block_q8_0 *y) {
  for (ptrdiff_t b = 0; b < n / QK; b++) {
    const float *xb = x + QK * b;
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(xb[j]));
    const float d = amax / 127;
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    y[b].d = ck_float_to_half(d);
    for (int j = 0; j < QK; j++) y[b].qs[j] = (int8_t)rintf(xb[j] * id);
  }
}

static void quantize_q8_1(const float *x, ptrdiff_t n, ck_block_q8_1 *y) {
  for (ptrdiff_t b = 0; b < n / QK; b++) {
    const float *xb = x + QK * b;
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(xb[j]));
    const float d = amax / 127;
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    y[b].d = ck_float_to_half(d);
    int sum = 0;
    for (int j = 0; j < QK; j++) {
      y[b].qs[j] = (int8_t)rintf(xb[j] * id);
      sum += y[b].qs[j];
    }
    y[b].s = ck_float_to_half((float)sum * d);
  }
}

// q8_K: the scale from the value of largest magnitude, with its sign: q = rint(−127/max · x)
// (at most 127), d = 1 / (−127/max) in float, and the sums of each 16 quants.
static void quantize_q8_K(const float *x, ptrdiff_t n, ck_block_q8_K *y) {
  for (ptrdiff_t b = 0; b < n / QK_K; b++) {
    const float *xb = x + QK_K * b;
    float amax = 0, max = 0;
    for (int j = 0; j < QK_K; j++) {
      const float ax = fabsf(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax == 0) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; j++) {
      const int v = (int)rintf(iscale * xb[j]);
      y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < QK_K / 16; g++) {
      int sum = 0;
      for (int j = 0; j < 16; j++) sum += y[b].qs[16 * g + j];
      y[b].bsums[g] = (int16_t)sum;
    }
    y[b].d = 1 / iscale;
  }
}

void ck_ggml_quantize_activation(ck_ggml_type type, const float *x, ptrdiff_t cols, void *out) {
  switch (type) {
  case CK_GGML_Q4_0:
  case CK_GGML_Q5_0:
  case CK_GGML_Q8_0: quantize_q8_0(x, cols, out); break;
  case CK_GGML_Q4_1:
  case CK_GGML_Q5_1: quantize_q8_1(x, cols, out); break;
  case CK_GGML_Q4_K:
  case CK_GGML_Q5_K:
  case CK_GGML_Q6_K: quantize_q8_K(x, cols, out); break;
  }
}

// The 6-bit scale and minimum of sub-block j (0..7) of a q4_K super-block's 12 scale bytes.
static inline void scale_min_k4(int j, const uint8_t *q, int *scale, int *min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void ck_ggml_round_trip_activation(ck_ggml_type type, const float *x, ptrdiff_t cols, void *scratch,
                                   float *out) {
  ck_ggml_quantize_activation(type, x, cols, scratch);
  switch (type) {
  case CK_GGML_Q4_0:
  case CK_GGML_Q5_0:
  case CK_GGML_Q8_0: {
    const ck_block_q8_0 *y = scratch;
    for (ptrdiff_t b = 0; b < cols / QK; b++) {
      const float d = ck_half_to_float(y[b].d);
      for (int j = 0; j < QK; j++) out[QK * b + j] = d * (float)y[b].qs[j];
    }
    break;
  }
  case CK_GGML_Q4_1:
  case CK_GGML_Q5_1: {
    const ck_block_q8_1 *y = scratch;
    for (ptrdiff_t b = 0; b < cols / QK; b++) {
      const float d = ck_half_to_float(y[b].d);
      for (int j = 0; j < QK; j++) out[QK * b + j] = d * (float)y[b].qs[j];
    }
    break;
  }
  case CK_GGML_Q4_K:
  case CK_GGML_Q5_K:
  case CK_GGML_Q6_K: {
    const ck_block_q8_K *y = scratch;
    for (ptrdiff_t b = 0; b < cols / QK_K; b++)
      for (int j = 0; j < QK_K; j++) out[QK_K * b + j] = y[b].d * (float)y[b].qs[j];
    break;
  }
  }
}

// ---- Portable: ggml's reference loops, with its summation order. ----

static float dot_q4_0_portable(const uint8_t *w, const ck_block_q8_0 *y, ptrdiff_t blocks) {
  float sum = 0;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *qs = w + 18 * b + 2;
    int s0 = 0, s1 = 0;
    for (int j = 0; j < 16; j++) {
      s0 += ((qs[j] & 0x0F) - 8) * y[b].qs[j];
      s1 += ((qs[j] >> 4) - 8) * y[b].qs[j + 16];
    }
    sum += (float)(s0 + s1) * half_at(w + 18 * b) * ck_half_to_float(y[b].d);
  }
  return sum;
}

static float dot_q4_1_portable(const uint8_t *w, const ck_block_q8_1 *y, ptrdiff_t blocks) {
  float sum = 0;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 20 * b;
    const uint8_t *qs = block + 4;
    int s0 = 0, s1 = 0;
    for (int j = 0; j < 16; j++) {
      s0 += (qs[j] & 0x0F) * y[b].qs[j];
      s1 += (qs[j] >> 4) * y[b].qs[j + 16];
    }
    sum += (half_at(block) * ck_half_to_float(y[b].d)) * (float)(s0 + s1) +
           half_at(block + 2) * ck_half_to_float(y[b].s);
  }
  return sum;
}

// The fifth bit of value j (0–31) of a q5_0 / q5_1 block, as 16 or 0.
static inline int fifth_bit(uint32_t qh, int j) { return (int)((qh >> j) & 1) << 4; }

static float dot_q5_0_portable(const uint8_t *w, const ck_block_q8_0 *y, ptrdiff_t blocks) {
  float sum = 0;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 22 * b, *qs = block + 6;
    uint32_t qh;
    memcpy(&qh, block + 2, 4);
    int s0 = 0, s1 = 0;
    for (int j = 0; j < 16; j++) {
      s0 += ((qs[j] & 0x0F) + fifth_bit(qh, j) - 16) * y[b].qs[j];
      s1 += ((qs[j] >> 4) + fifth_bit(qh, j + 16) - 16) * y[b].qs[j + 16];
    }
    sum += (half_at(block) * ck_half_to_float(y[b].d)) * (float)(s0 + s1);
  }
  return sum;
}

static float dot_q5_1_portable(const uint8_t *w, const ck_block_q8_1 *y, ptrdiff_t blocks) {
  float sum = 0;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 24 * b, *qs = block + 8;
    uint32_t qh;
    memcpy(&qh, block + 4, 4);
    int s0 = 0, s1 = 0;
    for (int j = 0; j < 16; j++) {
      s0 += ((qs[j] & 0x0F) + fifth_bit(qh, j)) * y[b].qs[j];
      s1 += ((qs[j] >> 4) + fifth_bit(qh, j + 16)) * y[b].qs[j + 16];
    }
    sum += (half_at(block) * ck_half_to_float(y[b].d)) * (float)(s0 + s1) +
           half_at(block + 2) * ck_half_to_float(y[b].s);
  }
  return sum;
}

static float dot_q8_0_portable(const uint8_t *w, const ck_block_q8_0 *y, ptrdiff_t blocks) {
  float sum = 0;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const int8_t *qs = (const int8_t *)(w + 34 * b + 2);
    int s = 0;
    for (int j = 0; j < QK; j++) s += qs[j] * y[b].qs[j];
    sum += (float)s * (half_at(w + 34 * b) * ck_half_to_float(y[b].d));
  }
  return sum;
}

// q4_K as llama.cpp's repacked AVX2 kernel (q4_K_8x8) sums a row: per block the whole integer
// sum Σ scale·q·x and Σ min·bsum, each fused into its own float accumulator with d_w·d_x and
// dmin_w·d_x, and the second subtracted at the end.
static float dot_q4_K_portable(const uint8_t *w, const ck_block_q8_K *y, ptrdiff_t blocks) {
  float sum = 0, minimums = 0;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 144 * b;
    const uint8_t *q4 = block + 16;
    const int8_t *q8 = y[b].qs;
    int scales[8], mins[8];
    for (int j = 0; j < 8; j++) scale_min_k4(j, block + 4, &scales[j], &mins[j]);
    int summins = 0;
    for (int g = 0; g < 16; g++) summins += y[b].bsums[g] * mins[g / 2];
    int32_t sumi = 0;
    for (int j = 0; j < 4; j++) {
      for (int l = 0; l < 32; l++) sumi += scales[2 * j] * ((q4[32 * j + l] & 0xF) * q8[64 * j + l]);
      for (int l = 0; l < 32; l++) sumi += scales[2 * j + 1] * ((q4[32 * j + l] >> 4) * q8[64 * j + 32 + l]);
    }
    sum = fmaf(half_at(block) * y[b].d, (float)sumi, sum);
    minimums = fmaf(half_at(block + 2) * y[b].d, (float)summins, minimums);
  }
  return sum - minimums;
}

// q5_K: q4_K's layout plus 32 bytes of high bits (bit j of byte l for value l of sub-block j).
static float dot_q5_K_portable(const uint8_t *w, const ck_block_q8_K *y, ptrdiff_t blocks) {
  float sums[8] = {0};
  float sum = 0;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 176 * b;
    const uint8_t *qh = block + 16, *q4 = block + 48;
    const int8_t *q8 = y[b].qs;
    int scales[8], mins[8];
    for (int j = 0; j < 8; j++) scale_min_k4(j, block + 4, &scales[j], &mins[j]);
    int summins = 0;
    for (int g = 0; g < 16; g++) summins += y[b].bsums[g] * mins[g / 2];
    int32_t lanes[8] = {0};
    for (int j = 0; j < 4; j++) {
      for (int l = 0; l < 32; l++) {
        const int lo = (q4[32 * j + l] & 0xF) + ((qh[l] >> (2 * j)) & 1) * 16;
        const int hi = (q4[32 * j + l] >> 4) + ((qh[l] >> (2 * j + 1)) & 1) * 16;
        lanes[l % 8] += scales[2 * j] * (lo * q8[64 * j + l]);
        lanes[l % 8] += scales[2 * j + 1] * (hi * q8[64 * j + 32 + l]);
      }
    }
    const float d = half_at(block) * y[b].d;
    for (int l = 0; l < 8; l++) sums[l] += d * (float)lanes[l];
    sum -= half_at(block + 2) * y[b].d * (float)summins;
  }
  for (int l = 0; l < 8; l++) sum += sums[l];
  return sum;
}

// q6_K as ggml's AVX2 ggml_vec_dot_q6_K_q8_K sums it: eight int32 lanes, lane i holding
// Σ scale·q·x over elements 4i…4i+3 of every 32 (q the unsigned 6-bit value) minus
// 32·(scale·bsum) of the activation's 16-sums 2i and 2i + 1; each lane then accumulates
// fma(d_w·d_x, float(lane)) block after block, and the lanes are added as ggml's hsum_float_8
// adds them: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
static float dot_q6_K_portable(const uint8_t *w, const ck_block_q8_K *y, ptrdiff_t blocks) {
  float acc[8] = {0};
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 210 * b;
    const int8_t *scales = (const int8_t *)(block + 192);
    int32_t q[QK_K];
    for (int c = 0; c < 2; c++) {
      const uint8_t *ql = block + 64 * c, *qh = block + 128 + 32 * c;
      int32_t *out = q + 128 * c;
      for (int l = 0; l < 32; l++) {
        out[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
        out[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        out[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        out[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      }
    }
    int32_t lanes[8] = {0};
    for (int i = 0; i < QK_K; i++) lanes[(i % 32) / 4] += scales[i / 16] * q[i] * y[b].qs[i];
    for (int l = 0; l < 8; l++)
      lanes[l] -= 32 * (scales[2 * l] * y[b].bsums[2 * l] + scales[2 * l + 1] * y[b].bsums[2 * l + 1]);
    const float d = half_at(block + 208) * y[b].d;
    for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)lanes[l], acc[l]);
  }
  const float a0 = acc[0] + acc[4], a1 = acc[1] + acc[5], a2 = acc[2] + acc[6],
              a3 = acc[3] + acc[7];
  return (a0 + a2) + (a1 + a3);
}

static void dot_rows_portable(ck_ggml_type type, const uint8_t *w, const void *xq, float *y,
                              ptrdiff_t rows, ptrdiff_t cols) {
  const ptrdiff_t stride = ck_ggml_row_bytes(type, cols);
  const ptrdiff_t blocks = cols / ck_ggml_block_size(type);
  for (ptrdiff_t r = 0; r < rows; r++) {
    const uint8_t *row = w + r * stride;
    switch (type) {
    case CK_GGML_Q4_0: y[r] = dot_q4_0_portable(row, xq, blocks); break;
    case CK_GGML_Q4_1: y[r] = dot_q4_1_portable(row, xq, blocks); break;
    case CK_GGML_Q5_0: y[r] = dot_q5_0_portable(row, xq, blocks); break;
    case CK_GGML_Q5_1: y[r] = dot_q5_1_portable(row, xq, blocks); break;
    case CK_GGML_Q8_0: y[r] = dot_q8_0_portable(row, xq, blocks); break;
    case CK_GGML_Q4_K: y[r] = dot_q4_K_portable(row, xq, blocks); break;
    case CK_GGML_Q5_K: y[r] = dot_q5_K_portable(row, xq, blocks); break;
    case CK_GGML_Q6_K: y[r] = dot_q6_K_portable(row, xq, blocks); break;
    }
  }
}

// ---- AVX2: the same integer sums, 32 bytes at a time with vpmaddubsw / vpmaddwd. ----
#ifdef CK_X86
// F16C (on every AVX2 CPU) converts the blocks' f16 scales in one instruction.
#pragma clang attribute push(__attribute__((target(CK_TARGET_AVX2 ",f16c"))), apply_to = function)

// One f16 to float: vmovd (which clears the rest of the register) then vcvtph2ps. Written with
// `_cvtsh_ss` or `_mm_cvtsi32_si128`, the compiler inserts the half with vpinsrw into whatever
// register it likes, a live accumulator included, and that false dependency serializes the
// whole loop on the accumulator; the asm keeps the zeroing move.
static inline float f16c(uint16_t h) {
  __m128i v;
  __asm__("vmovd %1, %0" : "=x"(v) : "r"((uint32_t)h));
  return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

static inline float half_f16c(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return f16c(h);
}

static inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// The 32 nibbles of 16 bytes: low nibbles in bytes 0–15, high nibbles in bytes 16–31.
static inline __m256i nibbles(const uint8_t *p) {
  const __m128i raw = _mm_loadu_si128((const __m128i *)p);
  const __m256i both =
      _mm256_inserti128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Eight int32 sums of four products each of signed x and signed y.
static inline __m256i dot_signed(__m256i x, __m256i y) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// q4_0 is summed as llama.cpp sums it on AVX2, where it repacks q4_0 matrices (q4_0_8x8, any
// matrix of a multiple of 8 rows) and ggml_gemv_q4_0_8x8_q8_0 keeps one float per row: for
// each block, the whole integer sum times (d_w · d_x), fused into that one accumulator. (ggml's
// ggml_vec_dot_q4_0_q8_0 keeps eight lanes per row instead; the last bits differ, and they
// decide the next activation quantization's near-ties.)
static float dot_q4_0_avx2(const uint8_t *w, const ck_block_q8_0 *y, ptrdiff_t blocks) {
  float acc = 0;
  const __m256i eight = _mm256_set1_epi8(8);
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 18 * b;
    const __m256i q = _mm256_sub_epi8(nibbles(block + 2), eight);
    const int32_t s = hsum_epi32(dot_signed(q, _mm256_loadu_si256((const __m256i *)y[b].qs)));
    acc = fmaf((float)s, half_f16c(block) * f16c(y[b].d), acc);
  }
  return acc;
}

static float dot_q4_1_avx2(const uint8_t *w, const ck_block_q8_1 *y, ptrdiff_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  float minimums = 0;
  const __m256i ones = _mm256_set1_epi16(1);
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 20 * b;
    const __m256i pairs =
        _mm256_maddubs_epi16(nibbles(block + 4), _mm256_loadu_si256((const __m256i *)y[b].qs));
    const __m256 d = _mm256_set1_ps(half_f16c(block) * f16c(y[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones)), acc);
    minimums += half_f16c(block + 2) * f16c(y[b].s);
  }
  return hsum_ps(acc) + minimums;
}

// The fifth bits of a q5_0 / q5_1 block (4 bytes, bit j for value j) as 32 bytes, 0xFF where
// the bit is set: byte j of the vector takes byte j/8 of the bits, and keeps bit j%8 of it.
static inline __m256i fifth_bits(const uint8_t *p) {
  uint32_t bits;
  memcpy(&bits, p, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32((int)bits),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                       3, 3, 3, 3, 3, 3, 3));
  const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// As ggml_vec_dot_q5_0_q8_0 on AVX2 (and llamafile's tinyBLAS for prompts, the same steps):
// eight lanes of four products each, fused into eight accumulators with d_w · d_x, summed at
// the end.
static float dot_q5_0_avx2(const uint8_t *w, const ck_block_q8_0 *y, ptrdiff_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 22 * b;
    // q − 16: the nibble, with 0xF0 ORed in where the fifth bit is clear.
    const __m256i q = _mm256_or_si256(
        nibbles(block + 6), _mm256_andnot_si256(fifth_bits(block + 2), _mm256_set1_epi8(-16)));
    const __m256i s = dot_signed(q, _mm256_loadu_si256((const __m256i *)y[b].qs));
    const __m256 d = _mm256_set1_ps(half_f16c(block) * f16c(y[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
  }
  return hsum_ps(acc);
}

// As ggml_vec_dot_q5_1_q8_1 on AVX2: q5_0's lanes, and Σ m·s in one float beside them.
static float dot_q5_1_avx2(const uint8_t *w, const ck_block_q8_1 *y, ptrdiff_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  float minimums = 0;
  const __m256i ones = _mm256_set1_epi16(1);
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 24 * b;
    const __m256i q = _mm256_or_si256(
        nibbles(block + 8), _mm256_and_si256(fifth_bits(block + 4), _mm256_set1_epi8(0x10)));
    const __m256i pairs = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y[b].qs));
    const __m256 d = _mm256_set1_ps(half_f16c(block) * f16c(y[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones)), acc);
    minimums += half_f16c(block + 2) * f16c(y[b].s);
  }
  return hsum_ps(acc) + minimums;
}

static float dot_q8_0_avx2(const uint8_t *w, const ck_block_q8_0 *y, ptrdiff_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 34 * b;
    const __m256i s = dot_signed(_mm256_loadu_si256((const __m256i *)(block + 2)),
                                 _mm256_loadu_si256((const __m256i *)y[b].qs));
    const __m256 d = _mm256_set1_ps(half_f16c(block) * f16c(y[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
  }
  return hsum_ps(acc);
}

// The float steps of dot_q4_K_portable.
static float dot_q4_K_avx2(const uint8_t *w, const ck_block_q8_K *y, ptrdiff_t blocks) {
  float total = 0, minimums = 0;
  const __m256i low = _mm256_set1_epi8(0x0F);
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 144 * b;
    const uint8_t *q4 = block + 16;
    const int8_t *q8 = y[b].qs;
    int scales[8], mins[8];
    for (int j = 0; j < 8; j++) scale_min_k4(j, block + 4, &scales[j], &mins[j]);
    int summins = 0;
    for (int g = 0; g < 16; g++) summins += y[b].bsums[g] * mins[g / 2];
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
      const __m256i raw = _mm256_loadu_si256((const __m256i *)(q4 + 32 * j));
      const __m256i lo = _mm256_and_si256(raw, low);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
      const __m256i plo =
          _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
      const __m256i phi =
          _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16((short)scales[2 * j])));
      sumi = _mm256_add_epi32(sumi,
                              _mm256_madd_epi16(phi, _mm256_set1_epi16((short)scales[2 * j + 1])));
    }
    total = fmaf(half_f16c(block) * y[b].d, (float)hsum_epi32(sumi), total);
    minimums = fmaf(half_f16c(block + 2) * y[b].d, (float)summins, minimums);
  }
  return total - minimums;
}

static float dot_q5_K_avx2(const uint8_t *w, const ck_block_q8_K *y, ptrdiff_t blocks) {
  float total = 0, minimums = 0;
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 176 * b;
    const uint8_t *q4 = block + 48;
    const int8_t *q8 = y[b].qs;
    int scales[8], mins[8];
    for (int j = 0; j < 8; j++) scale_min_k4(j, block + 4, &scales[j], &mins[j]);
    int summins = 0;
    for (int g = 0; g < 16; g++) summins += y[b].bsums[g] * mins[g / 2];
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(block + 16));
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
      const __m256i raw = _mm256_loadu_si256((const __m256i *)(q4 + 32 * j));
      // Bit 2j (2j + 1) of each high-bit byte, moved to bit 4 of the low (high) nibble's value.
      const __m256i hlo = _mm256_slli_epi16(
          _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4);
      const __m256i hhi = _mm256_slli_epi16(
          _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(raw, low), hlo);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), low), hhi);
      const __m256i plo =
          _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
      const __m256i phi =
          _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16((short)scales[2 * j])));
      sumi = _mm256_add_epi32(sumi,
                              _mm256_madd_epi16(phi, _mm256_set1_epi16((short)scales[2 * j + 1])));
    }
    total += half_f16c(block) * y[b].d * (float)hsum_epi32(sumi);
    minimums += half_f16c(block + 2) * y[b].d * (float)summins;
  }
  return total - minimums;
}

// The 128 six-bit values of half `c` of a q6_K block, unsigned (0…63), as ggml's AVX2 code
// assembles them: four vectors of 32.
static inline __attribute__((always_inline)) void q6_K_values(const uint8_t *block, int c,
                                                              __m256i q[4]) {
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i two = _mm256_set1_epi8(0x30);
  const __m256i l0 = _mm256_loadu_si256((const __m256i *)(block + 64 * c));
  const __m256i l1 = _mm256_loadu_si256((const __m256i *)(block + 64 * c + 32));
  const __m256i h = _mm256_loadu_si256((const __m256i *)(block + 128 + 32 * c));
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_and_si256(_mm256_slli_epi16(h, 4), two));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_and_si256(_mm256_slli_epi16(h, 2), two));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_and_si256(h, two));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                         _mm256_and_si256(_mm256_srli_epi16(h, 2), two));
}

// Shuffles taking scale 2k (low half) and 2k + 1 (high half) of eight int16 scales repeated in
// both halves, k = 0…3.
static inline __attribute__((always_inline)) void q6_K_scale_picks(__m256i pick[4]) {
  for (int k = 0; k < 4; k++)
    pick[k] = _mm256_setr_epi8(
        4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
        4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3, 4 * k + 2,
        4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2,
        4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3);
}

// The lanes and float steps of dot_q6_K_portable.
static float dot_q6_K_avx2(const uint8_t *w, const ck_block_q8_K *y, ptrdiff_t blocks) {
  __m256 acc = _mm256_setzero_ps();
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *block = w + 210 * b;
    const int8_t *scales = (const int8_t *)(block + 192);
    // Σ (q − 32)·q8 = Σ q·q8 − 32·Σ q8: lane i takes −32·(scale·bsum) of 16-sums 2i, 2i + 1.
    const __m256i wide = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales));
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[b].bsums);
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                    _mm256_slli_epi32(_mm256_madd_epi16(wide, bsums), 5));
    for (int c = 0; c < 2; c++) {
      __m256i q[4];
      q6_K_values(block, c, q);
      const int8_t *q8 = y[b].qs + 128 * c;
      const int8_t *s = scales + 8 * c;
      for (int k = 0; k < 4; k++) {
        const __m256i pairs =
            _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(q8 + 32 * k)));
        const __m256i scale = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_set1_epi16(s[2 * k])), _mm_set1_epi16(s[2 * k + 1]), 1);
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, scale));
      }
    }
    const float d = half_f16c(block + 208) * y[b].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_ps(acc);
}

// ---- Eight weight rows at a time (one activation row). ----
// Each row's result is the same sum, with the same `float` operations in the same order, as the
// one-row kernels above compute it: only the exact integer sums of a block are formed
// differently (sums of all eight rows reduced together, `hsum8_epi32`), and the float steps run
// lane by lane, lane i being row i.

// Lane i of the result: the sum of the eight lanes of v[i] (integer sums, exact in any order).
static inline __m256i hsum8_rows_epi32(const __m256i v[8]) {
  const __m256i ab = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  const __m256i cd = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20),
                          _mm256_permute2x128_si256(ab, cd, 0x31));
}

// Lane i of the result: the sum of row i's four lanes, where p[k] holds row 2k's four int32
// lanes in its low half and row 2k + 1's in its high half.
static inline __m256i hsum8_pairs_epi32(const __m256i p[4]) {
  // Low halves: rows 0, 2, 4, 6; high halves: rows 1, 3, 5, 7.
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
  return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The f16 at byte `offset` of each of eight blocks `stride` bytes apart, as floats.
static inline __m256 halves8(const uint8_t *p, ptrdiff_t stride) {
  uint16_t h[8];
  for (int i = 0; i < 8; i++) memcpy(&h[i], p + i * stride, 2);
  return _mm256_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3],
                                        (short)h[4], (short)h[5], (short)h[6], (short)h[7]));
}

// The hardware prefetchers lose track of eight interleaved rows: while block b of a group of
// eight rows is read, the bytes [8·B·b, 8·B·(b + 1)) (B the block's size) of the group three
// groups ahead are fetched, so that each group is in the cache when its turn comes (one group
// ahead is too close for the short rows of a 768-wide matrix).


static inline void prefetch_group(const uint8_t *next, ptrdiff_t bytes) {
  for (ptrdiff_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)(next + o), _MM_HINT_T0);
}

// q4_0: Σ (n − 8)·x = Σ n·x − 8·Σ x with the nibbles n unsigned, two rows per register (row 2k's
// 16 bytes in the low half, row 2k + 1's in the high half, the block's 32 activations split the
// same way), and `sx8[b]` = 8·Σ x of activation block b. Then, per row, as dot_q4_0_avx2:
// acc = fma(float(s), d_w · d_x, acc).
static void dot_q4_0_rows8_avx2(const uint8_t *w, const ck_block_q8_0 *y, const int32_t *sx8,
                                float *out, ptrdiff_t stride, ptrdiff_t blocks) {
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *blocks8 = w + 18 * b;
    prefetch_group(w + 24 * stride + 144 * b, 144);
    const __m256i x0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)y[b].qs));
    const __m256i x1 =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(y[b].qs + 16)));
    __m256i p[4];
    for (int k = 0; k < 4; k++) {
      const uint8_t *a = blocks8 + 2 * k * stride + 2;
      const __m256i raw = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
          _mm_loadu_si128((const __m128i *)(a + stride)), 1);
      const __m256i lo = _mm256_and_si256(raw, low);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
      const __m256i pairs =
          _mm256_add_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_maddubs_epi16(hi, x1));
      p[k] = _mm256_madd_epi16(pairs, ones);
    }
    const __m256i s = _mm256_sub_epi32(hsum8_pairs_epi32(p), _mm256_set1_epi32(sx8[b]));
    const __m256 d = _mm256_mul_ps(halves8(blocks8, stride), _mm256_set1_ps(f16c(y[b].d)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc);
  }
  _mm256_storeu_ps(out, acc);
}

// The 8 six-bit scales (low half, as int16) and 8 minimums (high half) of a q4_K / q5_K block's
// 12 scale bytes, as ggml's AVX2 code unpacks them.
static inline __m256i scales_mins_k4(const uint8_t *q) {
  uint32_t u[4];
  memcpy(u, q, 12);
  const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = u[1] & kmask1;
  u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
  u[2] = uaux;
  u[0] &= kmask1;
  return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)u));
}

// q4_K: per row, total = fma(d · d_x, float(Σ scale·q·x), total) and minimums =
// fma(dmin · d_x, float(Σ min·bsum), minimums), block after block, then total − minimums, as
// dot_q4_K_avx2.
static void dot_q4_K_rows8_avx2(const uint8_t *w, const ck_block_q8_K *y, float *out,
                                ptrdiff_t stride, ptrdiff_t blocks) {
  const __m256i low = _mm256_set1_epi8(0x0F);
  __m256 total = _mm256_setzero_ps(), minimums = _mm256_setzero_ps();
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *blocks8 = w + 144 * b;
    const int8_t *q8 = y[b].qs;
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[b].bsums);
    // Sums of each 32 activations (pairs of 16-sums), one per sub-block, as int16.
    const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(bsums),
                                       _mm256_extracti128_si256(bsums, 1));
    __m256i sums[8], mins[4];
    for (int i = 0; i < 8; i++) {
      const uint8_t *block = blocks8 + i * stride;
      prefetch_group(w + 24 * stride + 1152 * b + 144 * i, 144);
      const __m256i sm = scales_mins_k4(block + 4);
      const __m128i m = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), q8s);
      if (i % 2 == 0)
        mins[i / 2] = _mm256_castsi128_si256(m);
      else
        mins[i / 2] = _mm256_inserti128_si256(mins[i / 2], m, 1);
      const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
      __m256i sumi = _mm256_setzero_si256();
      for (int j = 0; j < 4; j++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(block + 16 + 32 * j));
        const __m256i lo = _mm256_and_si256(raw, low);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
        // Scale 2j, then 2j + 1, in every int16 lane (bytes 4j, 4j + 1 and 4j + 2, 4j + 3).
        const __m256i slo =
            _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(((4 * j + 1) << 8) | (4 * j))));
        const __m256i shi = _mm256_shuffle_epi8(
            scales, _mm256_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2))));
        const __m256i plo =
            _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
        const __m256i phi =
            _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, slo));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, shi));
      }
      sums[i] = sumi;
    }
    const __m256i s = hsum8_rows_epi32(sums);
    const __m256i m = hsum8_pairs_epi32(mins);
    const __m256 yd = _mm256_set1_ps(y[b].d);
    const __m256 d = _mm256_mul_ps(halves8(blocks8, stride), yd);
    const __m256 dmin = _mm256_mul_ps(halves8(blocks8 + 2, stride), yd);
    total = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), total);
    minimums = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(m), minimums);
  }
  _mm256_storeu_ps(out, _mm256_sub_ps(total, minimums));
}

// q6_K: per row, the eight lanes and float steps of dot_q6_K_avx2.
static void dot_q6_K_rows8_avx2(const uint8_t *w, const ck_block_q8_K *y, float *out,
                                ptrdiff_t stride, ptrdiff_t blocks) {
  __m256i pick[4];
  q6_K_scale_picks(pick);
  __m256 acc[8];
  for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *blocks8 = w + 210 * b;
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[b].bsums);
    // Each row's fused multiply-add right after its integer sums (no array of eight sums held
    // across the rows: fewer registers, the same operations in the same order per row).
    float d[8];
    _mm256_storeu_ps(d, _mm256_mul_ps(halves8(blocks8 + 208, stride), _mm256_set1_ps(y[b].d)));
    for (int i = 0; i < 8; i++) {
      const uint8_t *block = blocks8 + i * stride;
      prefetch_group(w + 24 * stride + 1680 * b + 210 * i, 210);
      const __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 192)));
      // −32·Σ scale·bsum, folded into the integer sum (exact).
      __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(scales, bsums), 5);
      sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
      for (int c = 0; c < 2; c++) {
        const __m256i sc = c == 0 ? _mm256_permute4x64_epi64(scales, 0x44)
                                 : _mm256_permute4x64_epi64(scales, 0xEE);
        __m256i q[4];
        q6_K_values(block, c, q);
        const int8_t *q8 = y[b].qs + 128 * c;
        for (int k = 0; k < 4; k++) {
          const __m256i pairs =
              _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(q8 + 32 * k)));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, _mm256_shuffle_epi8(sc, pick[k])));
        }
      }
      acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(d[i]), _mm256_cvtepi32_ps(sumi), acc[i]);
    }
  }
  for (int i = 0; i < 8; i++) out[i] = hsum_ps(acc[i]);
}

static void dot_rows_avx2(ck_ggml_type type, const uint8_t *w, const void *xq, float *y,
                          ptrdiff_t rows, ptrdiff_t cols) {
  const ptrdiff_t stride = ck_ggml_row_bytes(type, cols);
  const ptrdiff_t blocks = cols / ck_ggml_block_size(type);
  ptrdiff_t r = 0;
  if (rows >= 8 && type == CK_GGML_Q4_0) {
    // 8 · Σ x of each activation block, for Σ (n − 8)·x = Σ n·x − 8·Σ x.
    int32_t local[256];
    int32_t *sx8 = blocks <= 256 ? local : malloc((size_t)blocks * sizeof(int32_t));
    if (!sx8) abort();
    const ck_block_q8_0 *x = xq;
    for (ptrdiff_t b = 0; b < blocks; b++) {
      int32_t sum = 0;
      for (int j = 0; j < QK; j++) sum += x[b].qs[j];
      sx8[b] = 8 * sum;
    }
    for (; r + 8 <= rows; r += 8)
      dot_q4_0_rows8_avx2(w + r * stride, x, sx8, y + r, stride, blocks);
    if (sx8 != local) free(sx8);
  } else if (type == CK_GGML_Q4_K) {
    for (; r + 8 <= rows; r += 8) dot_q4_K_rows8_avx2(w + r * stride, xq, y + r, stride, blocks);
  } else if (type == CK_GGML_Q6_K) {
    for (; r + 8 <= rows; r += 8) dot_q6_K_rows8_avx2(w + r * stride, xq, y + r, stride, blocks);
  }
  for (; r < rows; r++) {
    const uint8_t *row = w + r * stride;
    // The hardware prefetchers stop at each 4 KiB page: ask for the next rows ahead.
    _mm_prefetch((const char *)(row + 4 * stride), _MM_HINT_T0);
    switch (type) {
    case CK_GGML_Q4_0: y[r] = dot_q4_0_avx2(row, xq, blocks); break;
    case CK_GGML_Q4_1: y[r] = dot_q4_1_avx2(row, xq, blocks); break;
    case CK_GGML_Q5_0: y[r] = dot_q5_0_avx2(row, xq, blocks); break;
    case CK_GGML_Q5_1: y[r] = dot_q5_1_avx2(row, xq, blocks); break;
    case CK_GGML_Q8_0: y[r] = dot_q8_0_avx2(row, xq, blocks); break;
    case CK_GGML_Q4_K: y[r] = dot_q4_K_avx2(row, xq, blocks); break;
    case CK_GGML_Q5_K: y[r] = dot_q5_K_avx2(row, xq, blocks); break;
    case CK_GGML_Q6_K: y[r] = dot_q6_K_avx2(row, xq, blocks); break;
    }
  }
}

// Several activation rows against each weight block at once, each row summed as the one-row
// kernels above sum it (same accumulator, same order), so its result is the same bits.
#define CK_GGML_GROUP 8

// `xs`: each activation row's block scales as floats, each repeated over 8 lanes
// (`xs[(k · blocks + b) · 8 …]`), so a block's scale product `dw · dx` is one vector multiply
// (the same product, rounded the same way, as the one-row kernel's scalar one).
static inline __attribute__((always_inline)) void dot_q8_0_multi_avx2(
    const uint8_t *w, const uint8_t *xq, ptrdiff_t xstride, const float *xs, float *y,
    ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t blocks, int R) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const uint8_t *row = w + r * stride;
    _mm_prefetch((const char *)(row + 4 * stride), _MM_HINT_T0);
    __m256 acc[CK_GGML_GROUP];
    for (int k = 0; k < R; k++) acc[k] = _mm256_setzero_ps();
    for (ptrdiff_t b = 0; b < blocks; b++) {
      const uint8_t *block = row + 34 * b;
      const __m256i q = _mm256_loadu_si256((const __m256i *)(block + 2));
      const __m256i u = _mm256_sign_epi8(q, q);
      const __m256 dw = _mm256_set1_ps(half_f16c(block));
      for (int k = 0; k < R; k++) {
        const ck_block_q8_0 *x = (const ck_block_q8_0 *)(xq + k * xstride) + b;
        const __m256i pairs =
            _mm256_maddubs_epi16(u, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x->qs), q));
        const __m256i s = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
        const __m256 d = _mm256_mul_ps(dw, _mm256_load_ps(xs + (k * blocks + b) * 8));
        acc[k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[k]);
      }
    }
    for (int k = 0; k < R; k++) y[k * ldy + r] = hsum_ps(acc[k]);
  }
}

// Lane i of the result: the sum of the eight lanes of v[i] (integer sums, exact in any order).
static inline __m256i hsum8_epi32(const __m256i v[8]) {
  const __m256i ab = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  const __m256i cd = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
  // ab: v0..v3's sums of lanes 0–3 (low half) and 4–7 (high half); cd the same for v4..v7.
  return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20),
                          _mm256_permute2x128_si256(ab, cd, 0x31));
}

// q4_0 rows against R activation rows, each output summed as llama.cpp's repacked q4_0_8x8
// kernel sums it: one float per output, acc = fma(float(block's integer sum), d_w · d_x, acc)
// block after block. Eight weight rows at a time keep those eight accumulators in one vector
// (lane i is row i's, the same operations lane by lane); the rows left over go one by one.
static inline __attribute__((always_inline)) void dot_q4_0_multi_avx2(
    const uint8_t *w, const uint8_t *xq, ptrdiff_t xstride, const float *xs, float *y,
    ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t blocks, int R) {
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i ones = _mm256_set1_epi16(1);
  ptrdiff_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    const uint8_t *rows8 = w + r * stride;
    __m256 acc[CK_GGML_GROUP];
    for (int k = 0; k < R; k++) acc[k] = _mm256_setzero_ps();
    for (ptrdiff_t b = 0; b < blocks; b++) {
      __m256i q[8];
      float scales[8];
      for (int i = 0; i < 8; i++) {
        const uint8_t *block = rows8 + i * stride + 18 * b;
        q[i] = _mm256_sub_epi8(nibbles(block + 2), eight);
        scales[i] = half_f16c(block);
      }
      const __m256 dw = _mm256_loadu_ps(scales);
      for (int k = 0; k < R; k++) {
        const ck_block_q8_0 *x = (const ck_block_q8_0 *)(xq + k * xstride) + b;
        const __m256i xv = _mm256_loadu_si256((const __m256i *)x->qs);
        __m256i s[8];
        for (int i = 0; i < 8; i++)
          s[i] = _mm256_madd_epi16(
              _mm256_maddubs_epi16(_mm256_sign_epi8(q[i], q[i]), _mm256_sign_epi8(xv, q[i])), ones);
        const __m256 d = _mm256_mul_ps(dw, _mm256_load_ps(xs + (k * blocks + b) * 8));
        acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8_epi32(s)), d, acc[k]);
      }
    }
    for (int k = 0; k < R; k++) _mm256_storeu_ps(y + k * ldy + r, acc[k]);
  }
  for (; r < rows; r++) {
    const uint8_t *row = w + r * stride;
    float acc[CK_GGML_GROUP];
    for (int k = 0; k < R; k++) acc[k] = 0;
    for (ptrdiff_t b = 0; b < blocks; b++) {
      const uint8_t *block = row + 18 * b;
      const __m256i q = _mm256_sub_epi8(nibbles(block + 2), eight);
      const __m256i u = _mm256_sign_epi8(q, q);
      const float dw = half_f16c(block);
      for (int k = 0; k < R; k++) {
        const ck_block_q8_0 *x = (const ck_block_q8_0 *)(xq + k * xstride) + b;
        const __m256i pairs =
            _mm256_maddubs_epi16(u, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x->qs), q));
        const int32_t s = hsum_epi32(_mm256_madd_epi16(pairs, ones));
        acc[k] = fmaf((float)s, dw * xs[(k * blocks + b) * 8], acc[k]);
      }
    }
    for (int k = 0; k < R; k++) y[k * ldy + r] = acc[k];
  }
}

#define CK_GROUP_SWITCH(call)                                                                  \
  switch (m) {                                                                                 \
  case 8: call(8); break;                                                                      \
  case 7: call(7); break;                                                                      \
  case 6: call(6); break;                                                                      \
  case 5: call(5); break;                                                                      \
  case 4: call(4); break;                                                                      \
  case 3: call(3); break;                                                                      \
  case 2: call(2); break;                                                                      \
  default: call(1); break;                                                                     \
  }

// ---- q8_0 against groups of 5 to 8 activation rows: int16 products. ----
// Each block's 32 int8 weights are widened to int16 once per group and multiplied with vpmaddwd
// (two multiplies per block and activation row, where the sign-and-vpmaddubsw form of the
// one-row kernel needs a sign, a vpmaddubsw and a vpmaddwd, three instructions of the same two
// execution ports); the scale products `dw · dx` of a weight row are formed 8 activation rows
// at a time before its blocks are read. Lane j of a block's int32 sums holds, as in
// dot_q8_0_avx2, the exact sum of the products of values 4j…4j + 3, and the float steps are the
// one-row kernel's: acc = fma(dw · dx, float(s), acc) per lane, then hsum_ps.

// The 32 int8 of a q8_0 block as two int16 vectors whose int32 lane j holds between them the
// values 4j…4j + 3 (lanes 4–7 from the block's second half): `a` values 4j, 4j + 1 and `b`
// values 4j + 2, 4j + 3, so that vpmaddwd(a, a') + vpmaddwd(b, b') sums each lane's four
// products.
static inline void widen_q8(const uint8_t *p, __m256i *a, __m256i *b) {
  const __m256i order = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                         0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  const __m256i q = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)p), order);
  *a = _mm256_srai_epi16(_mm256_unpacklo_epi8(q, q), 8);
  *b = _mm256_srai_epi16(_mm256_unpackhi_epi8(q, q), 8);
}

// `rows` weight rows against R activation rows: xw holds the activation rows' widened blocks,
// block by block (row k's block b at xw[16 · b + 2 · k], the group's 8 rows of a block in 512
// contiguous bytes), xs their block scales as floats (xs[8 · b + k]); dp is scratch for
// 8 · blocks floats.
static inline __attribute__((always_inline)) void dot_q8_0_wide_avx2(
    const uint8_t *w, const __m256i *xw, const float *xs, float *dp, __m256 *partial, float *y,
    ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t stride, ptrdiff_t b0, ptrdiff_t b1, int last,
    int R) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const uint8_t *row = w + r * stride;
    // The hardware prefetcher loses the stream when the next group goes back over the tile.
    for (ptrdiff_t off = 34 * b0; off < 34 * b1; off += 64)
      _mm_prefetch((const char *)(row + 3 * stride + off), _MM_HINT_T0);
    // dw · dx for every block and activation row, each rounded as the one-row kernel's product.
    for (ptrdiff_t b = b0; b < b1; b++)
      _mm256_store_ps(dp + 8 * b, _mm256_mul_ps(_mm256_set1_ps(half_f16c(row + 34 * b)),
                                                _mm256_load_ps(xs + 8 * b)));
    __m256 acc[CK_GGML_GROUP];
    __m256 *saved = partial + CK_GGML_GROUP * r;
    for (int k = 0; k < R; k++) acc[k] = b0 == 0 ? _mm256_setzero_ps() : saved[k];
    for (ptrdiff_t b = b0; b < b1; b++) {
      __m256i a, c;
      widen_q8(row + 34 * b + 2, &a, &c);
      for (int k = 0; k < R; k++) {
        const __m256i *x = xw + 16 * b + 2 * k;
        const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(a, _mm256_load_si256(x)),
                                           _mm256_madd_epi16(c, _mm256_load_si256(x + 1)));
        acc[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(dp + 8 * b + k), _mm256_cvtepi32_ps(s),
                                 acc[k]);
      }
    }
    if (last) {
      for (int k = 0; k < R; k++) y[k * ldy + r] = hsum_ps(acc[k]);
    } else {
      for (int k = 0; k < R; k++) saved[k] = acc[k];
    }
  }
}

// ---- q4_0, 8 weight rows against up to 8 activation rows. ----
// As dot_q4_0_rows8_avx2 (lane i is weight row i; Σ (n − 8)·x = Σ n·x − 8·Σ x with unsigned
// nibbles, two rows per register; acc = fma(float(s), d_w · d_x, acc)), with the group's
// nibbles and scales unpacked once (`nib`: per block 4 row pairs × low and high nibbles; `dw`:
// per block the 8 rows' scales) for every activation row. xd: per activation row and block,
// the 16 first activations in both halves, then the 16 last; sx8: 8·Σ x; xs: d_x.
static inline __attribute__((always_inline)) void dot_q4_0_group_avx2(
    const __m256i *nib, const __m256 *dw, const __m256i *xd, const int32_t *sx8, const float *xs,
    float *y, ptrdiff_t ldy, ptrdiff_t blocks, int R) {
  const __m256i ones = _mm256_set1_epi16(1);
  int k = 0;
  // Two activation rows at a time: each block's unpacked weights loaded once for both, and two
  // independent chains of fused multiply-adds.
  for (; k + 2 <= R; k += 2) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i *xa = xd + 2 * k * blocks, *xb = xd + 2 * (k + 1) * blocks;
    for (ptrdiff_t b = 0; b < blocks; b++) {
      const __m256i *n8 = nib + 8 * b;
      const __m256i a0 = _mm256_load_si256(xa + 2 * b), a1 = _mm256_load_si256(xa + 2 * b + 1);
      const __m256i b0 = _mm256_load_si256(xb + 2 * b), b1 = _mm256_load_si256(xb + 2 * b + 1);
      __m256i p[4], q[4];
      for (int i = 0; i < 4; i++) {
        const __m256i lo = _mm256_load_si256(n8 + 2 * i), hi = _mm256_load_si256(n8 + 2 * i + 1);
        p[i] = _mm256_madd_epi16(
            _mm256_add_epi16(_mm256_maddubs_epi16(lo, a0), _mm256_maddubs_epi16(hi, a1)), ones);
        q[i] = _mm256_madd_epi16(
            _mm256_add_epi16(_mm256_maddubs_epi16(lo, b0), _mm256_maddubs_epi16(hi, b1)), ones);
      }
      const __m256i sa =
          _mm256_sub_epi32(hsum8_pairs_epi32(p), _mm256_set1_epi32(sx8[k * blocks + b]));
      const __m256i sb =
          _mm256_sub_epi32(hsum8_pairs_epi32(q), _mm256_set1_epi32(sx8[(k + 1) * blocks + b]));
      acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sa),
                             _mm256_mul_ps(dw[b], _mm256_set1_ps(xs[k * blocks + b])), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sb),
                             _mm256_mul_ps(dw[b], _mm256_set1_ps(xs[(k + 1) * blocks + b])), acc1);
    }
    _mm256_storeu_ps(y + k * ldy, acc0);
    _mm256_storeu_ps(y + (k + 1) * ldy, acc1);
  }
  for (; k < R; k++) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i *x = xd + 2 * k * blocks;
    for (ptrdiff_t b = 0; b < blocks; b++) {
      const __m256i *n8 = nib + 8 * b;
      const __m256i x0 = _mm256_load_si256(x + 2 * b), x1 = _mm256_load_si256(x + 2 * b + 1);
      __m256i p[4];
      for (int i = 0; i < 4; i++)
        p[i] = _mm256_madd_epi16(
            _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_load_si256(n8 + 2 * i), x0),
                             _mm256_maddubs_epi16(_mm256_load_si256(n8 + 2 * i + 1), x1)),
            ones);
      const __m256i s =
          _mm256_sub_epi32(hsum8_pairs_epi32(p), _mm256_set1_epi32(sx8[k * blocks + b]));
      const __m256 d = _mm256_mul_ps(dw[b], _mm256_set1_ps(xs[k * blocks + b]));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc);
    }
    _mm256_storeu_ps(y + k * ldy, acc);
  }
}

static void dot_q4_0_multi8_avx2(const uint8_t *w, const uint8_t *xq, ptrdiff_t xstride,
                                 float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t stride,
                                 ptrdiff_t blocks, ptrdiff_t n) {
  __m256i *xd = aligned_alloc(32, (size_t)(n * blocks) * 64);
  int32_t *sx8 = malloc((size_t)(n * blocks) * sizeof(int32_t));
  float *xs = malloc((size_t)(n * blocks) * sizeof(float));
  __m256i *nib = aligned_alloc(32, (size_t)blocks * 256);
  __m256 *dw = aligned_alloc(32, (size_t)blocks * 32);
  if (!xd || !sx8 || !xs || !nib || !dw) abort();
  for (ptrdiff_t k = 0; k < n; k++) {
    const ck_block_q8_0 *x = (const ck_block_q8_0 *)(xq + k * xstride);
    for (ptrdiff_t b = 0; b < blocks; b++) {
      const ptrdiff_t i = k * blocks + b;
      xd[2 * i] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x[b].qs));
      xd[2 * i + 1] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x[b].qs + 16)));
      int32_t sum = 0;
      for (int j = 0; j < QK; j++) sum += x[b].qs[j];
      sx8[i] = 8 * sum;
      xs[i] = f16c(x[b].d);
    }
  }
  const __m256i low = _mm256_set1_epi8(0x0F);
  for (ptrdiff_t r = 0; r + 8 <= rows; r += 8) {
    const uint8_t *rows8 = w + r * stride;
    for (ptrdiff_t b = 0; b < blocks; b++) {
      const uint8_t *blocks8 = rows8 + 18 * b;
      prefetch_group(rows8 + 16 * stride + 144 * b, 144);
      for (int i = 0; i < 4; i++) {
        const uint8_t *a = blocks8 + 2 * i * stride + 2;
        const __m256i raw = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
            _mm_loadu_si128((const __m128i *)(a + stride)), 1);
        nib[8 * b + 2 * i] = _mm256_and_si256(raw, low);
        nib[8 * b + 2 * i + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
      }
      dw[b] = halves8(blocks8, stride);
    }
    for (ptrdiff_t k = 0; k < n; k += CK_GGML_GROUP) {
      const ptrdiff_t m = n - k < CK_GGML_GROUP ? n - k : CK_GGML_GROUP;
#define CK_CALL(R)                                                                             \
  dot_q4_0_group_avx2(nib, dw, xd + 2 * k * blocks, sx8 + k * blocks, xs + k * blocks,         \
                      y + k * ldy + r, ldy, blocks, R)
      CK_GROUP_SWITCH(CK_CALL)
#undef CK_CALL
    }
  }
  free(xd);
  free(sx8);
  free(xs);
  free(nib);
  free(dw);
}

// ---- q4_K, 8 weight rows against n activation rows. ----
// As dot_q4_K_rows8_avx2 per activation row (the same integer sums, exact; the same float steps
// lane by lane, lane i weight row i), with each super-block's nibbles, scale shuffles and
// minimum scales of the eight weight rows unpacked once for all n activation rows. `acc`:
// per activation row, its `total` and `minimums` vectors (16 floats).
static void dot_q4_K_tile8_avx2(const uint8_t *w, const uint8_t *xq, ptrdiff_t xstride,
                                float *acc, float *y, ptrdiff_t ldy, ptrdiff_t stride,
                                ptrdiff_t blocks, ptrdiff_t n) {
  const __m256i low = _mm256_set1_epi8(0x0F);
  // Per row: the 4 low-nibble and 4 high-nibble vectors, then the 4 + 4 scale shuffles.
  __m256i unpacked[8][16];
  // Rows 2p (low half) and 2p + 1 (high half): their eight minimum scales as int16.
  __m256i mins_scales[4];
  memset(acc, 0, (size_t)(16 * n) * sizeof(float));
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *blocks8 = w + 144 * b;
    for (int i = 0; i < 8; i++) {
      const uint8_t *block = blocks8 + i * stride;
      prefetch_group(w + 8 * stride + 1152 * b + 144 * i, 144);
      const __m256i sm = scales_mins_k4(block + 4);
      if (i % 2 == 0)
        mins_scales[i / 2] = _mm256_permute2x128_si256(sm, sm, 0x11);
      else
        mins_scales[i / 2] = _mm256_blend_epi32(mins_scales[i / 2], sm, 0xF0);
      const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
      for (int j = 0; j < 4; j++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(block + 16 + 32 * j));
        unpacked[i][j] = _mm256_and_si256(raw, low);
        unpacked[i][4 + j] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
        unpacked[i][8 + j] =
            _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(((4 * j + 1) << 8) | (4 * j))));
        unpacked[i][12 + j] = _mm256_shuffle_epi8(
            scales, _mm256_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2))));
      }
    }
    const __m256 dw = halves8(blocks8, stride), dminw = halves8(blocks8 + 2, stride);
    for (ptrdiff_t k = 0; k < n; k++) {
      const ck_block_q8_K *x = (const ck_block_q8_K *)(xq + k * xstride) + b;
      const __m256i bsums = _mm256_loadu_si256((const __m256i *)x->bsums);
      const __m256i q8s = _mm256_broadcastsi128_si256(_mm_hadd_epi16(
          _mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1)));
      const __m256i *xv = (const __m256i *)x->qs;
      __m256i sums[8], mins[4];
      for (int p = 0; p < 4; p++) mins[p] = _mm256_madd_epi16(mins_scales[p], q8s);
      for (int i = 0; i < 8; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
          const __m256i plo =
              _mm256_maddubs_epi16(unpacked[i][j], _mm256_loadu_si256(xv + 2 * j));
          const __m256i phi =
              _mm256_maddubs_epi16(unpacked[i][4 + j], _mm256_loadu_si256(xv + 2 * j + 1));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, unpacked[i][8 + j]));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, unpacked[i][12 + j]));
        }
        sums[i] = sumi;
      }
      const __m256i s = hsum8_rows_epi32(sums);
      const __m256i m = hsum8_pairs_epi32(mins);
      const __m256 yd = _mm256_set1_ps(x->d);
      float *a = acc + 16 * k;
      _mm256_storeu_ps(a, _mm256_fmadd_ps(_mm256_mul_ps(dw, yd), _mm256_cvtepi32_ps(s),
                                          _mm256_loadu_ps(a)));
      _mm256_storeu_ps(a + 8, _mm256_fmadd_ps(_mm256_mul_ps(dminw, yd), _mm256_cvtepi32_ps(m),
                                              _mm256_loadu_ps(a + 8)));
    }
  }
  for (ptrdiff_t k = 0; k < n; k++)
    _mm256_storeu_ps(y + k * ldy,
                     _mm256_sub_ps(_mm256_loadu_ps(acc + 16 * k), _mm256_loadu_ps(acc + 16 * k + 8)));
}

// ---- q6_K, 8 weight rows against n activation rows. ----
// As dot_q6_K_rows8_avx2 per activation row (the same exact integer sums, then per weight row
// acc = fma(d_w · d_x, float(sum), acc) over its eight lanes, block after block, and hsum_ps),
// with each super-block's six-bit values and scale shuffles of the eight weight rows unpacked
// once for all n activation rows. `acc`: per activation row, 8 weight rows × 8 lanes.
static void dot_q6_K_tile8_avx2(const uint8_t *w, const uint8_t *xq, ptrdiff_t xstride,
                                float *acc, float *y, ptrdiff_t ldy, ptrdiff_t stride,
                                ptrdiff_t blocks, ptrdiff_t n) {
  __m256i pick[4];
  q6_K_scale_picks(pick);
  // Per row: the 8 vectors of six-bit values (c = 0, 1; k = 0…3), then their 8 scale shuffles,
  // then the 16 scales as int16.
  __m256i unpacked[8][17];
  memset(acc, 0, (size_t)(64 * n) * sizeof(float));
  for (ptrdiff_t b = 0; b < blocks; b++) {
    const uint8_t *blocks8 = w + 210 * b;
    for (int i = 0; i < 8; i++) {
      const uint8_t *block = blocks8 + i * stride;
      prefetch_group(w + 8 * stride + 1680 * b + 210 * i, 210);
      const __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 192)));
      unpacked[i][16] = scales;
      for (int c = 0; c < 2; c++) {
        const __m256i sc = c == 0 ? _mm256_permute4x64_epi64(scales, 0x44)
                                 : _mm256_permute4x64_epi64(scales, 0xEE);
        q6_K_values(block, c, unpacked[i] + 4 * c);
        for (int k = 0; k < 4; k++) unpacked[i][8 + 4 * c + k] = _mm256_shuffle_epi8(sc, pick[k]);
      }
    }
    const __m256 dw = halves8(blocks8 + 208, stride);
    for (ptrdiff_t k = 0; k < n; k++) {
      const ck_block_q8_K *x = (const ck_block_q8_K *)(xq + k * xstride) + b;
      const __m256i bsums = _mm256_loadu_si256((const __m256i *)x->bsums);
      const __m256i *xv = (const __m256i *)x->qs;
      float d[8];
      _mm256_storeu_ps(d, _mm256_mul_ps(dw, _mm256_set1_ps(x->d)));
      float *a = acc + 64 * k;
      for (int i = 0; i < 8; i++) {
        const __m256i *u = unpacked[i];
        __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(u[16], bsums), 5);
        sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
        for (int j = 0; j < 8; j++) {
          const __m256i pairs = _mm256_maddubs_epi16(u[j], _mm256_loadu_si256(xv + j));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, u[8 + j]));
        }
        _mm256_storeu_ps(a + 8 * i, _mm256_fmadd_ps(_mm256_set1_ps(d[i]), _mm256_cvtepi32_ps(sumi),
                                                    _mm256_loadu_ps(a + 8 * i)));
      }
    }
  }
  for (ptrdiff_t k = 0; k < n; k++)
    for (int i = 0; i < 8; i++) y[k * ldy + i] = hsum_ps(_mm256_loadu_ps(acc + 64 * k + 8 * i));
}

// q8_0 for n ≥ 2 activation rows, split into groups of at most 8 as even as can be: groups of
// 5 or more take the int16 kernel (weight rows in tiles of 32, every group meeting a tile while
// it is in the cache), smaller ones the sign-and-vpmaddubsw kernel.
static void dot_q8_0_multi_rows_avx2(const uint8_t *w, const uint8_t *xq, ptrdiff_t xstride,
                                     float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t stride,
                                     ptrdiff_t blocks, ptrdiff_t n) {
  const ptrdiff_t groups = (n + CK_GGML_GROUP - 1) / CK_GGML_GROUP;
  const ptrdiff_t size = (n + groups - 1) / groups;
  if (size < 5) {
    // Every activation row's scales over 8 lanes (see dot_q8_0_multi_avx2).
    float *xs = aligned_alloc(32, (size_t)(n * blocks * 8) * sizeof(float) + 32);
    if (!xs) abort();
    for (ptrdiff_t j = 0; j < n; j++) {
      const ck_block_q8_0 *x = (const ck_block_q8_0 *)(xq + j * xstride);
      for (ptrdiff_t b = 0; b < blocks; b++)
        _mm256_store_ps(xs + (j * blocks + b) * 8, _mm256_set1_ps(f16c(x[b].d)));
    }
    for (ptrdiff_t k = 0; k < n; k += size) {
      const ptrdiff_t m = n - k < size ? n - k : size;
#define CK_CALL(R)                                                                             \
  dot_q8_0_multi_avx2(w, xq + k * xstride, xstride, xs + k * blocks * 8, y + k * ldy, ldy,     \
                      rows, stride, blocks, R)
      CK_GROUP_SWITCH(CK_CALL)
#undef CK_CALL
    }
    free(xs);
    return;
  }
  __m256i *xw = aligned_alloc(32, (size_t)(groups * blocks) * 512);
  float *xs = aligned_alloc(32, (size_t)(groups * blocks * 8) * sizeof(float));
  float *dp = aligned_alloc(32, (size_t)(blocks * 8) * sizeof(float));
  // Each group's accumulators for a tile's rows between chunks of blocks.
  __m256 *partial = aligned_alloc(32, (size_t)(groups * 32 * CK_GGML_GROUP) * sizeof(__m256));
  if (!xw || !xs || !dp || !partial) abort();
  // The lanes of a group smaller than 8 stay 0.0 (garbage there could be subnormal, whose
  // products the CPU may take a slow path for).
  memset(xs, 0, (size_t)(groups * blocks * 8) * sizeof(float));
  for (ptrdiff_t k = 0; k < n; k++) {
    const ck_block_q8_0 *x = (const ck_block_q8_0 *)(xq + k * xstride);
    for (ptrdiff_t b = 0; b < blocks; b++) {
      __m256i *slot = xw + 16 * ((k / size) * blocks + b) + 2 * (k % size);
      widen_q8((const uint8_t *)x[b].qs, slot, slot + 1);
      xs[((k / size) * blocks + b) * 8 + k % size] = f16c(x[b].d);
    }
  }
  // Blocks in chunks of at most 32 (a group's widened chunk, 16 KiB, stays in the level-1 cache
  // while the tile's rows meet it); the accumulators carry over, so each lane's operations and
  // their order are those of one pass.
  const ptrdiff_t chunks = (blocks + 31) / 32;
  for (ptrdiff_t t = 0; t < rows; t += 32) {
    const ptrdiff_t count = rows - t < 32 ? rows - t : 32;
    for (ptrdiff_t c = 0; c < chunks; c++) {
      const ptrdiff_t b0 = blocks * c / chunks, b1 = blocks * (c + 1) / chunks;
      const int last = c == chunks - 1;
      for (ptrdiff_t k = 0; k < n; k += size) {
        const ptrdiff_t m = n - k < size ? n - k : size;
#define CK_CALL(R)                                                                             \
  dot_q8_0_wide_avx2(w + t * stride, xw + 16 * (k / size) * blocks,                            \
                     xs + (k / size) * blocks * 8, dp, partial + (k / size) * 32 * CK_GGML_GROUP, \
                     y + k * ldy + t, ldy, count, stride, b0, b1, last, R)
        CK_GROUP_SWITCH(CK_CALL)
#undef CK_CALL
      }
    }
  }
  free(partial);
  free(xw);
  free(xs);
  free(dp);
}

static void dot_rows_multi_avx2(ck_ggml_type type, const uint8_t *w, const uint8_t *xq,
                                ptrdiff_t xstride, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                                ptrdiff_t cols, ptrdiff_t n) {
  if (n == 1) {
    // One activation row (decoding one sequence): the one-row kernels, eight weight rows per
    // pass where the format has such a kernel.
    dot_rows_avx2(type, w, xq, y, rows, cols);
    return;
  }
  const ptrdiff_t stride = ck_ggml_row_bytes(type, cols);
  const ptrdiff_t blocks = cols / ck_ggml_block_size(type);
  if (type == CK_GGML_Q8_0) {
    dot_q8_0_multi_rows_avx2(w, xq, xstride, y, ldy, rows, stride, blocks, n);
    return;
  }
  ptrdiff_t done = 0;
  if (type == CK_GGML_Q4_K && rows >= 8) {
    float *acc = aligned_alloc(32, (size_t)(16 * n) * sizeof(float));
    if (!acc) abort();
    for (; done + 8 <= rows; done += 8)
      dot_q4_K_tile8_avx2(w + done * stride, xq, xstride, acc, y + done, ldy, stride, blocks, n);
    free(acc);
    if (done == rows) return;
  }
  if (type == CK_GGML_Q6_K && rows >= 8) {
    float *acc = aligned_alloc(32, (size_t)(64 * n) * sizeof(float));
    if (!acc) abort();
    for (; done + 8 <= rows; done += 8)
      dot_q6_K_tile8_avx2(w + done * stride, xq, xstride, acc, y + done, ldy, stride, blocks, n);
    free(acc);
    if (done == rows) return;
  }
  if (type == CK_GGML_Q4_0 && rows >= 8) {
    dot_q4_0_multi8_avx2(w, xq, xstride, y, ldy, rows, stride, blocks, n);
    done = rows / 8 * 8;
    if (done == rows) return;
  }
  // A group's activation scales as floats over 8 lanes (see dot_q8_0_multi_avx2).
  float *xs = NULL;
  if (type == CK_GGML_Q4_0) {
    xs = aligned_alloc(32, (size_t)(CK_GGML_GROUP * blocks * 8) * sizeof(float) + 32);
    if (!xs) abort();
  }
  for (ptrdiff_t k = 0; k < n; k += CK_GGML_GROUP) {
    const ptrdiff_t m = n - k < CK_GGML_GROUP ? n - k : CK_GGML_GROUP;
    const uint8_t *xk = xq + k * xstride;
    float *yk = y + k * ldy;
    if (type == CK_GGML_Q4_0) {
      for (ptrdiff_t j = 0; j < m; j++) {
        const ck_block_q8_0 *x = (const ck_block_q8_0 *)(xk + j * xstride);
        for (ptrdiff_t b = 0; b < blocks; b++)
          _mm256_store_ps(xs + (j * blocks + b) * 8, _mm256_set1_ps(f16c(x[b].d)));
      }
      // The rows after the last whole group of 8, one by one.
#define CK_CALL(R)                                                                             \
  dot_q4_0_multi_avx2(w + done * stride, xk, xstride, xs, yk + done, ldy, rows - done, stride,  \
                      blocks, R)
      CK_GROUP_SWITCH(CK_CALL)
#undef CK_CALL
    } else {
      // The other block types: a tile of weight rows stays in the cache while every activation
      // row of the group meets it through the one-row kernel.
      for (ptrdiff_t t = done; t < rows; t += 16) {
        const ptrdiff_t count = rows - t < 16 ? rows - t : 16;
        for (ptrdiff_t j = 0; j < m; j++)
          dot_rows_avx2(type, w + t * stride, xk + j * xstride, yk + j * ldy + t, count, cols);
      }
    }
  }
  free(xs);
}

#pragma clang attribute pop
#endif

void ck_ggml_dot_rows_for(ck_isa isa, ck_ggml_type type, const void *w, const void *xq, float *y,
                          ptrdiff_t rows, ptrdiff_t cols) {
  const ck_isa best = ck_detected_isa();
#ifdef CK_X86
  static int f16c = -1;
  if (__atomic_load_n(&f16c, __ATOMIC_RELAXED) < 0) {
    __builtin_cpu_init();
    __atomic_store_n(&f16c, __builtin_cpu_supports("f16c") ? 1 : 0, __ATOMIC_RELAXED);
  }
  if ((isa < best ? isa : best) >= CK_ISA_AVX2 && __atomic_load_n(&f16c, __ATOMIC_RELAXED)) {
    dot_rows_avx2(type, w, xq, y, rows, cols);
    return;
  }
#endif
  (void)best;
  dot_rows_portable(type, w, xq, y, rows, cols);
}

void ck_ggml_dot_rows(ck_ggml_type type, const void *w, const void *xq, float *y, ptrdiff_t rows,
                      ptrdiff_t cols) {
  ck_ggml_dot_rows_for(ck_active_isa(), type, w, xq, y, rows, cols);
}

// ---- Dequantization, value for value as ggml's dequantize_row_*. ----

void ck_ggml_dequantize_rows(ck_ggml_type type, const void *w, float *out, ptrdiff_t rows,
                             ptrdiff_t cols) {
  const uint8_t *bytes = w;
  const ptrdiff_t n = rows * cols;
  switch (type) {
  case CK_GGML_Q4_0:
    for (ptrdiff_t b = 0; b < n / QK; b++) {
      const uint8_t *block = bytes + 18 * b;
      const float d = half_at(block);
      for (int j = 0; j < 16; j++) {
        out[QK * b + j] = (float)((block[2 + j] & 0x0F) - 8) * d;
        out[QK * b + j + 16] = (float)((block[2 + j] >> 4) - 8) * d;
      }
    }
    break;
  case CK_GGML_Q4_1:
    for (ptrdiff_t b = 0; b < n / QK; b++) {
      const uint8_t *block = bytes + 20 * b;
      const float d = half_at(block), m = half_at(block + 2);
      for (int j = 0; j < 16; j++) {
        out[QK * b + j] = (float)(block[4 + j] & 0x0F) * d + m;
        out[QK * b + j + 16] = (float)(block[4 + j] >> 4) * d + m;
      }
    }
    break;
  case CK_GGML_Q5_0:
  case CK_GGML_Q5_1: {
    const int size = type == CK_GGML_Q5_0 ? 22 : 24, header = type == CK_GGML_Q5_0 ? 2 : 4;
    for (ptrdiff_t b = 0; b < n / QK; b++) {
      const uint8_t *block = bytes + size * b, *qs = block + header + 4;
      const float d = half_at(block);
      uint32_t qh;
      memcpy(&qh, block + header, 4);
      for (int j = 0; j < 16; j++) {
        const int x0 = (qs[j] & 0x0F) + fifth_bit(qh, j), x1 = (qs[j] >> 4) + fifth_bit(qh, j + 16);
        if (type == CK_GGML_Q5_0) {
          out[QK * b + j] = (float)(x0 - 16) * d;
          out[QK * b + j + 16] = (float)(x1 - 16) * d;
        } else {
          const float m = half_at(block + 2);
          out[QK * b + j] = (float)x0 * d + m;
          out[QK * b + j + 16] = (float)x1 * d + m;
        }
      }
    }
    break;
  }
  case CK_GGML_Q8_0:
    for (ptrdiff_t b = 0; b < n / QK; b++) {
      const uint8_t *block = bytes + 34 * b;
      const float d = half_at(block);
      for (int j = 0; j < QK; j++) out[QK * b + j] = (float)(int8_t)block[2 + j] * d;
    }
    break;
  case CK_GGML_Q4_K:
    for (ptrdiff_t b = 0; b < n / QK_K; b++) {
      const uint8_t *block = bytes + 144 * b;
      const float d = half_at(block), dmin = half_at(block + 2);
      const uint8_t *q = block + 16;
      float *y = out + QK_K * b;
      for (int j = 0; j < 4; j++) {
        int sc, m;
        scale_min_k4(2 * j, block + 4, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        scale_min_k4(2 * j + 1, block + 4, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[64 * j + l] = d1 * (float)(q[32 * j + l] & 0xF) - m1;
        for (int l = 0; l < 32; l++) y[64 * j + 32 + l] = d2 * (float)(q[32 * j + l] >> 4) - m2;
      }
    }
    break;
  case CK_GGML_Q5_K:
    for (ptrdiff_t b = 0; b < n / QK_K; b++) {
      const uint8_t *block = bytes + 176 * b;
      const float d = half_at(block), dmin = half_at(block + 2);
      const uint8_t *qh = block + 16, *q = block + 48;
      float *y = out + QK_K * b;
      for (int j = 0; j < 4; j++) {
        int sc, m;
        scale_min_k4(2 * j, block + 4, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        scale_min_k4(2 * j + 1, block + 4, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++)
          y[64 * j + l] = d1 * (float)((q[32 * j + l] & 0xF) + ((qh[l] >> (2 * j)) & 1) * 16) - m1;
        for (int l = 0; l < 32; l++)
          y[64 * j + 32 + l] =
              d2 * (float)((q[32 * j + l] >> 4) + ((qh[l] >> (2 * j + 1)) & 1) * 16) - m2;
      }
    }
    break;
  case CK_GGML_Q6_K:
    for (ptrdiff_t b = 0; b < n / QK_K; b++) {
      const uint8_t *block = bytes + 210 * b;
      const int8_t *scales = (const int8_t *)(block + 192);
      const float d = half_at(block + 208);
      float *y = out + QK_K * b;
      for (int c = 0; c < 2; c++) {
        const uint8_t *ql = block + 64 * c, *qh = block + 128 + 32 * c;
        const int8_t *sc = scales + 8 * c;
        for (int l = 0; l < 32; l++) {
          const int is = l / 16;
          const int8_t q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
          const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int8_t q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          y[128 * c + l] = d * (float)sc[is] * (float)q1;
          y[128 * c + l + 32] = d * (float)sc[is + 2] * (float)q2;
          y[128 * c + l + 64] = d * (float)sc[is + 4] * (float)q3;
          y[128 * c + l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
      }
    }
    break;
  }
}

// Whether every scale (d, and m / dmin where the format has one) is finite.
int ck_ggml_scales_are_finite(ck_ggml_type type, const void *w, ptrdiff_t blocks) {
  const uint8_t *bytes = w;
  for (ptrdiff_t b = 0; b < blocks; b++) {
    uint16_t first = 0, second = 0;
    switch (type) {
    case CK_GGML_Q4_0: memcpy(&first, bytes + 18 * b, 2); break;
    case CK_GGML_Q8_0: memcpy(&first, bytes + 34 * b, 2); break;
    case CK_GGML_Q5_0: memcpy(&first, bytes + 22 * b, 2); break;
    case CK_GGML_Q5_1:
      memcpy(&first, bytes + 24 * b, 2);
      memcpy(&second, bytes + 24 * b + 2, 2);
      break;
    case CK_GGML_Q4_1:
      memcpy(&first, bytes + 20 * b, 2);
      memcpy(&second, bytes + 20 * b + 2, 2);
      break;
    case CK_GGML_Q4_K:
      memcpy(&first, bytes + 144 * b, 2);
      memcpy(&second, bytes + 144 * b + 2, 2);
      break;
    case CK_GGML_Q5_K:
      memcpy(&first, bytes + 176 * b, 2);
      memcpy(&second, bytes + 176 * b + 2, 2);
      break;
    case CK_GGML_Q6_K: memcpy(&first, bytes + 210 * b + 208, 2); break;
    }
    if ((first & 0x7c00) == 0x7c00 || (second & 0x7c00) == 0x7c00) return 0;
  }
  return 1;
}

// Several activation rows: each row's results are those of `ck_ggml_dot_rows_for` on it alone.
void ck_ggml_dot_rows_multi_for(ck_isa isa, ck_ggml_type type, const void *w, const void *xq,
                                float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                                ptrdiff_t n) {
  const ptrdiff_t xstride = ck_ggml_activation_bytes(type, cols);
  const uint8_t *x = xq;
#ifdef CK_X86
  const ck_isa best = ck_detected_isa();
  __builtin_cpu_init();
  if ((isa < best ? isa : best) >= CK_ISA_AVX2 && __builtin_cpu_supports("f16c")) {
    dot_rows_multi_avx2(type, w, x, xstride, y, ldy, rows, cols, n);
    return;
  }
#endif
  // Portable: a tile of weight rows stays in the cache while every activation row meets it.
  const ptrdiff_t stride = ck_ggml_row_bytes(type, cols);
  for (ptrdiff_t t = 0; t < rows; t += 16) {
    const ptrdiff_t count = rows - t < 16 ? rows - t : 16;
    for (ptrdiff_t k = 0; k < n; k++)
      dot_rows_portable(type, (const uint8_t *)w + t * stride, x + k * xstride, y + k * ldy + t,
                        count, cols);
  }
}

void ck_ggml_dot_rows_multi(ck_ggml_type type, const void *w, const void *xq, float *y,
                            ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n) {
  ck_ggml_dot_rows_multi_for(ck_active_isa(), type, w, xq, y, ldy, rows, cols, n);
}
