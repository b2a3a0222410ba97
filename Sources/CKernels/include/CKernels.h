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
  /// One query head of attention as llama.cpp computes it over a half-precision key/value cache
  /// (ggml's x86 AVX2 arithmetic, whatever this set's): `q` rounded to half, `scores[j] =
  /// (q·k_j)·scale` summed as ggml sums a token's products or (`flags` bit 1) as tinyBLAS sums
  /// a prompt's, ggml's soft_max, then `out = Σ_j half(p_j)·v_j` in the same order. With `flags`
  /// bit 2, `q` and `k` hold each rotated pair as (i, i + head_dim/2) and q·k is summed in the
  /// order of the pairs side by side (element 2i + j is element j·head_dim/2 + i), as llama.cpp
  /// lays out a GGUF `llama` model's queries and keys. `k` and `v` hold values already rounded
  /// to half; `sums` is scratch of `32 · head_dim`.
  void (*attention_head_f16)(const float *q, const float *k, const float *v, ptrdiff_t stride,
                             ptrdiff_t length, ptrdiff_t head_dim, float scale, int flags,
                             float *scores, float *sums, float *out);
  /// Rounds `n` floats to the nearest half (ties to even) in place, as F16C converts.
  void (*half_round)(float *x, ptrdiff_t n);
  /// `rope_row` with llama.cpp's multiply-adds: `x₁' = fma(x₁, cos, −x₂·sin)`,
  /// `x₂' = fma(x₁, sin, x₂·cos)`.
  void (*rope_row_ggml)(float *x, const float *cos, const float *sin, ptrdiff_t heads,
                        ptrdiff_t head_dim);
  /// `h = g·σ(g)·u` as ggml's swiglu computes it: `g / (1 + e^(−g))` with ggml's e^x for each
  /// whole 8, libm's `expf` for the rest, times `u`.
  void (*swiglu_forward_ggml)(const float *g, const float *u, float *h, ptrdiff_t n);
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

/// `y[k·ldy + r] = Σ_i w[r·ldw + i]·x[k·ldx + i]` for `n` input rows `k`: each input row's
/// results are, bit for bit, those of `ck_f32_dot_rows` (without `accumulate`) on that row alone
/// (the same lanes and order of summation), whatever `n`; the matrix is read once per group of
/// input rows (3 with AVX2, 6 with AVX-512, 4 portable) instead of once per row.
void ck_f32_dot_rows_multi(const float *w, ptrdiff_t ldw, const float *x, ptrdiff_t ldx, float *y,
                           ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n);

/// `ck_f32_dot_rows_multi` on the kernels of `isa` (equal, row for row, to that set's
/// `f32_dot_rows`).
void ck_f32_dot_rows_multi_for(ck_isa isa, const float *w, ptrdiff_t ldw, const float *x,
                               ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                               ptrdiff_t cols, ptrdiff_t n);

/// `ck_q8_dot_rows` for `n` q8_0 input rows (`xq` `[n, cols]`, `xd` `[n, cols / 32]`) into
/// `y[k·ldy + r]`: each input row's results are, bit for bit, those of `ck_q8_dot_rows` on it
/// alone, whatever `n`; the matrix is read once per group of input rows.
void ck_q8_dot_rows_multi(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd,
                          float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n);

/// `ck_q8_dot_rows_multi` on the kernels of `isa` (equal, row for row, to that set's
/// `q8_dot_rows`).
void ck_q8_dot_rows_multi_for(ck_isa isa, const int8_t *wq, const float *wd, const int8_t *xq,
                              const float *xd, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                              ptrdiff_t cols, ptrdiff_t n);

/// ggml's block formats that the decoding kernels read as stored (`ggml_type` numbers).
typedef enum ck_ggml_type {
  /// Blocks of 32: f16 `d`, 16 bytes of nibbles; `x = (q − 8)·d`.
  CK_GGML_Q4_0 = 2,
  /// Blocks of 32: f16 `d` and `m`, 16 bytes of nibbles; `x = q·d + m`.
  CK_GGML_Q4_1 = 3,
  /// Blocks of 32: f16 `d`, 4 bytes of fifth bits, 16 bytes of nibbles; `x = (q − 16)·d`.
  CK_GGML_Q5_0 = 6,
  /// Blocks of 32: f16 `d` and `m`, 4 bytes of fifth bits, 16 bytes of nibbles; `x = q·d + m`.
  CK_GGML_Q5_1 = 7,
  /// Blocks of 32: f16 `d`, 32 `int8`; `x = q·d`.
  CK_GGML_Q8_0 = 8,
  /// Super-blocks of 256 (144 bytes): f16 `d`, `dmin`, 12 bytes of 6-bit scales and minimums,
  /// 128 bytes of nibbles.
  CK_GGML_Q4_K = 12,
  /// Super-blocks of 256 (176 bytes): q4_K's fields plus 32 bytes of fifth bits.
  CK_GGML_Q5_K = 13,
  /// Super-blocks of 256 (210 bytes): 128 bytes of low nibbles, 64 of high bit pairs, 16 `int8`
  /// scales, f16 `d`.
  CK_GGML_Q6_K = 14,
} ck_ggml_type;

