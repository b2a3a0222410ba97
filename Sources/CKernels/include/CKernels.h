// CKernels: the kernels Swift cannot run at the CPU's full width without CPU flags. Swift code
// built without `-Xcc -mavx2` (as a package dependency is built) gets SSE2 only, and Swift's SIMD
// types do not reach AVX2's `vpmaddubsw` or AVX-512 VNNI's `vpdpbusd` at all. Each kernel is
// compiled for several instruction sets with `__attribute__((target))` (no global CPU flag), and
// the best one the CPU runs is chosen at run time (`__builtin_cpu_supports`), with portable C as
// the fallback, so the package needs no CPU flags.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Every pointer below is non-null (so Swift sees non-optional pointers).
#pragma clang assume_nonnull begin

/// The instruction sets the kernels are compiled for, weakest first.
typedef enum ck_isa {
  /// Portable C (SSE2 on x86-64).
  CK_ISA_PORTABLE = 0,
  /// AVX2 and FMA (Haswell, Zen 1–3).
  CK_ISA_AVX2 = 1,
  /// AVX-512 F, BW, DQ and VL (Skylake-SP, Zen 4/5).
  CK_ISA_AVX512 = 2,
  /// AVX-512 with VNNI for the int8 dot products (Cascade Lake, Ice Lake, Zen 4/5).
  CK_ISA_AVX512_VNNI = 3,
} ck_isa;

/// The best instruction set this CPU runs.
ck_isa ck_detected_isa(void);

/// The instruction set in use: the detected one, capped by `ck_set_isa_limit`.
ck_isa ck_active_isa(void);

/// Caps the instruction set of every later kernel call (process-wide; the detected set when the
/// limit is above it). `CK_ISA_PORTABLE` forces the portable code.
void ck_set_isa_limit(ck_isa limit);

/// Whether the CPU reports `feature` (a `__builtin_cpu_supports` name, e.g. "avx512f"); 0 for
/// names this build does not know.
int ck_cpu_supports(const char *feature);

