// CZlib: zlib's streaming inflate for Swift. `inflateInit2` is a macro Swift cannot call, so one
// static inline wrapper opens a stream that reads gzip (and zlib) framing.
#pragma once
#include <zlib.h>

static inline int czlib_inflate_init_gzip(z_stream *stream) {
  return inflateInit2(stream, 15 + 32);
}
