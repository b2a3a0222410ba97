// The element-wise and row kernels, written once over 16-lane vectors (clang's vector
// extensions) and compiled once per instruction set: each elementwise_*.c file defines
// CK_SUFFIX, CK_FMA and the target attribute, then includes this file. On AVX-512 a vector is
// one register, on AVX2 two, on SSE2 four; the lanes, and so every summation order, are the same
// on every path. Multiply-adds are fused only through CK_FMA, never by the compiler, so the AVX2
// and AVX-512 paths give the same bits.
//
// Not a public header: included only by the elementwise_*.c files.

#include <math.h>
#include <string.h>

#pragma clang fp contract(off)
// The helpers below pass 16-lane vectors by value; they are always inlined, so the calling
// convention the warning is about never applies.
#pragma clang diagnostic ignored "-Wpsabi"
#define CK_INLINE static inline __attribute__((always_inline))

#define CK_CAT2(a, b) a##b
#define CK_CAT(a, b) CK_CAT2(a, b)
#define CK_NAME(name) CK_CAT(name, CK_SUFFIX)

typedef float ck_vf __attribute__((vector_size(64)));
typedef int32_t ck_vi __attribute__((vector_size(64)));
typedef float ck_v8 __attribute__((vector_size(32)));

enum { LANES = 16, FLOAT_BLOCK = 256 };

CK_INLINE ck_vf splat(float x) { return (ck_vf){0} + x; }

CK_INLINE ck_vf load(const float *p) {
  ck_vf v;
  memcpy(&v, p, sizeof v);
  return v;
}

CK_INLINE void store(float *p, ck_vf v) { memcpy(p, &v, sizeof v); }

// The first n (< 16) floats at p, `fill` in the other lanes.
CK_INLINE ck_vf load_partial(const float *p, ptrdiff_t n, float fill) {
  float t[LANES];
  for (int i = 0; i < LANES; i++) t[i] = i < n ? p[i] : fill;
  return load(t);
}

CK_INLINE void store_partial(float *p, ck_vf v, ptrdiff_t n) {
  float t[LANES];
  store(t, v);
  memcpy(p, t, (size_t)n * sizeof(float));
}

// a where mask, else b.
CK_INLINE ck_vf pick(ck_vi mask, ck_vf a, ck_vf b) {
  return (ck_vf)(((ck_vi)a & mask) | ((ck_vi)b & ~mask));
}

// The lanes' sum in a fixed order: halves in float down to four, then double.
CK_INLINE double lane_sum(ck_vf v) {
  const ck_v8 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const ck_v8 hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const ck_v8 s = lo + hi;
  const float a = s[0] + s[4], b = s[1] + s[5], c = s[2] + s[6], d = s[3] + s[7];
  return ((double)a + (double)c) + ((double)b + (double)d);
}

// e^x, Cephes-style (as MiniTensor's `Kernels.exp`): x = n·ln2 + r, a degree-6 polynomial for
// e^r, 2^n from exponent bits (in two halves when `wide`, so n may reach 128).
CK_INLINE ck_vf exp_core(ck_vf x, int wide) {
  const float magic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  const ck_vf shifted = x * splat(1.44269504f) + splat(magic);
  const ck_vf nf = shifted - splat(magic);
  const ck_vi n = (ck_vi)shifted - (ck_vi)splat(magic);
  ck_vf r = CK_FMA(nf, splat(-0.693359375f), x);
  r = CK_FMA(nf, splat(2.1219444e-4f), r);
  ck_vf p = splat(1.98756915e-4f);
  p = CK_FMA(p, r, splat(1.3981999507e-3f));
  p = CK_FMA(p, r, splat(8.3334519073e-3f));
  p = CK_FMA(p, r, splat(4.1665795894e-2f));
  p = CK_FMA(p, r, splat(1.6666665459e-1f));
  p = CK_FMA(p, r, splat(5.0000001201e-1f));
  const ck_vf y = CK_FMA(p, r * r, r + splat(1.0f));
  if (!wide) return y * (ck_vf)((n + 127) << 23);
  const ck_vi half = n >> 1;
  const ck_vi rest = n - half;
  return y * (ck_vf)((half + 127) << 23) * (ck_vf)((rest + 127) << 23);
}

// e^x over the whole float range: +∞ above 88.72, 0 below −87.34, NaN stays NaN.
CK_INLINE ck_vf exp_any(ck_vf x) {
  const ck_vf y = pick(x > splat(88.722839f), splat(INFINITY), exp_core(x, 1));
  return pick(x < splat(-87.336548f), splat(0.0f), y);
}

// e^x for x ≤ 0 (shifted logits, log-probabilities).
CK_INLINE ck_vf exp_nonpositive(ck_vf x) {
  return pick(x < splat(-87.336548f), splat(0.0f), exp_core(x, 0));
}

CK_INLINE ck_vf sigmoid(ck_vf x) { return splat(1.0f) / (splat(1.0f) + exp_any(-x)); }