/// The kernels of one instruction set. Rows are independent, so callers split them over threads.
/// Sums run in 16 `float` lanes within blocks of 256 elements and in `double` across blocks, the
/// same order on every path; the AVX2 and AVX-512 paths give the same bits, the portable path
/// (no fused multiply-add) differs by rounding.
typedef struct ck_kernels {
  /// The instruction set these kernels run on.
  ck_isa isa;
  /// `y[r] = Σ_i w[r·ldw + i]·x[i]` (plus the old `y[r]` when `accumulate` is non-zero).
  void (*f32_dot_rows)(const float *w, ptrdiff_t ldw, const float *x, float *y, ptrdiff_t rows,
                       ptrdiff_t cols, int accumulate);
  /// q8_0 matrix rows times a q8_0 vector, as `ck_q8_dot_rows`.
  void (*q8_dot_rows)(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd,
                      float *y, ptrdiff_t rows, ptrdiff_t cols);
  /// RMSNorm of `rows` rows of `dim`: `y = x·rstd·w`, `rstd = 1/sqrt(mean(x²) + eps)` saved.
  /// `y` may alias `x`.
  void (*rmsnorm_forward)(const float *x, const float *w, float *y, float *rstd, ptrdiff_t rows,
                          ptrdiff_t dim, float eps);
  /// RMSNorm backward of `rows` rows: `dx = s·dy·w − (s³/dim)·(Σ dy·w·x)·x` (overwritten, may
  /// alias `dy`), `dw += dy·x·s` per row in `float`.
  void (*rmsnorm_backward)(const float *dy, const float *x, const float *w, const float *rstd,
                           float *dx, float *dw, ptrdiff_t rows, ptrdiff_t dim);
  /// Stable softmax of one row (`y` may alias `x`).
  void (*softmax_row)(const float *x, float *y, ptrdiff_t n);
  /// `dx = scale·y·(dy − Σ dy·y)` for one row (`dx` may alias `dy`).
  void (*softmax_backward_row)(const float *dy, const float *y, float *dx, ptrdiff_t n,
                               float scale);
  /// `log Σ e^x` of one row in one pass (online maximum).
  double (*log_sum_exp)(const float *x, ptrdiff_t n);
  /// `y = x − shift` (`y` may alias `x`).
  void (*shift_row)(const float *x, float *y, ptrdiff_t n, float shift);
  /// Log-softmax backward of one row: `dx = dy − e^y·Σ dy` (`dx` may alias `dy`).
  void (*log_softmax_backward_row)(const float *dy, const float *y, float *dx, ptrdiff_t n);
  /// `out = e^(x − shift)·scale` for `x ≤ shift` (cross-entropy's gradient before the target).
  void (*exp_scaled_row)(const float *x, float *out, ptrdiff_t n, float shift, float scale);
  /// `h = g·σ(g)·u` (`h` may alias `g` or `u`).
  void (*swiglu_forward)(const float *g, const float *u, float *h, ptrdiff_t n);
  /// `du = dh·g·σ(g)`, `dg = dh·u·σ(g)·(1 + g·(1 − σ(g)))` (each output may alias one input).
  void (*swiglu_backward)(const float *dh, const float *g, const float *u, float *dg, float *du,
                          ptrdiff_t n);
  /// Rotates `heads` head vectors of `head_dim` in place (HF `rotate_half` pairs `(i, i + D/2)`)
  /// by the angles whose cosines and sines (`head_dim / 2` each) are given, times `sign` (±1).
  void (*rope_row)(float *x, const float *cos, const float *sin, ptrdiff_t heads,
                   ptrdiff_t head_dim, float sign);
  /// AdamW on `n` elements without fused multiply-add (so every path gives the same bits):
  /// `p ← p·decay` (when `decays`), `m ← b1·m + c1·g`, `v ← b2·v + c2·g·g`,
  /// `p ← p − step·m / (√v / correction2 + eps)`.
  void (*adamw)(float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1, float b2,
                float c1, float c2, float correction2, float eps, float step, float decay,
                int decays);
  /// `Σ a·b`, summed in the fixed order above.
  double (*dot)(const float *a, const float *b, ptrdiff_t n);
  /// One query head of decoding attention over `length` cached positions (rows `stride` floats
  /// apart): `scores[j] = (q·k_j)·scale`, softmax in place, `out = Σ_j scores[j]·v_j`.
  void (*attention_decode_head)(const float *q, const float *k, const float *v, ptrdiff_t stride,
                                ptrdiff_t length, ptrdiff_t head_dim, float scale, float *scores,
                                float *out);
} ck_kernels;

/// The kernels of `isa`, or of the best set this CPU runs when `isa` is above it.
const ck_kernels *ck_kernels_for(ck_isa isa);

/// The kernels of `ck_active_isa()`.
const ck_kernels *ck_active_kernels(void);

/// Runs `iterations` rounds of independent multiply-adds on the active instruction set's widest
/// registers (fused where the CPU has FMA) and returns the floating-point operations done: a
/// measure of one core's peak `float` throughput.
double ck_fma_peak_loop(long iterations);

/// Quantizes `n` floats (`n` a multiple of 32) to q8_0 as ggml's `quantize_row_q8_0_ref`:
/// per block of 32, `d = max|x| / 127`, `q = roundf(x / d)` (0 when `d` is 0).
/// `q` receives `n` bytes, `d` `n / 32` scales.
void ck_q8_quantize(const float *x, ptrdiff_t n, int8_t *q, float *d);

/// `y[r] = Σ_b wd[r, b] · xd[b] · Σ_i wq[r, 32b + i] · xq[32b + i]` for rows `r` of a q8_0
/// matrix `[rows, cols]` (quants row-major, `cols / 32` scales per row) and a q8_0 vector.
void ck_q8_dot_rows(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd,
                    float *y, ptrdiff_t rows, ptrdiff_t cols);

/// `y[r] = Σ_i w[r · ldw + i] · x[i]` (plus the old `y[r]` when `accumulate` is non-zero) for
/// `rows` rows of `cols` floats: a matrix-vector product that streams the matrix once.
void ck_f32_dot_rows(const float *w, ptrdiff_t ldw, const float *x, float *y, ptrdiff_t rows,
                     ptrdiff_t cols, int accumulate);

#pragma clang assume_nonnull end

#ifdef __cplusplus
}
#endif
