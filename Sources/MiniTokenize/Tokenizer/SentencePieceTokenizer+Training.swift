internal import CSentencePieceShim
import Foundation

/// How `SentencePieceTokenizer.train(options:sentences:)` builds a model, with the settings of
/// the `train_tokenizer.py` of baby-llama2-chinese-style projects as defaults (BPE, byte
/// fallback, split digits, identity normalisation so Chinese punctuation and full-width digits
/// survive a round trip).
public struct SentencePieceTrainingOptions: Sendable, Equatable {
  /// The segmentation algorithm.
  public enum ModelType: String, Sendable, CaseIterable {
    /// Byte-pair encoding.
    case bpe
    /// Unigram language model.
    case unigram
  }

  /// Number of pieces in the trained model (including specials and the 256 byte pieces).
  public var vocabularySize: Int
  /// BPE or unigram.
  public var modelType: ModelType = .bpe
  /// Extra pieces always kept whole, e.g. `<|im_start|>`, `<|im_end|>`.
  public var userDefinedSymbols: [String] = []
  /// Encode characters outside the vocabulary as `<0xNN>` byte pieces instead of `<unk>`.
  public var byteFallback = true
  /// Split runs of digits into single digits.
  public var splitDigits = true
  /// Fraction of characters covered by the vocabulary (the rest fall back to bytes).
  public var characterCoverage = 0.9995
  /// Train on a random sample of at most this many sentences (`0`: all of them).
  public var inputSentenceSize = 0
  /// Sentences longer than this many bytes are skipped by the trainer.
  public var maxSentenceLength = 16384
  /// Prepend `▁` to the text before encoding (sentencepiece's default; off keeps special
  /// tokens at the start of a text free of a leading `▁`).
  public var addDummyPrefix = false
  /// Worker threads of the trainer.
  public var threads = 2
  /// Seed of sentencepiece's sampling, so a training run is reproducible.
  public var seed: UInt32 = 0
  /// Let sentencepiece log its progress to stderr.
  public var verbose = false

  /// Creates options for a vocabulary of `vocabularySize` pieces.
  public init(vocabularySize: Int, modelType: ModelType = .bpe) {
    self.vocabularySize = vocabularySize
    self.modelType = modelType
  }

  /// The sentencepiece trainer flags these options stand for.
  var trainerFlags: [(String, String)] {
    var flags = [
      ("model_type", modelType.rawValue),
      ("vocab_size", String(vocabularySize)),
      ("byte_fallback", String(byteFallback)),
      ("split_digits", String(splitDigits)),
      ("character_coverage", String(characterCoverage)),
      ("input_sentence_size", String(inputSentenceSize)),
      ("shuffle_input_sentence", "true"),
      ("max_sentence_length", String(maxSentenceLength)),
      ("add_dummy_prefix", String(addDummyPrefix)),
      ("normalization_rule_name", "identity"),
      ("remove_extra_whitespaces", "false"),
      ("allow_whitespace_only_pieces", "true"),
      ("num_threads", String(threads)),
      ("minloglevel", verbose ? "0" : "2"),
    ]
    if !userDefinedSymbols.isEmpty {
      flags.append(("user_defined_symbols", userDefinedSymbols.joined(separator: ",")))
    }
    return flags
  }
}

extension SentencePieceTokenizer {
  /// Trains a model on the sentences `next` returns until it returns `nil`.
  ///
  /// Each sentence is one training line: split documents at newlines first (sentencepiece counts
  /// a newline as an ordinary character). The trained model lives in memory; save it with
  /// `write(to:)`.
  /// - Throws: `TokenizerError.trainingFailed` with sentencepiece's message (for example a
  ///   vocabulary too small for the characters seen), or whatever `next` throws.
  public static func train(
    options: SentencePieceTrainingOptions, sentences next: () throws -> String?
  ) throws -> SentencePieceTokenizer {
    precondition(options.vocabularySize > 0, "train: vocabularySize \(options.vocabularySize)")
    precondition(options.threads > 0, "train: threads \(options.threads)")
    for symbol in options.userDefinedSymbols where symbol.isEmpty || symbol.contains(",") {
      throw TokenizerError.trainingFailed(
        message: "user-defined symbol '\(symbol)' is empty or contains a comma")
    }
    return try withoutActuallyEscaping(next) { next in
      let feeder = SentenceFeeder(next: next)
      defer { feeder.release() }
      let flags = options.trainerFlags
      var keys = flags.map { strdup($0.0) }
      var values = flags.map { strdup($0.1) }
      defer {
        keys.forEach { free($0) }
        values.forEach { free($0) }
      }
      var message = [CChar](repeating: 0, count: 1024)
      var trained: OpaquePointer?
      let status = keys.withUnsafeMutableBufferPointer { keyBuffer in
        values.withUnsafeMutableBufferPointer { valueBuffer in
          keyBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { keyPointers in
            valueBuffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { valuePointers in
              spm_train(
                keyPointers.baseAddress, valuePointers.baseAddress, flags.count,
                { context, bytes, length in
                  guard let context, let bytes, let length else { return -1 }
                  let feeder = Unmanaged<SentenceFeeder>.fromOpaque(context).takeUnretainedValue()
                  return feeder.next(bytes: bytes, length: length)
                }, Unmanaged.passUnretained(feeder).toOpaque(), options.seed, &trained, &message,
                message.count)
            }
          }
        }
      }
      if let error = feeder.error { throw error }
      guard status == SPM_OK, let trained else {
        throw TokenizerError.trainingFailed(message: string(message, status: status))
      }
      var needed = 0
      _ = spm_processor_serialize(trained, nil, 0, &needed)
      var bytes = [UInt8](repeating: 0, count: needed)
      let serializeStatus = bytes.withUnsafeMutableBytes {
        spm_processor_serialize(trained, $0.baseAddress, needed, &needed)
      }
      guard serializeStatus == SPM_OK else {
        spm_processor_free(trained)
        throw TokenizerError.libraryFailure(operation: "serialize", status: serializeStatus)
      }
      return try SentencePieceTokenizer(adopting: trained, modelBytes: bytes)
    }
  }
}

/// Hands sentences to the C trainer: owns the buffer the last sentence was copied into, and keeps
/// the error that stopped the source, if any.
private final class SentenceFeeder {
  let nextSentence: () throws -> String?
  var buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
  var capacity = 1
  var error: (any Error)?

  init(next: @escaping () throws -> String?) { self.nextSentence = next }

  func next(
    bytes: UnsafeMutablePointer<UnsafePointer<CChar>?>, length: UnsafeMutablePointer<Int>
  ) -> Int32 {
    do {
      guard var sentence = try nextSentence() else { return 0 }
      sentence.withUTF8 { utf8 in
        if utf8.count > capacity {
          buffer.deallocate()
          capacity = utf8.count
          buffer = .allocate(capacity: capacity)
        }
        utf8.withMemoryRebound(to: CChar.self) { source in
          if let base = source.baseAddress { buffer.update(from: base, count: source.count) }
        }
        bytes.pointee = UnsafePointer(buffer)
        length.pointee = utf8.count
      }
      return 1
    } catch {
      self.error = error
      return -1
    }
  }

  func release() { buffer.deallocate() }
}
