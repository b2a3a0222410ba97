// CSentencePieceShim: a C face for sentencepiece's C++ API.
//
// Why it exists: sentencepiece is C++ only, and Swift's C++ interoperability mode would spread to
// every module importing MiniTokenize. This shim keeps the C++ behind a tiny extern "C" surface.
// Rules: every function catches C++ exceptions at the boundary and returns a status code; handles
// are opaque; every buffer belongs to the caller, who passes its capacity and is told the size
// needed (SPM_BUFFER_TOO_SMALL when it did not fit, so the caller can grow the buffer and retry).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes: sentencepiece's util::StatusCode values (0 = OK), plus the shim's own below.
typedef int32_t spm_status;

static const spm_status SPM_OK = 0;
static const spm_status SPM_INVALID_ARGUMENT = 3;
static const spm_status SPM_NOT_FOUND = 5;
static const spm_status SPM_OUT_OF_RANGE = 11;
static const spm_status SPM_INTERNAL = 13;
/// A C++ exception was caught at the boundary; the message says which.
static const spm_status SPM_EXCEPTION = -1;
/// The caller's buffer was too small; the needed size was written and nothing else changed.
static const spm_status SPM_BUFFER_TOO_SMALL = -2;

/// An opaque loaded model.
typedef struct spm_processor spm_processor;

/// Creates an empty processor; NULL only when memory is exhausted.
spm_processor *spm_processor_new(void);
/// Destroys a processor (NULL is ignored).
void spm_processor_free(spm_processor *p);

/// Loads a serialized model file. On failure writes a message into `error` (NUL-terminated,
/// truncated to `error_capacity`).
spm_status spm_processor_load(spm_processor *p, const char *path, char *error,
                              size_t error_capacity);
/// Loads a model from its serialized bytes.
spm_status spm_processor_load_bytes(spm_processor *p, const void *bytes, size_t count,
                                    char *error, size_t error_capacity);
/// Copies the serialized model into `bytes` (capacity `capacity`); `*needed` receives its size.
spm_status spm_processor_serialize(const spm_processor *p, void *bytes, size_t capacity,
                                   size_t *needed);

/// Encodes UTF-8 `text` (`length` bytes) into `ids` (capacity `capacity`); `*count` receives the
/// number of ids. With SPM_BUFFER_TOO_SMALL, `*count` is the capacity needed.
spm_status spm_encode_ids(const spm_processor *p, const char *text, size_t length, int32_t *ids,
                          size_t capacity, size_t *count);

/// Encodes `text` into pieces: their UTF-8 bytes back to back in `bytes` and each piece's byte
/// length in `lengths`. `*needed_bytes` and `*count` receive the sizes; with
/// SPM_BUFFER_TOO_SMALL they are the capacities needed.
spm_status spm_encode_pieces(const spm_processor *p, const char *text, size_t length,
                             char *bytes, size_t bytes_capacity, size_t *needed_bytes,
                             int32_t *lengths, size_t lengths_capacity, size_t *count);

/// Decodes `count` ids into UTF-8 `text` (not NUL-terminated); `*needed` receives the length.
/// Ids outside the vocabulary give SPM_OUT_OF_RANGE.
spm_status spm_decode_ids(const spm_processor *p, const int32_t *ids, size_t count, char *text,
                          size_t capacity, size_t *needed);

/// Number of pieces in the loaded model (0 when none is loaded).
int32_t spm_vocab_size(const spm_processor *p);
/// Copies the piece of `id` (UTF-8, not NUL-terminated); `*needed` receives its length.
spm_status spm_id_to_piece(const spm_processor *p, int32_t id, char *bytes, size_t capacity,
                           size_t *needed);
/// The id of a piece, or -1 when the piece is not in the vocabulary.
int32_t spm_piece_to_id(const spm_processor *p, const char *piece, size_t length);
/// The score of `id` (0 when out of range).
float spm_score(const spm_processor *p, int32_t id);

/// Kinds of piece, as reported by spm_piece_kind (user-defined pieces report NORMAL: 0.1.97's
/// API cannot tell them apart without the model protobuf).
static const int32_t SPM_PIECE_NORMAL = 1;
static const int32_t SPM_PIECE_UNKNOWN = 2;
static const int32_t SPM_PIECE_CONTROL = 3;
static const int32_t SPM_PIECE_UNUSED = 4;
static const int32_t SPM_PIECE_BYTE = 5;
/// The kind of piece `id` (one of SPM_PIECE_*), or 0 when `id` is out of range.
int32_t spm_piece_kind(const spm_processor *p, int32_t id);

/// The special ids of the loaded model; -1 where the model has none.
typedef struct spm_special_ids {
  int32_t unk;
  int32_t bos;
  int32_t eos;
  int32_t pad;
} spm_special_ids;
/// Reads the special ids.
spm_status spm_special(const spm_processor *p, spm_special_ids *out);

/// Supplies training sentences: stores a pointer to the next sentence's UTF-8 bytes and its length
/// (valid until the next call) and returns 1, returns 0 at the end, or a negative value to abort.
typedef int32_t (*spm_sentence_source)(void *context, const char **bytes, size_t *length);

/// Trains a model. `keys`/`values` are `count` sentencepiece trainer flags (e.g. "vocab_size",
/// "8000"; any flag of spm_train except input/model_prefix, which the shim manages). Sentences
/// come from `source` (called on the calling thread). `seed` fixes sentencepiece's sampling.
/// On success, `*out` receives a new processor holding the trained model (free it with
/// spm_processor_free); on failure a message goes into `error`.
spm_status spm_train(const char *const *keys, const char *const *values, size_t count,
                     spm_sentence_source source, void *context, uint32_t seed,
                     spm_processor **out, char *error, size_t error_capacity);

#ifdef __cplusplus
}
#endif