// Σ a·b: float lanes within blocks of FLOAT_BLOCK, double across blocks.
CK_INLINE double dot(const float *a, const float *b, ptrdiff_t n) {
  double total = 0;
  for (ptrdiff_t start = 0; start < n; start += FLOAT_BLOCK) {
    const ptrdiff_t end = start + FLOAT_BLOCK < n ? start + FLOAT_BLOCK : n;
    ck_vf acc0 = splat(0.0f), acc1 = splat(0.0f);
    ptrdiff_t i = start;
    for (; i + 2 * LANES <= end; i += 2 * LANES) {
      acc0 = CK_FMA(load(a + i), load(b + i), acc0);
      acc1 = CK_FMA(load(a + i + LANES), load(b + i + LANES), acc1);
    }
    if (i + LANES <= end) {
      acc0 = CK_FMA(load(a + i), load(b + i), acc0);
      i += LANES;
    }
    if (i < end)
      acc1 = CK_FMA(load_partial(a + i, end - i, 0), load_partial(b + i, end - i, 0), acc1);
    total += lane_sum(acc0 + acc1);
  }
  return total;
}

// Σ a·b·c, summed as `dot`.
CK_INLINE double dot3(const float *a, const float *b, const float *c, ptrdiff_t n) {
  double total = 0;
  for (ptrdiff_t start = 0; start < n; start += FLOAT_BLOCK) {
    const ptrdiff_t end = start + FLOAT_BLOCK < n ? start + FLOAT_BLOCK : n;
    ck_vf acc0 = splat(0.0f), acc1 = splat(0.0f);
    ptrdiff_t i = start;
    for (; i + 2 * LANES <= end; i += 2 * LANES) {
      acc0 = CK_FMA(load(a + i) * load(b + i), load(c + i), acc0);
      acc1 = CK_FMA(load(a + i + LANES) * load(b + i + LANES), load(c + i + LANES), acc1);
    }
    if (i + LANES <= end) {
      acc0 = CK_FMA(load(a + i) * load(b + i), load(c + i), acc0);
      i += LANES;
    }
    if (i < end) {
      const ptrdiff_t m = end - i;
      acc1 = CK_FMA(load_partial(a + i, m, 0) * load_partial(b + i, m, 0),
                    load_partial(c + i, m, 0), acc1);
    }
    total += lane_sum(acc0 + acc1);
  }
  return total;
}

// Σ p, summed as `dot`.
CK_INLINE double sum(const float *p, ptrdiff_t n) {
  double total = 0;
  for (ptrdiff_t start = 0; start < n; start += FLOAT_BLOCK) {
    const ptrdiff_t end = start + FLOAT_BLOCK < n ? start + FLOAT_BLOCK : n;
    ck_vf acc = splat(0.0f);
    ptrdiff_t i = start;
    for (; i + LANES <= end; i += LANES) acc += load(p + i);
    if (i < end) acc += load_partial(p + i, end - i, 0);
    total += lane_sum(acc);
  }
  return total;
}

// The largest of n (≥ 1) floats, ignoring NaNs.
CK_INLINE float max_element(const float *p, ptrdiff_t n) {
  ck_vf best = splat(-INFINITY);
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    const ck_vf v = load(p + i);
    best = pick(v > best, v, best);
  }
  if (i < n) {
    const ck_vf v = load_partial(p + i, n - i, -INFINITY);
    best = pick(v > best, v, best);
  }
  float result = best[0];
  for (int lane = 1; lane < LANES; lane++)
    if (best[lane] > result) result = best[lane];
  return result;
}

// Writes e^(x − shift) to `out` (when not NULL) and returns their sum, summed as `dot`.
CK_INLINE double exp_shifted_sum(const float *x, ptrdiff_t n, float shift, float *out) {
  const ck_vf s = splat(shift);
  double total = 0;
  for (ptrdiff_t start = 0; start < n; start += FLOAT_BLOCK) {
    const ptrdiff_t end = start + FLOAT_BLOCK < n ? start + FLOAT_BLOCK : n;
    ck_vf acc = splat(0.0f);
    ptrdiff_t i = start;
    for (; i + LANES <= end; i += LANES) {
      const ck_vf e = exp_nonpositive(load(x + i) - s);
      if (out) store(out + i, e);
      acc += e;
    }
    if (i < end) {
      const ck_vf e = exp_nonpositive(load_partial(x + i, end - i, -INFINITY) - s);
      if (out) store_partial(out + i, e, end - i);
      acc += e;
    }
    total += lane_sum(acc);
  }
  return total;
}

static double CK_NAME(log_sum_exp_)(const float *x, ptrdiff_t n) {
  float running_max = -INFINITY;
  double total = 0;
  for (ptrdiff_t start = 0; start < n; start += FLOAT_BLOCK) {
    const ptrdiff_t m = n - start < FLOAT_BLOCK ? n - start : FLOAT_BLOCK;
    const float block_max = max_element(x + start, m);
    if (block_max > running_max) {
      if (total > 0) total *= exp((double)running_max - (double)block_max);
      running_max = block_max;
    }
    if (running_max > -INFINITY) {
      total += exp_shifted_sum(x + start, m, running_max, NULL);
    } else {
      // Only −∞ and NaN so far: the maximum skips NaN, so look for it here.
      for (ptrdiff_t i = start; i < start + m; i++)
        if (isnan(x[i])) return NAN;
    }
  }
  return (double)running_max + log(total);
}

static void CK_NAME(softmax_row_)(const float *x, float *y, ptrdiff_t n) {
  const float m = max_element(x, n);
  const double total = exp_shifted_sum(x, n, m, y);
  const ck_vf factor = splat((float)(1 / total));
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES) store(y + i, load(y + i) * factor);
  if (i < n) store_partial(y + i, load_partial(y + i, n - i, 0) * factor, n - i);
}

