import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize

/// Files a saved model directory gets beside the model's own.
public protocol ModelDirectoryFiles {
  /// Writes the files into a model directory, or into a LoRA adapter folder (which has no
  /// `config.json` of its own: the base's `config` is given).
  func install(in directory: String, config: LlamaConfig?) throws
}

extension ModelDirectoryFiles {
  /// Writes the files into a directory that already holds `config.json`.
  public func install(in directory: String) throws { try install(in: directory, config: nil) }
}

/// `tokenizer.model`, `tokenizer.json`, `tokenizer_config.json` (with the chat template) and
/// `generation_config.json`: what a chat needs beside the weights. For a byte-level BPE
/// tokenizer: its `tokenizer.json`, `tokenizer_config.json` and `generation_config.json`.
public struct ChatModelFiles: ModelDirectoryFiles {
  /// The tokenizer and the file it is stored as.
  public let stored: StoredTokenizer
  /// The chat template.
  public let template: ChatTemplate
  /// Sampling defaults.
  public let generation: GenerationConfig

  /// The tokenizer.
  public var tokenizer: any Tokenizer { stored.tokenizer }

  /// The files of `tokenizer`, `template` and `generation`.
  public init(
    tokenizer: SentencePieceTokenizer, template: ChatTemplate, generation: GenerationConfig
  ) {
    self.init(
      stored: StoredTokenizer(sentencePiece: tokenizer), template: template,
      generation: generation)
  }

  /// The files of `stored` (sentencepiece or byte-level BPE), `template` and `generation`.
  public init(stored: StoredTokenizer, template: ChatTemplate, generation: GenerationConfig) {
    self.stored = stored
    self.template = template
    self.generation = generation
  }

  /// Writes the files into a model directory, or into a LoRA adapter folder (which has no
  /// `config.json` of its own: the base's `config` is given).
  public func install(in directory: String, config: LlamaConfig?) throws {
    try ModelDirectory(path: directory).installTokenizer(
      stored, template: template, sampling: generation.sampling,
      maxNewTokens: generation.maxNewTokens, config: config)
  }
}

/// The tokenizer files of a pretrained model, from the data's tokenizer file:
/// `tokenizer.model`, `tokenizer.json` and `tokenizer_config.json` without a chat template
/// (see `ModelDirectory.writeTokenizerFiles(_:renderer:)`); for a byte-level BPE
/// `tokenizer.json`, that file and its `tokenizer_config.json`.
public struct TokenizerFile: ModelDirectoryFiles {
  /// The sentencepiece model or byte-level BPE `tokenizer.json` (with the
  /// `tokenizer_config.json` beside it).
  public let path: String

  /// The files of the tokenizer at `path`.
  public init(path: String) { self.path = path }

  public func install(in directory: String, config: LlamaConfig?) throws {
    let tokenizer = try StoredTokenizer.read(path)
    try ModelDirectory(path: directory).writeTokenizerFiles(
      tokenizer, renderer: nil, config: config)
  }
}

/// A trainable model whose saved directories (every checkpoint and `RUN/model/`) also hold
/// `files`: chat-ready with ``ChatModelFiles``, or with the data's ``TokenizerFile``.
public final class ModelWithFiles<Inner: TrainableModel>: TrainableModel {
  /// The model trained.
  public let inner: Inner
  /// The files added to every saved directory (none when `nil`).
  public let files: (any ModelDirectoryFiles)?

  /// `inner`, saved with `files`.
  public init(_ inner: Inner, files: (any ModelDirectoryFiles)?) {
    self.inner = inner
    self.files = files
  }

  public var arena: ParameterArena { inner.arena }

  public var outputFolderName: String { inner.outputFolderName }

  public var adapterBaseConfig: LlamaConfig? { inner.adapterBaseConfig }

  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try inner.visitParameters(visitor)
  }

  public func save(to directory: String) throws {
    try inner.save(to: directory)
    try files?.install(in: directory, config: inner.adapterBaseConfig)
  }

  public func loadWeights(fromDirectory directory: String) throws {
    try inner.loadWeights(fromDirectory: directory)
  }
}
