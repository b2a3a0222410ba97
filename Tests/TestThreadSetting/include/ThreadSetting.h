#ifndef MINILLM_TEST_THREAD_SETTING_H
#define MINILLM_TEST_THREAD_SETTING_H

/// 1: the constructor that applies MINILLM_TEST_THREADS is linked into the test process.
int minillm_test_thread_setting_linked(void);

#endif