/// Values per block of `type` (32, or 256 for the k-quants).
ptrdiff_t ck_ggml_block_size(ck_ggml_type type);

/// Bytes of a row of `cols` values (whole blocks) of `type`.
ptrdiff_t ck_ggml_row_bytes(ck_ggml_type type, ptrdiff_t cols);

/// Bytes of an activation row of `cols` values quantized for products with `type`.
ptrdiff_t ck_ggml_activation_bytes(ck_ggml_type type, ptrdiff_t cols);

/// Quantizes an activation row of `cols` values as ggml does for a product with `type`:
/// q8_0 (`quantize_row_q8_0_ref`) for q4_0, q5_0 and q8_0, q8_1 for q4_1 and q5_1, q8_K for the
/// k-quants.
/// `out` has `ck_ggml_activation_bytes(type, cols)` bytes.
void ck_ggml_quantize_activation(ck_ggml_type type, const float *x, ptrdiff_t cols, void *out);

/// The values the kernels see of an activation row: `x` quantized as
/// `ck_ggml_quantize_activation` does (into `scratch`, `ck_ggml_activation_bytes` bytes), then
/// each value `d·q` as a float into `out` (for products of many rows with `sgemm`).
void ck_ggml_round_trip_activation(ck_ggml_type type, const float *x, ptrdiff_t cols, void *scratch,
                                   float *out);

/// `y[r]` = the dot product of row `r` of the `type` matrix `w` (`rows` rows of `cols` values,
/// `ck_ggml_row_bytes` apart) with the quantized activation `xq`, as ggml's `ggml_vec_dot_*`:
/// integer block sums times the blocks' scales.
void ck_ggml_dot_rows(ck_ggml_type type, const void *w, const void *xq, float *y, ptrdiff_t rows,
                      ptrdiff_t cols);

/// `ck_ggml_dot_rows` on the kernels of `isa` (or the CPU's best set when `isa` is above it).
void ck_ggml_dot_rows_for(ck_isa isa, ck_ggml_type type, const void *w, const void *xq, float *y,
                          ptrdiff_t rows, ptrdiff_t cols);

/// `ck_ggml_dot_rows` for `n` quantized activation rows (`ck_ggml_activation_bytes` apart in
/// `xq`) into `y[k·ldy + r]`: each activation row's results are, bit for bit, those of
/// `ck_ggml_dot_rows` on it alone, whatever `n`. q8_0 weights are read once per group of up to
/// 8 activation rows (from a cached tile of 32 weight rows, in chunks of at most 32 blocks),
/// q4_0, q4_K and q6_K weights once per call (8 weight rows unpacked for every activation row);
/// the other types once per group of 8 from a cached tile of 16 weight rows.
void ck_ggml_dot_rows_multi(ck_ggml_type type, const void *w, const void *xq, float *y,
                            ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n);

/// `ck_ggml_dot_rows_multi` on the kernels of `isa` (equal, row for row, to
/// `ck_ggml_dot_rows_for(isa, …)`).
void ck_ggml_dot_rows_multi_for(ck_isa isa, ck_ggml_type type, const void *w, const void *xq,
                                float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                                ptrdiff_t n);

/// Dequantizes `rows` rows of `cols` values of `type` into `out`, value for value as ggml's
/// `dequantize_row_*`.
void ck_ggml_dequantize_rows(ck_ggml_type type, const void *w, float *out, ptrdiff_t rows,
                             ptrdiff_t cols);

/// 1 when every block scale (and minimum) of `blocks` blocks of `type` is finite, else 0.
int ck_ggml_scales_are_finite(ck_ggml_type type, const void *w, ptrdiff_t blocks);

/// IEEE half to float, exactly.
float ck_half_to_float(uint16_t h);

/// Float to IEEE half, rounded to nearest even (as F16C's `vcvtps2ph` with mode 0).
uint16_t ck_float_to_half(float f);