static void CK_NAME(softmax_backward_row_)(const float *dy, const float *y, float *dx,
                                           ptrdiff_t n, float scale) {
  const ck_vf inner = splat((float)dot(dy, y, n));
  const ck_vf s = splat(scale);
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES) store(dx + i, load(y + i) * (load(dy + i) - inner) * s);
  if (i < n) {
    const ptrdiff_t m = n - i;
    store_partial(dx + i, load_partial(y + i, m, 0) * (load_partial(dy + i, m, 0) - inner) * s, m);
  }
}

static void CK_NAME(shift_row_)(const float *x, float *y, ptrdiff_t n, float shift) {
  const ck_vf s = splat(shift);
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES) store(y + i, load(x + i) - s);
  if (i < n) store_partial(y + i, load_partial(x + i, n - i, 0) - s, n - i);
}

static void CK_NAME(log_softmax_backward_row_)(const float *dy, const float *y, float *dx,
                                               ptrdiff_t n) {
  const ck_vf total = splat((float)sum(dy, n));
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES)
    store(dx + i, load(dy + i) - exp_nonpositive(load(y + i)) * total);
  if (i < n) {
    const ptrdiff_t m = n - i;
    store_partial(dx + i,
                  load_partial(dy + i, m, 0) - exp_nonpositive(load_partial(y + i, m, 0)) * total,
                  m);
  }
}

static void CK_NAME(exp_scaled_row_)(const float *x, float *out, ptrdiff_t n, float shift,
                                     float scale) {
  const ck_vf s = splat(shift), k = splat(scale);
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES) store(out + i, exp_nonpositive(load(x + i) - s) * k);
  if (i < n)
    store_partial(out + i, exp_nonpositive(load_partial(x + i, n - i, 0) - s) * k, n - i);
}

static void CK_NAME(rmsnorm_forward_)(const float *x, const float *w, float *y, float *rstd,
                                      ptrdiff_t rows, ptrdiff_t dim, float eps) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *xr = x + r * dim;
    float *yr = y + r * dim;
    // As ggml's rms_norm: each square rounded to float, summed in double; the mean rounded to
    // float, then 1/sqrtf(mean + eps) in float. The last bit of `s` matters: a quantized
    // model's activation is quantized next (q8_0), and a q4_0 embedding row scaled by `s` puts
    // many values exactly on the rounding ties of that quantization.
    double sums[4] = {0, 0, 0, 0};
    ptrdiff_t j = 0;
    for (; j + 4 <= dim; j += 4)
      for (int k = 0; k < 4; k++) {
        const float square = xr[j + k] * xr[j + k];
        sums[k] += (double)square;
      }
    for (; j < dim; j++) {
      const float square = xr[j] * xr[j];
      sums[0] += (double)square;
    }
    const float mean_square = (float)(((sums[0] + sums[1]) + (sums[2] + sums[3])) / (double)dim);
    const float s = 1.0f / sqrtf(mean_square + eps);
    rstd[r] = s;
    const ck_vf sv = splat(s);
    ptrdiff_t i = 0;
    for (; i + LANES <= dim; i += LANES) store(yr + i, load(xr + i) * sv * load(w + i));
    if (i < dim) {
      const ptrdiff_t m = dim - i;
      store_partial(yr + i, load_partial(xr + i, m, 0) * sv * load_partial(w + i, m, 0), m);
    }
  }
}

static void CK_NAME(rmsnorm_backward_)(const float *dy, const float *x, const float *w,
                                       const float *rstd, float *dx, float *dw, ptrdiff_t rows,
                                       ptrdiff_t dim) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *dyr = dy + r * dim;
    const float *xr = x + r * dim;
    float *dxr = dx + r * dim;
    const float s = rstd[r];
    const double gx = dot3(dyr, w, xr, dim);
    const float c = (float)((double)s * (double)s * (double)s * gx / (double)dim);
    const ck_vf sv = splat(s), cv = splat(-c);
    ptrdiff_t i = 0;
    for (; i + LANES <= dim; i += LANES) {
      const ck_vf d = load(dyr + i), xv = load(xr + i);
      store(dxr + i, CK_FMA(cv, xv, sv * d * load(w + i)));
      store(dw + i, CK_FMA(d * xv, sv, load(dw + i)));
    }
    if (i < dim) {
      const ptrdiff_t m = dim - i;
      const ck_vf d = load_partial(dyr + i, m, 0), xv = load_partial(xr + i, m, 0);
      store_partial(dxr + i, CK_FMA(cv, xv, sv * d * load_partial(w + i, m, 0)), m);
      store_partial(dw + i, CK_FMA(d * xv, sv, load_partial(dw + i, m, 0)), m);
    }
  }
}

static void CK_NAME(swiglu_forward_)(const float *g, const float *u, float *h, ptrdiff_t n) {
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    const ck_vf gv = load(g + i);
    store(h + i, gv * sigmoid(gv) * load(u + i));
  }
  if (i < n) {
    const ptrdiff_t m = n - i;
    const ck_vf gv = load_partial(g + i, m, 0);
    store_partial(h + i, gv * sigmoid(gv) * load_partial(u + i, m, 0), m);
  }
}

CK_INLINE void swiglu_gradients(ck_vf d, ck_vf g, ck_vf u, ck_vf *dg, ck_vf *du) {
  const ck_vf s = sigmoid(g);
  const ck_vf dsilu = s * (splat(1.0f) + g * (splat(1.0f) - s));
  *dg = d * u * dsilu;
  *du = d * (g * s);
}

