// Applies MINILLM_TEST_THREADS and MINILLM_TEST_KERNELS to the test process before any test runs, so one pass of the
// suite (scripts/test-cores) can run MiniTensor's own kernels on one thread, as
// OPENBLAS_NUM_THREADS=1 does for OpenBLAS's.
#include <stdlib.h>

#include "ThreadSetting.h"

extern void minillm_test_set_thread_count(long count);
extern void minillm_test_limit_kernels(const char *name);

__attribute__((constructor)) static void minillm_test_apply_thread_setting(void) {
  // MINILLM_TEST_KERNELS (portable, avx2, avx512, avx512-vnni) caps MiniTensor's kernels for
  // the whole run, so a pass of the suite runs on the baseline path.
  const char *kernels = getenv("MINILLM_TEST_KERNELS");
  if (kernels != NULL && *kernels != '\0') minillm_test_limit_kernels(kernels);
  const char *value = getenv("MINILLM_TEST_THREADS");
  if (value == NULL || *value == '\0') return;
  char *end = NULL;
  long count = strtol(value, &end, 10);
  if (end != NULL && *end == '\0' && count >= 1) minillm_test_set_thread_count(count);
}

int minillm_test_thread_setting_linked(void) { return 1; }