/// The int8 matrix-product kernels of `ck_q8_gemm` and `ck_ggml_gemm`.
typedef enum ck_gemm_variant {
  /// Portable C.
  CK_GEMM_PORTABLE = 0,
  /// AVX2: `vpmaddubsw` and `vpmaddwd` per block.
  CK_GEMM_AVX2 = 1,
  /// AVX-VNNI (VEX-encoded `vpdpbusd`, Alder Lake and later): 256-bit registers.
  CK_GEMM_AVX_VNNI = 2,
  /// AVX-512 VNNI (`vpdpbusd` on 256-bit registers, AVX-512 VL).
  CK_GEMM_VNNI = 3,
} ck_gemm_variant;

/// Whether this CPU runs `variant`.
int ck_gemm_variant_available(ck_gemm_variant variant);

/// The variant the int8 products use: the best one of `ck_active_isa()` (AVX-512 VNNI; else
/// AVX-VNNI where the CPU has it; else AVX2; else portable).
ck_gemm_variant ck_gemm_active_variant(void);

/// Bytes of one activation row of `cols` values prepared for the int8 products: `cols` int8
/// values, then `cols / 32` float block scales, then `cols / 32` float block sums.
ptrdiff_t ck_gemm_activation_bytes(ptrdiff_t cols);

/// Quantizes a row of `cols` values to q8_0 as `ck_q8_quantize` and writes it, prepared, to `out`
/// (`ck_gemm_activation_bytes(cols)` bytes).
void ck_q8_gemm_prepare_activation(const float *x, ptrdiff_t cols, void *out);

/// Int8 matrix product for many input rows (prefill): `y[k·ldy + r] = Σ_b wd[r, b] · xd[k, b] ·
/// Σ_i wq[r, 32b + i] · xq[k, 32b + i]` for the q8_0 matrix `[rows, cols]` of `ck_q8_dot_rows` and
/// `n` prepared activation rows (`ck_gemm_activation_bytes(cols)` apart in `x`). Each block's sum
/// is exact; the `float` additions run in tiles of rows, in another order than `ck_q8_dot_rows`.
void ck_q8_gemm(const int8_t *wq, const float *wd, const void *x, float *y, ptrdiff_t ldy,
                ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n);

/// `ck_q8_gemm` with the kernels of `variant` (which the CPU must run).
void ck_q8_gemm_for(ck_gemm_variant variant, const int8_t *wq, const float *wd, const void *x,
                    float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n);

/// `ck_q8_gemm`'s products summed in `double` from the exact integer block sums, with
/// `magnitude` receiving the sum of the magnitudes of the terms (for error bounds).
void ck_q8_gemm_reference(const int8_t *wq, const float *wd, const void *x, float *y,
                          float *magnitude, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                          ptrdiff_t n);

/// Quantizes an activation row as ggml does for `type` (`ck_ggml_quantize_activation`, into
/// `scratch` of `ck_ggml_activation_bytes` bytes) and writes it, prepared for `ck_ggml_gemm`, to
/// `out` (`ck_gemm_activation_bytes(cols)` bytes).
void ck_ggml_gemm_prepare_activation(ck_ggml_type type, const float *x, ptrdiff_t cols,
                                     void *scratch, void *out);

/// Bytes of the weight panel `ck_ggml_gemm` unpacks at a time.
ptrdiff_t ck_ggml_gemm_scratch_bytes(ck_ggml_type type, ptrdiff_t cols);

/// Int8 matrix product for many input rows: `y[k·ldy + r]` = row `r` of the `type` matrix `w`
/// times prepared activation row `k`, as `ck_ggml_dot_rows` defines it (exact integer block sums
/// times the blocks' scales, minus the minimum terms), the `float` additions in tiles of rows.
/// The weight is unpacked to int8 16 rows at a time.
void ck_ggml_gemm(ck_ggml_type type, const void *w, const void *x, float *y, ptrdiff_t ldy,
                  ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n);

/// `ck_ggml_gemm` with the kernels of `variant` (which the CPU must run).
void ck_ggml_gemm_for(ck_gemm_variant variant, ck_ggml_type type, const void *w, const void *x,
                      float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t n);

/// `ck_ggml_gemm`'s products summed in `double` from the exact integer block sums, with
/// `magnitude` receiving the sum of the magnitudes of the terms (for error bounds).
void ck_ggml_gemm_reference(ck_ggml_type type, const void *w, const void *x, float *y,
                            float *magnitude, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                            ptrdiff_t n);

#pragma clang assume_nonnull end

#ifdef __cplusplus
}
#endif
