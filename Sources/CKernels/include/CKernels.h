// CKernels: the few kernels Swift cannot express at full speed without CPU flags. Integer dot
// products of q8_0 blocks need AVX2's `vpmaddubsw`, which Swift's SIMD types do not reach, and
// the decoding matrix-vector products must run at memory speed in any build. The functions pick
// the AVX2 path at run time (`__builtin_cpu_supports`) and fall back to portable C, so the
// package needs no CPU flags.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
