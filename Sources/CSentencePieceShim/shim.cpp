// The extern "C" implementation of CSentencePieceShim.h over sentencepiece's C++ API.
// Each entry point wraps its body in `guarded`, so no C++ exception ever crosses into Swift.
#include "CSentencePieceShim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

struct spm_processor {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

void copy_message(const std::string &message, char *error, size_t capacity) {
  if (error == nullptr || capacity == 0) return;
  size_t n = message.size() < capacity - 1 ? message.size() : capacity - 1;
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

spm_status report(const sentencepiece::util::Status &status, char *error, size_t capacity) {
  if (!status.ok()) copy_message(status.ToString(), error, capacity);
  return static_cast<spm_status>(status.code());
}

// Runs `body`, turning any C++ exception into SPM_EXCEPTION (with its message when asked).
template <typename Body>
spm_status guarded(Body body, char *error = nullptr, size_t capacity = 0) {
  try {
    return body();
  } catch (const std::exception &e) {
    copy_message(e.what(), error, capacity);
  } catch (...) {
    copy_message("unknown C++ exception", error, capacity);
  }
  return SPM_EXCEPTION;
}

// Copies `bytes` into the caller's buffer when it fits; always reports the size needed.
spm_status copy_out(const std::string &bytes, void *out, size_t capacity, size_t *needed) {
  if (needed != nullptr) *needed = bytes.size();
  if (bytes.size() > capacity) return SPM_BUFFER_TOO_SMALL;
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
  return SPM_OK;
}

bool in_range(const spm_processor *p, int32_t id) {
  return id >= 0 && id < p->processor.GetPieceSize();
}

// Feeds sentences from a C callback to sentencepiece's trainer.
class CallbackIterator : public sentencepiece::SentenceIterator {
 public:
  CallbackIterator(spm_sentence_source source, void *context)
      : source_(source), context_(context) {
    Next();
  }
  bool done() const override { return done_; }
  void Next() override {
    if (done_) return;
    const char *bytes = nullptr;
    size_t length = 0;
    int32_t result = source_(context_, &bytes, &length);
    if (result == 1) {
      value_.assign(bytes, length);
    } else {
      done_ = true;
      if (result < 0) {
        status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kAborted,
                                              "the sentence source stopped with an error");
      }
    }
  }
  const std::string &value() const override { return value_; }
  sentencepiece::util::Status status() const override { return status_; }

 private:
  spm_sentence_source source_;
  void *context_;
  std::string value_;
  bool done_ = false;
  sentencepiece::util::Status status_;
};

}  // namespace

extern "C" spm_processor *spm_processor_new(void) {
  try {
    return new spm_processor();
  } catch (...) {
    return nullptr;
  }
}

extern "C" void spm_processor_free(spm_processor *p) { delete p; }

extern "C" spm_status spm_processor_load(spm_processor *p, const char *path, char *error,
                                         size_t error_capacity) {
  return guarded([&] { return report(p->processor.Load(path), error, error_capacity); }, error,
                 error_capacity);
}

extern "C" spm_status spm_processor_load_bytes(spm_processor *p, const void *bytes, size_t count,
                                               char *error, size_t error_capacity) {
  return guarded(
      [&] {
        std::string serialized(static_cast<const char *>(bytes), count);
        return report(p->processor.LoadFromSerializedProto(serialized), error, error_capacity);
      },
      error, error_capacity);
}

extern "C" spm_status spm_processor_serialize(const spm_processor *p, void *bytes,
                                              size_t capacity, size_t *needed) {
  return guarded([&] {
    if (!p->processor.status().ok()) return static_cast<spm_status>(p->processor.status().code());
    return copy_out(p->processor.serialized_model_proto(), bytes, capacity, needed);
  });
}

extern "C" spm_status spm_encode_ids(const spm_processor *p, const char *text, size_t length,
                                     int32_t *ids, size_t capacity, size_t *count) {
  return guarded([&] {
    std::vector<int> result;
    auto status = p->processor.Encode(absl::string_view(text, length), &result);
    if (!status.ok()) return static_cast<spm_status>(status.code());
    *count = result.size();
    if (result.size() > capacity) return static_cast<spm_status>(SPM_BUFFER_TOO_SMALL);
    for (size_t i = 0; i < result.size(); ++i) ids[i] = static_cast<int32_t>(result[i]);
    return static_cast<spm_status>(SPM_OK);
  });
}