static void CK_NAME(swiglu_backward_)(const float *dh, const float *g, const float *u, float *dg,
                                      float *du, ptrdiff_t n) {
  ptrdiff_t i = 0;
  ck_vf a, b;
  for (; i + LANES <= n; i += LANES) {
    swiglu_gradients(load(dh + i), load(g + i), load(u + i), &a, &b);
    store(dg + i, a);
    store(du + i, b);
  }
  if (i < n) {
    const ptrdiff_t m = n - i;
    swiglu_gradients(load_partial(dh + i, m, 0), load_partial(g + i, m, 0),
                     load_partial(u + i, m, 0), &a, &b);
    store_partial(dg + i, a, m);
    store_partial(du + i, b, m);
  }
}

CK_INLINE void rotate(float *x1, float *x2, ck_vf c, ck_vf s, ptrdiff_t m) {
  const ck_vf a = m == LANES ? load(x1) : load_partial(x1, m, 0);
  const ck_vf b = m == LANES ? load(x2) : load_partial(x2, m, 0);
  const ck_vf r1 = CK_FMA(-b, s, a * c);
  const ck_vf r2 = CK_FMA(a, s, b * c);
  if (m == LANES) {
    store(x1, r1);
    store(x2, r2);
  } else {
    store_partial(x1, r1, m);
    store_partial(x2, r2, m);
  }
}

static void CK_NAME(rope_row_)(float *x, const float *cos, const float *sin, ptrdiff_t heads,
                               ptrdiff_t head_dim, float sign) {
  const ptrdiff_t half = head_dim / 2;
  for (ptrdiff_t h = 0; h < heads; h++) {
    float *x1 = x + h * head_dim;
    float *x2 = x1 + half;
    ptrdiff_t i = 0;
    for (; i + LANES <= half; i += LANES)
      rotate(x1 + i, x2 + i, load(cos + i), load(sin + i) * splat(sign), LANES);
    if (i < half) {
      const ptrdiff_t m = half - i;
      rotate(x1 + i, x2 + i, load_partial(cos + i, m, 0),
             load_partial(sin + i, m, 0) * splat(sign), m);
    }
  }
}

CK_INLINE void adamw_lanes(float *p, const float *g, float *m, float *v, ptrdiff_t n,
                               ck_vf b1, ck_vf b2, ck_vf c1, ck_vf c2, ck_vf correction,
                               ck_vf eps, ck_vf step, ck_vf decay, int decays) {
  const int full = n == LANES;
  ck_vf pv = full ? load(p) : load_partial(p, n, 0);
  if (decays) pv = pv * decay;
  const ck_vf gv = full ? load(g) : load_partial(g, n, 0);
  const ck_vf mv = b1 * (full ? load(m) : load_partial(m, n, 0)) + c1 * gv;
  const ck_vf vv = b2 * (full ? load(v) : load_partial(v, n, 0)) + c2 * gv * gv;
  const ck_vf denominator = __builtin_elementwise_sqrt(vv) / correction + eps;
  const ck_vf updated = pv - step * (mv / denominator);
  if (full) {
    store(m, mv);
    store(v, vv);
    store(p, updated);
  } else {
    store_partial(m, mv, n);
    store_partial(v, vv, n);
    store_partial(p, updated, n);
  }
}

static void CK_NAME(adamw_)(float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1,
                            float b2, float c1, float c2, float correction2, float eps,
                            float step, float decay, int decays) {
  const ck_vf b1v = splat(b1), b2v = splat(b2), c1v = splat(c1), c2v = splat(c2);
  const ck_vf cv = splat(correction2), ev = splat(eps), sv = splat(step), dv = splat(decay);
  ptrdiff_t i = 0;
  for (; i + LANES <= n; i += LANES)
    adamw_lanes(p + i, g + i, m + i, v + i, LANES, b1v, b2v, c1v, c2v, cv, ev, sv, dv, decays);
  if (i < n)
    adamw_lanes(p + i, g + i, m + i, v + i, n - i, b1v, b2v, c1v, c2v, cv, ev, sv, dv, decays);
}

static double CK_NAME(dot_)(const float *a, const float *b, ptrdiff_t n) { return dot(a, b, n); }

static void CK_NAME(attention_decode_head_)(const float *q, const float *k, const float *v,
                                            ptrdiff_t stride, ptrdiff_t length,
                                            ptrdiff_t head_dim, float scale, float *scores,
                                            float *out) {
  for (ptrdiff_t j = 0; j < length; j++)
    scores[j] = (float)dot(q, k + j * stride, head_dim) * scale;
  CK_NAME(softmax_row_)(scores, scores, length);
  memset(out, 0, (size_t)head_dim * sizeof(float));
  for (ptrdiff_t j = 0; j < length; j++) {
    const ck_vf a = splat(scores[j]);
    const float *vj = v + j * stride;
    ptrdiff_t i = 0;
    for (; i + LANES <= head_dim; i += LANES)
      store(out + i, CK_FMA(a, load(vj + i), load(out + i)));
    if (i < head_dim) {
      const ptrdiff_t m = head_dim - i;
      const ck_vf acc = CK_FMA(a, load_partial(vj + i, m, 0), load_partial(out + i, m, 0));
      store_partial(out + i, acc, m);
    }
  }
}

