// COpenBLAS: OpenBLAS's CBLAS and LAPACKE for Swift.
// Debian builds OpenBLAS without LAPACKE, so lapacke.h comes from liblapacke-dev and is linked
// separately. The OpenBLAS extension functions below are not declared in every cblas.h.
#pragma once
#include <cblas.h>
#include <lapacke.h>

void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);