extern "C" spm_status spm_encode_pieces(const spm_processor *p, const char *text, size_t length,
                                        char *bytes, size_t bytes_capacity, size_t *needed_bytes,
                                        int32_t *lengths, size_t lengths_capacity,
                                        size_t *count) {
  return guarded([&] {
    std::vector<std::string> pieces;
    auto status = p->processor.Encode(absl::string_view(text, length), &pieces);
    if (!status.ok()) return static_cast<spm_status>(status.code());
    size_t total = 0;
    for (const auto &piece : pieces) total += piece.size();
    *needed_bytes = total;
    *count = pieces.size();
    if (total > bytes_capacity || pieces.size() > lengths_capacity) {
      return static_cast<spm_status>(SPM_BUFFER_TOO_SMALL);
    }
    size_t offset = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (!pieces[i].empty()) std::memcpy(bytes + offset, pieces[i].data(), pieces[i].size());
      offset += pieces[i].size();
      lengths[i] = static_cast<int32_t>(pieces[i].size());
    }
    return static_cast<spm_status>(SPM_OK);
  });
}

extern "C" spm_status spm_decode_ids(const spm_processor *p, const int32_t *ids, size_t count,
                                     char *text, size_t capacity, size_t *needed) {
  return guarded([&] {
    std::vector<int> input(count);
    for (size_t i = 0; i < count; ++i) {
      if (!in_range(p, ids[i])) return static_cast<spm_status>(SPM_OUT_OF_RANGE);
      input[i] = ids[i];
    }
    std::string result;
    auto status = p->processor.Decode(input, &result);
    if (!status.ok()) return static_cast<spm_status>(status.code());
    return copy_out(result, text, capacity, needed);
  });
}

extern "C" int32_t spm_vocab_size(const spm_processor *p) {
  try {
    return p->processor.status().ok() ? p->processor.GetPieceSize() : 0;
  } catch (...) {
    return 0;
  }
}

extern "C" spm_status spm_id_to_piece(const spm_processor *p, int32_t id, char *bytes,
                                      size_t capacity, size_t *needed) {
  return guarded([&] {
    if (!in_range(p, id)) return static_cast<spm_status>(SPM_OUT_OF_RANGE);
    return copy_out(p->processor.IdToPiece(id), bytes, capacity, needed);
  });
}

extern "C" int32_t spm_piece_to_id(const spm_processor *p, const char *piece, size_t length) {
  try {
    absl::string_view view(piece, length);
    int id = p->processor.PieceToId(view);
    // PieceToId answers unk for unknown pieces: only the unk piece itself maps to unk.
    if (id == p->processor.unk_id() && p->processor.IdToPiece(id) != view) return -1;
    return id;
  } catch (...) {
    return -1;
  }
}

extern "C" float spm_score(const spm_processor *p, int32_t id) {
  try {
    return in_range(p, id) ? p->processor.GetScore(id) : 0.0f;
  } catch (...) {
    return 0.0f;
  }
}

extern "C" int32_t spm_piece_kind(const spm_processor *p, int32_t id) {
  try {
    if (!in_range(p, id)) return 0;
    if (p->processor.IsUnknown(id)) return SPM_PIECE_UNKNOWN;
    if (p->processor.IsControl(id)) return SPM_PIECE_CONTROL;
    if (p->processor.IsUnused(id)) return SPM_PIECE_UNUSED;
    if (p->processor.IsByte(id)) return SPM_PIECE_BYTE;
    return SPM_PIECE_NORMAL;
  } catch (...) {
    return 0;
  }
}

extern "C" spm_status spm_special(const spm_processor *p, spm_special_ids *out) {
  return guarded([&] {
    if (!p->processor.status().ok()) return static_cast<spm_status>(p->processor.status().code());
    out->unk = p->processor.unk_id();
    out->bos = p->processor.bos_id();
    out->eos = p->processor.eos_id();
    out->pad = p->processor.pad_id();
    return static_cast<spm_status>(SPM_OK);
  });
}

extern "C" spm_status spm_train(const char *const *keys, const char *const *values, size_t count,
                                spm_sentence_source source, void *context, uint32_t seed,
                                spm_processor **out, char *error, size_t error_capacity) {
  return guarded(
      [&] {
        *out = nullptr;
        std::unordered_map<std::string, std::string> flags;
        for (size_t i = 0; i < count; ++i) {
          std::string key(keys[i]);
          if (key == "input" || key == "model_prefix") {
            copy_message("spm_train: '" + key + "' is managed by the shim", error,
                         error_capacity);
            return static_cast<spm_status>(SPM_INVALID_ARGUMENT);
          }
          flags[key] = values[i];
        }
        sentencepiece::SetRandomGeneratorSeed(seed);
        CallbackIterator sentences(source, context);
        std::string serialized;
        auto status = sentencepiece::SentencePieceTrainer::Train(flags, &sentences, &serialized);
        if (!status.ok()) return report(status, error, error_capacity);
        if (!sentences.status().ok()) return report(sentences.status(), error, error_capacity);
        std::unique_ptr<spm_processor> trained(new spm_processor());
        status = trained->processor.LoadFromSerializedProto(serialized);
        if (!status.ok()) return report(status, error, error_capacity);
        *out = trained.release();
        return static_cast<spm_status>(SPM_OK);
      },
      error, error_capacity);
}