// ---- llama.cpp's arithmetic ----
// The operations below compute what ggml's CPU backend computes in llama.cpp's default
// configuration (keys and values cached in half precision, no flash attention), operation for
// operation and rounding for rounding, as its x86 AVX2 build sums: every multiply-add is fused
// (ggml's are, and its f16 products are exact in float anyway) and the 8-lane partial sums are
// reduced in its order. They do not depend on this file's instruction set.


CK_INLINE ck_v8 load8(const float *p) {
  ck_v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

CK_INLINE float fma_exact(float a, float b, float c) { return __builtin_fmaf(a, b, c); }

CK_INLINE uint32_t float_bits(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}

CK_INLINE float bits_float(uint32_t b) {
  float x;
  memcpy(&x, &b, sizeof x);
  return x;
}

// x rounded to the nearest IEEE half (ties to even) and back: F16C's vcvtps2ph with rounding
// mode 0, subnormals kept, overflow to infinity.
CK_INLINE float half_round(float x) {
  const uint32_t bits = float_bits(x);
  const uint32_t sign = bits & 0x80000000u, magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return x;  // NaN
  if (magnitude >= 0x47800000u) return bits_float(sign | 0x7f800000u);  // ≥ 65536
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): a multiple of 2^-24, the spacing of halves there,
    // which adding and removing 0.5 rounds to (its float ulp is 2^-24).
    const float rounded = (bits_float(magnitude) + 0.5f) - 0.5f;
    return bits_float(sign | float_bits(rounded));
  }
  uint32_t r = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
  r &= ~0x1fffu;
  if (r >= 0x47800000u) r = 0x7f800000u;
  return bits_float(sign | r);
}


