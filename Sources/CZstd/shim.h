// CZstd: the zstd streaming API for Swift.
#pragma once
#include <zstd.h>
