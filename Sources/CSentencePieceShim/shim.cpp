// The extern "C" implementation of CSentencePieceShim.h over sentencepiece's C++ API.
#include "CSentencePieceShim.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>
#include <string>

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
}  // namespace

extern "C" spm_processor *spm_processor_new(void) { return new spm_processor(); }

extern "C" void spm_processor_free(spm_processor *p) { delete p; }

extern "C" spm_status spm_processor_load(spm_processor *p, const char *path, char *error,
                                         size_t error_capacity) {
  try {
    auto status = p->processor.Load(path);
    if (!status.ok()) copy_message(status.ToString(), error, error_capacity);
    return static_cast<spm_status>(status.code());
  } catch (const std::exception &e) {
    copy_message(e.what(), error, error_capacity);
    return -1;
  } catch (...) {
    copy_message("unknown C++ exception", error, error_capacity);
    return -1;
  }
}

extern "C" int32_t spm_processor_vocab_size(const spm_processor *p) {
  try {
    return p->processor.GetPieceSize();
  } catch (...) {
    return 0;
  }
}