// e^x as ggml_v_expf (AVX2) computes each lane: x = n·ln2 + b with n = round(x·log2 e), a
// polynomial in b, 2^n from exponent bits; |n| > 126 scaled in two factors, |n| > 192 to 0 or ∞.
CK_INLINE float ggml_expf(float x) {
  const float r = 0x1.8p23f;
  const float z = fma_exact(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = fma_exact(-n, 0x1.7f7d1cp-20f, fma_exact(-n, 0x1.62e4p-1f, x));
  const uint32_t e = float_bits(z) << 23;
  const float k = bits_float(e + float_bits(1.0f));
  const float u = b * b;
  const float j = fma_exact(
      fma_exact(fma_exact(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                fma_exact(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
      u, 0x1.ffffecp-1f * b);
  const float size = fabsf(n);
  if (!(size > 126.0f)) return fma_exact(k, j, k);
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = bits_float(g + 0x7f000000u);
  const float s2 = bits_float(e - g);
  if (size > 192.0f) return s1 * s1;
  return fma_exact(s2, j, s2) * s1;
}

// The sum of 8 lanes as tinyBLAS's and soft_max's horizontal adds take it:
// (l0 + l4) + (l2 + l6), plus (l1 + l5) + (l3 + l7).
CK_INLINE float hsum_pairs(ck_v8 v) {
  const float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
  return (a0 + a2) + (a1 + a3);
}

typedef uint32_t ck_u8 __attribute__((vector_size(32)));
typedef int32_t ck_i8 __attribute__((vector_size(32)));

CK_INLINE ck_v8 splat8(float x) { return (ck_v8){0} + x; }

CK_INLINE ck_v8 fma8(ck_v8 a, ck_v8 b, ck_v8 c) { return __builtin_elementwise_fma(a, b, c); }

// a where the lanes of `mask` are all ones, else b.
CK_INLINE ck_u8 select8(ck_i8 mask, ck_u8 a, ck_u8 b) {
  return (a & (ck_u8)mask) | (b & ~(ck_u8)mask);
}

// `half_round` on 8 lanes.
CK_INLINE ck_v8 half_round8(ck_v8 x) {
  const ck_u8 bits = (ck_u8)x;
  const ck_u8 sign = bits & 0x80000000u, magnitude = bits & 0x7fffffffu;
  ck_u8 r = (magnitude + 0xfffu + ((magnitude >> 13) & 1u)) & ~0x1fffu;
  const ck_u8 infinity = (ck_u8){0} + 0x7f800000u;
  r = select8((ck_i8)(r >= 0x47800000u), infinity, r);
  const ck_v8 small = ((ck_v8)magnitude + splat8(0.5f)) - splat8(0.5f);
  r = select8((ck_i8)(magnitude < 0x38800000u), (ck_u8)small, r);
  r = select8((ck_i8)(magnitude >= 0x47800000u), infinity, r);
  r = select8((ck_i8)(magnitude > 0x7f800000u), magnitude, r);
  return (ck_v8)(sign | r);
}

// `ggml_expf` on 8 lanes, each lane the same bits.
CK_INLINE ck_v8 ggml_expf8(ck_v8 x) {
  const ck_v8 r = splat8(0x1.8p23f);
  const ck_v8 z = fma8(x, splat8(0x1.715476p+0f), r);
  const ck_v8 n = z - r;
  const ck_v8 b = fma8(-n, splat8(0x1.7f7d1cp-20f), fma8(-n, splat8(0x1.62e4p-1f), x));
  const ck_u8 e = (ck_u8)z << 23;
  const ck_v8 k = (ck_v8)(e + (ck_u8)splat8(1.0f));
  const ck_v8 u = b * b;
  const ck_v8 j = fma8(fma8(fma8(splat8(0x1.0e4020p-7f), b, splat8(0x1.573e2ep-5f)), u,
                            fma8(splat8(0x1.555e66p-3f), b, splat8(0x1.fffdb6p-2f))),
                       u, splat8(0x1.ffffecp-1f) * b);
  const ck_v8 fast = fma8(k, j, k);
  const ck_v8 size = __builtin_elementwise_abs(n);
  const ck_i8 scaled = size > splat8(126.0f);
  int any = 0;
  for (int l = 0; l < 8; l++) any |= scaled[l];
  if (!any) return fast;
  const ck_u8 g = (ck_u8)(n <= splat8(0.0f)) & 0x82000000u;
  const ck_v8 s1 = (ck_v8)(g + 0x7f000000u);
  const ck_v8 s2 = (ck_v8)(e - g);
  ck_u8 special = (ck_u8)(fma8(s2, j, s2) * s1);
  special = select8(size > splat8(192.0f), (ck_u8)(s1 * s1), special);
  return (ck_v8)select8(scaled, special, (ck_u8)fast);
}

static void CK_NAME(half_round_)(float *x, ptrdiff_t n) {
  ptrdiff_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const ck_v8 v = half_round8(load8(x + i));
    memcpy(x + i, &v, sizeof v);
  }
  for (; i < n; i++) x[i] = half_round(x[i]);
}

// Elements 8c…8c+7 of x in llama.cpp's interleaved layout of rotated pairs, x holding each
// pair as (i, half + i): x[4c], x[half+4c], x[4c+1], x[half+4c+1], …
CK_INLINE ck_v8 load8_pairs(const float *x, ptrdiff_t half, ptrdiff_t c) {
  typedef float ck_v4 __attribute__((vector_size(16)));
  ck_v4 lo, hi;
  memcpy(&lo, x + 4 * c, sizeof lo);
  memcpy(&hi, x + half + 4 * c, sizeof hi);
  return __builtin_shufflevector(lo, hi, 0, 4, 1, 5, 2, 6, 3, 7);
}

// Elements 8c…8c+7 of x, in its own order or (`pairs`) in llama.cpp's interleaved one.
CK_INLINE ck_v8 load8_at(const float *x, ptrdiff_t c, ptrdiff_t n, int pairs) {
  return pairs ? load8_pairs(x, n / 2, c) : load8(x + 8 * c);
}

// Σ x·y as ggml_vec_dot_f16 (AVX2) sums it, a token's products: element i into accumulator
// (i / 8) mod 4, lane i mod 8, 32 at a time; accumulators (0 + 2) + (1 + 3), lanes
// (l + l+4), then ((0 + 1) + (2 + 3)); the last n mod 32 products added in double. With
// `pairs`, element i is the i-th of llama.cpp's interleaved layout (`load8_pairs`).
CK_INLINE float dot_ggml(const float *x, const float *y, ptrdiff_t n, int pairs) {
  ck_v8 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
  const ptrdiff_t whole = n & ~(ptrdiff_t)31;
  for (ptrdiff_t c = 0; c < whole / 8; c += 4) {
    acc0 = __builtin_elementwise_fma(load8_at(x, c, n, pairs), load8_at(y, c, n, pairs), acc0);
    acc1 = __builtin_elementwise_fma(load8_at(x, c + 1, n, pairs), load8_at(y, c + 1, n, pairs),
                                     acc1);
    acc2 = __builtin_elementwise_fma(load8_at(x, c + 2, n, pairs), load8_at(y, c + 2, n, pairs),
                                     acc2);
    acc3 = __builtin_elementwise_fma(load8_at(x, c + 3, n, pairs), load8_at(y, c + 3, n, pairs),
                                     acc3);
  }
  const ck_v8 s = (acc0 + acc2) + (acc1 + acc3);
  const float t0 = s[0] + s[4], t1 = s[1] + s[5], t2 = s[2] + s[6], t3 = s[3] + s[7];
  double sum = (double)((t0 + t1) + (t2 + t3));
  for (ptrdiff_t i = whole; i < n; i++) {
    const ptrdiff_t e = pairs ? (i & 1) * (n / 2) + (i >> 1) : i;
    sum += (double)(x[e] * y[e]);
  }
  return (float)sum;
}

// Σ x·y as tinyBLAS (llama.cpp's products of several tokens) sums it: one 8-lane accumulator,
// then `hsum_pairs`. n is a multiple of 8; `pairs` as in `dot_ggml`.
CK_INLINE float dot_tinyblas(const float *x, const float *y, ptrdiff_t n, int pairs) {
  ck_v8 acc = {0};
  for (ptrdiff_t c = 0; c < n / 8; c++)
    acc = __builtin_elementwise_fma(load8_at(x, c, n, pairs), load8_at(y, c, n, pairs), acc);
  return hsum_pairs(acc);
}

// ggml's soft_max of w[0..<n] in place: the maximum, `ggml_expf` of w − max 8 at a time from
// the start (lanes past n are 0), each 8's sum by `hsum_pairs` added in double, then every value
// times the float of 1/sum.
CK_INLINE void softmax_ggml(float *w, ptrdiff_t n) {
  float largest = -INFINITY;
  for (ptrdiff_t j = 0; j < n; j++) largest = largest > w[j] ? largest : w[j];
  double sum = 0;
  ptrdiff_t j0 = 0;
  for (; j0 + 8 <= n; j0 += 8) {
    const ck_v8 v = ggml_expf8(load8(w + j0) - splat8(largest));
    memcpy(w + j0, &v, sizeof v);
    sum += (double)hsum_pairs(v);
  }
  if (j0 < n) {
    ck_v8 v = {0};
    for (ptrdiff_t l = 0; j0 + l < n; l++) v[l] = w[j0 + l] - largest;
    v = ggml_expf8(v);
    for (ptrdiff_t l = 0; l < 8; l++) {
      if (j0 + l < n) w[j0 + l] = v[l];
      else v[l] = 0;
    }
    sum += (double)hsum_pairs(v);
  }
  const float inverse = (float)(1.0 / sum);
  for (ptrdiff_t j = 0; j < n; j++) w[j] *= inverse;
}

// Lane p of t[l]: lane l of v[p] (an 8×8 transpose).
CK_INLINE void transpose8(const ck_v8 v[8], ck_v8 t[8]) {
  ck_v8 a[8], b[8];
  for (int i = 0; i < 8; i += 2) {
    a[i] = __builtin_shufflevector(v[i], v[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    a[i + 1] = __builtin_shufflevector(v[i], v[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    b[i] = __builtin_shufflevector(a[i], a[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    b[i + 1] = __builtin_shufflevector(a[i], a[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    b[i + 2] = __builtin_shufflevector(a[i + 1], a[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    b[i + 3] = __builtin_shufflevector(a[i + 1], a[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int l = 0; l < 4; l++) {
    t[l] = __builtin_shufflevector(b[l], b[l + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    t[l + 4] = __builtin_shufflevector(b[l], b[l + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// The scores of 8 positions (keys `stride` apart) against `query` (already in the element order
// of `pairs`), each summed exactly as dot_ggml (`tiny`: dot_tinyblas) sums it, n a multiple of
// 32 (`tiny`: of 8): the per-position vectors are formed as there, and their horizontal sums
// taken lane-wise after a transpose (the same additions for every position).
CK_INLINE ck_v8 scores8(const float *key, ptrdiff_t stride, const float *query, ptrdiff_t n,
                        int pairs, int tiny) {
  ck_v8 s[8], t[8];
  for (int p = 0; p < 8; p++) {
    const float *x = key + p * stride;
    if (tiny) {
      ck_v8 acc = {0};
      for (ptrdiff_t c = 0; c < n / 8; c++)
        acc = __builtin_elementwise_fma(load8_at(x, c, n, pairs), load8(query + 8 * c), acc);
      s[p] = acc;
    } else {
      ck_v8 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
      for (ptrdiff_t c = 0; c < n / 8; c += 4) {
        acc0 = __builtin_elementwise_fma(load8_at(x, c, n, pairs), load8(query + 8 * c), acc0);
        acc1 = __builtin_elementwise_fma(load8_at(x, c + 1, n, pairs), load8(query + 8 * c + 8),
                                         acc1);
        acc2 = __builtin_elementwise_fma(load8_at(x, c + 2, n, pairs),
                                         load8(query + 8 * c + 16), acc2);
        acc3 = __builtin_elementwise_fma(load8_at(x, c + 3, n, pairs),
                                         load8(query + 8 * c + 24), acc3);
      }
      s[p] = (acc0 + acc2) + (acc1 + acc3);
    }
  }
  transpose8(s, t);
  if (tiny) {
    // hsum_pairs: (a0 + a2) + (a1 + a3), a_l = v[l] + v[l + 4].
    return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
  }
  // dot_ggml: (t0 + t1) + (t2 + t3), t_l = s[l] + s[l + 4].
  return ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
}

static void CK_NAME(attention_head_f16_)(const float *q, const float *k, const float *v,
                                         ptrdiff_t stride, ptrdiff_t length, ptrdiff_t head_dim,
                                         float scale, int flags, float *scores, float *sums,
                                         float *out) {
  const int prompt = flags & 1, pairs = (flags & 2) != 0;
  float query[head_dim];
  memcpy(query, q, (size_t)head_dim * sizeof(float));
  CK_NAME(half_round_)(query, head_dim);
  const int tiny_scores = prompt && head_dim % 8 == 0;
  ptrdiff_t j = 0;
  if (head_dim % (tiny_scores ? 8 : 32) == 0) {
    // The query once in the element order of the sums, then 8 positions at a time.
    float ordered[head_dim];
    for (ptrdiff_t c = 0; c < head_dim / 8; c++) {
      const ck_v8 e = load8_at(query, c, head_dim, pairs);
      memcpy(ordered + 8 * c, &e, sizeof e);
    }
    for (; j + 8 <= length; j += 8) {
      // The next 8 keys (each a row of the cache, `stride` apart: not a stream the hardware
      // prefetcher follows within one head).
      for (ptrdiff_t p = 8; p < 16 && j + p < length; p++)
        for (ptrdiff_t e = 0; e < head_dim; e += 16)
          __builtin_prefetch(k + (j + p) * stride + e);
      const ck_v8 dots =
          scores8(k + j * stride, stride, ordered, head_dim, pairs, tiny_scores) * splat8(scale);
      memcpy(scores + j, &dots, sizeof dots);
    }
  }
  for (; j < length; j++) {
    const float *key = k + j * stride;
    scores[j] = (tiny_scores ? dot_tinyblas(key, query, head_dim, pairs)
                             : dot_ggml(key, query, head_dim, pairs)) * scale;
  }
  softmax_ggml(scores, length);
  CK_NAME(half_round_)(scores, length);
  // Σ_j p_j·v_j with p_j in half precision: position j into partial sum j mod 8 (tinyBLAS) or
  // j mod 32 (ggml_vec_dot_f16's accumulator (j / 8) mod 4, lane j mod 8).
  const ptrdiff_t partials = prompt ? 8 : 32;
  memset(sums, 0, (size_t)(partials * head_dim) * sizeof(float));
  for (ptrdiff_t j = 0; j < length; j++) {
    const ck_vf p = splat(scores[j]);
    const float *value = v + j * stride;
    if (j + 4 < length)
      for (ptrdiff_t e = 0; e < head_dim; e += 16) __builtin_prefetch(value + 4 * stride + e);
    float *sum = sums + (j % partials) * head_dim;
    ptrdiff_t d = 0;
    for (; d + LANES <= head_dim; d += LANES)
      store(sum + d, __builtin_elementwise_fma(p, load(value + d), load(sum + d)));
    for (; d < head_dim; d++) sum[d] = fma_exact(p[0], value[d], sum[d]);
  }
  // The partial sums' reduction, 8 dimensions at a time (the same additions lane by lane).
  ptrdiff_t d = 0;
  for (; d + 8 <= head_dim; d += 8) {
    const float *s = sums + d;
    const ptrdiff_t D = head_dim;
    ck_v8 r;
    if (prompt) {
      const ck_v8 a0 = load8(s) + load8(s + 4 * D), a1 = load8(s + D) + load8(s + 5 * D),
                  a2 = load8(s + 2 * D) + load8(s + 6 * D), a3 = load8(s + 3 * D) + load8(s + 7 * D);
      r = (a0 + a2) + (a1 + a3);
    } else {
      ck_v8 t[8];
      for (int l = 0; l < 8; l++)
        t[l] = (load8(s + l * D) + load8(s + (16 + l) * D)) +
               (load8(s + (8 + l) * D) + load8(s + (24 + l) * D));
      const ck_v8 t0 = t[0] + t[4], t1 = t[1] + t[5], t2 = t[2] + t[6], t3 = t[3] + t[7];
      r = (t0 + t1) + (t2 + t3);
    }
    memcpy(out + d, &r, sizeof r);
  }
  for (; d < head_dim; d++) {
    const float *s = sums + d;
    const ptrdiff_t D = head_dim;
    if (prompt) {
      const float a0 = s[0] + s[4 * D], a1 = s[D] + s[5 * D], a2 = s[2 * D] + s[6 * D],
                  a3 = s[3 * D] + s[7 * D];
      out[d] = (a0 + a2) + (a1 + a3);
    } else {
      float t[8];
      for (int l = 0; l < 8; l++)
        t[l] = (s[l * D] + s[(16 + l) * D]) + (s[(8 + l) * D] + s[(24 + l) * D]);
      const float t0 = t[0] + t[4], t1 = t[1] + t[5], t2 = t[2] + t[6], t3 = t[3] + t[7];
      out[d] = (t0 + t1) + (t2 + t3);
    }
  }
}

static void CK_NAME(rope_row_ggml_)(float *x, const float *cos, const float *sin, ptrdiff_t heads,
                                    ptrdiff_t head_dim) {
  const ptrdiff_t half = head_dim / 2;
  for (ptrdiff_t h = 0; h < heads; h++) {
    float *x1 = x + h * head_dim;
    float *x2 = x1 + half;
    for (ptrdiff_t i = 0; i < half; i++) {
      const float a = x1[i], b = x2[i];
      x1[i] = fma_exact(a, cos[i], -(b * sin[i]));
      x2[i] = fma_exact(a, sin[i], b * cos[i]);
    }
  }
}

static void CK_NAME(swiglu_forward_ggml_)(const float *g, const float *u, float *h, ptrdiff_t n) {
  ptrdiff_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const ck_v8 x = load8(g + i);
    const ck_v8 y = (x / (splat8(1.0f) + ggml_expf8(splat8(0.0f) - x))) * load8(u + i);
    memcpy(h + i, &y, sizeof y);
  }
  for (; i < n; i++) h[i] = (g[i] / (1.0f + expf(-g[i]))) * u[i];
}

// The table entries of this instruction set, minus the matrix-vector products (f32.c, q8.c).
#define CK_ELEMENTWISE_ENTRIES                                                          \
  .rmsnorm_forward = CK_NAME(rmsnorm_forward_), .rmsnorm_backward = CK_NAME(rmsnorm_backward_), \
  .softmax_row = CK_NAME(softmax_row_),                                                  \
  .softmax_backward_row = CK_NAME(softmax_backward_row_),                                \
  .log_sum_exp = CK_NAME(log_sum_exp_), .shift_row = CK_NAME(shift_row_),                \
  .log_softmax_backward_row = CK_NAME(log_softmax_backward_row_),                        \
  .exp_scaled_row = CK_NAME(exp_scaled_row_), .swiglu_forward = CK_NAME(swiglu_forward_), \
  .swiglu_backward = CK_NAME(swiglu_backward_), .rope_row = CK_NAME(rope_row_),          \
  .adamw = CK_NAME(adamw_), .dot = CK_NAME(dot_),                                        \
  .attention_decode_head = CK_NAME(attention_decode_head_),                              \
  .attention_head_f16 = CK_NAME(attention_head_f16_), .half_round = CK_NAME(half_round_),  \
  .rope_row_ggml = CK_NAME(rope_row_ggml_), .swiglu_forward_ggml = CK_NAME(swiglu_forward_ggml_)
