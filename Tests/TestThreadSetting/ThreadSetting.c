// Applies MINILLM_TEST_THREADS to the test process before any test runs, so one pass of the
// suite (scripts/test-cores) can run MiniTensor's own kernels on one thread, as
// OPENBLAS_NUM_THREADS=1 does for OpenBLAS's.
#include <stdlib.h>

#include "ThreadSetting.h"

extern void minillm_test_set_thread_count(long count);

__attribute__((constructor)) static void minillm_test_apply_thread_setting(void) {
  const char *value = getenv("MINILLM_TEST_THREADS");
  if (value == NULL || *value == '\0') return;
  char *end = NULL;
  long count = strtol(value, &end, 10);
  if (end != NULL && *end == '\0' && count >= 1) minillm_test_set_thread_count(count);
}

int minillm_test_thread_setting_linked(void) { return 1; }
