// CSnappy: libsnappy's C API (snappy-c.h), for the SNAPPY pages of Parquet files.
#pragma once
#include <snappy-c.h>
