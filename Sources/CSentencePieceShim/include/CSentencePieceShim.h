// CSentencePieceShim: a C face for sentencepiece's C++ API.
// Every function catches C++ exceptions at the boundary and returns a status code; handles are
// opaque; buffers belong to the caller.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes (sentencepiece's util::StatusCode values; -1 for an unexpected C++ exception).
typedef int32_t spm_status;

/// An opaque loaded model.
typedef struct spm_processor spm_processor;

/// Creates an empty processor. Never NULL.
spm_processor *spm_processor_new(void);
/// Destroys a processor (NULL is ignored).
void spm_processor_free(spm_processor *p);
/// Loads a serialized model file. On failure writes a message into `error` (NUL-terminated).
spm_status spm_processor_load(spm_processor *p, const char *path, char *error, size_t error_capacity);
/// Number of pieces in the loaded model.
int32_t spm_processor_vocab_size(const spm_processor *p);

#ifdef __cplusplus
}
#endif
