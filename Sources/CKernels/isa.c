// Which kernels run: the best instruction set the CPU reports, capped by a process-wide limit
// (set by tests and benchmarks to compare the paths).
#include <string.h>

#include "dispatch.h"

static ck_isa detect(void) {
#ifdef CK_X86
  __builtin_cpu_init();
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return CK_ISA_PORTABLE;
  if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")))
    return CK_ISA_AVX2;
  return __builtin_cpu_supports("avx512vnni") ? CK_ISA_AVX512_VNNI : CK_ISA_AVX512;
#else
  return CK_ISA_PORTABLE;
#endif
}

// -1 until the first call; detection is idempotent, so racing first calls agree.
static int detected = -1;
// The cap set by ck_set_isa_limit (none by default).
static int limit = CK_ISA_AVX512_VNNI;

ck_isa ck_detected_isa(void) {
  int value = __atomic_load_n(&detected, __ATOMIC_RELAXED);
  if (value < 0) {
    value = (int)detect();
    __atomic_store_n(&detected, value, __ATOMIC_RELAXED);
  }
  return (ck_isa)value;
}

ck_isa ck_active_isa(void) {
  const int cap = __atomic_load_n(&limit, __ATOMIC_RELAXED);
  const int best = (int)ck_detected_isa();
  return (ck_isa)(best < cap ? best : cap);
}

void ck_set_isa_limit(ck_isa value) { __atomic_store_n(&limit, (int)value, __ATOMIC_RELAXED); }

int ck_cpu_supports(const char *feature) {
#ifdef CK_X86
  __builtin_cpu_init();
#define CK_FEATURE(name) \
  if (strcmp(feature, name) == 0) return __builtin_cpu_supports(name) != 0;
  CK_FEATURE("sse4.2")
  CK_FEATURE("avx")
  CK_FEATURE("avx2")
  CK_FEATURE("fma")
  CK_FEATURE("f16c")
  CK_FEATURE("avx512f")
  CK_FEATURE("avx512bw")
  CK_FEATURE("avx512dq")
  CK_FEATURE("avx512vl")
  CK_FEATURE("avx512vnni")
  CK_FEATURE("avx512bf16")
  CK_FEATURE("avx512fp16")
  CK_FEATURE("avxvnni")
  CK_FEATURE("amx-tile")
  CK_FEATURE("amx-bf16")
  CK_FEATURE("amx-int8")
#undef CK_FEATURE
#else
  (void)feature;
#endif
  return 0;
}

const ck_kernels *ck_kernels_for(ck_isa isa) {
  const ck_isa best = ck_detected_isa();
  switch (isa < best ? isa : best) {
#ifdef CK_X86
  case CK_ISA_AVX512_VNNI:
    return &ck_kernels_avx512_vnni;
  case CK_ISA_AVX512:
    return &ck_kernels_avx512;
  case CK_ISA_AVX2:
    return &ck_kernels_avx2;
#endif
  default:
    return &ck_kernels_portable;
  }
}

const ck_kernels *ck_active_kernels(void) { return ck_kernels_for(ck_active_isa()); }

void ck_f32_dot_rows(const float *w, ptrdiff_t ldw, const float *x, float *y, ptrdiff_t rows,
                     ptrdiff_t cols, int accumulate) {
  ck_active_kernels()->f32_dot_rows(w, ldw, x, y, rows, cols, accumulate);
}

void ck_q8_dot_rows(const int8_t *wq, const float *wd, const int8_t *xq, const float *xd,
                    float *y, ptrdiff_t rows, ptrdiff_t cols) {
  ck_active_kernels()->q8_dot_rows(wq, wd, xq, xd, y, rows, cols);
}

double ck_fma_peak_loop(long iterations) {
  switch (ck_active_isa()) {
#ifdef CK_X86
  case CK_ISA_AVX512_VNNI:
  case CK_ISA_AVX512:
    return ck_fma_loop_avx512(iterations);
  case CK_ISA_AVX2:
    return ck_fma_loop_avx2(iterations);
#endif
  default:
    return ck_fma_loop_portable(iterations);
  }
}
