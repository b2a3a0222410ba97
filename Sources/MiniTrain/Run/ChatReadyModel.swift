import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize

/// `tokenizer.model`, `tokenizer_config.json` (with the chat template) and
/// `generation_config.json`: what a chat needs beside the weights.
public struct ChatModelFiles {
  /// The tokenizer.
  public let tokenizer: SentencePieceTokenizer
  /// The chat template.
  public let template: ChatTemplate
  /// Sampling defaults.
  public let generation: GenerationConfig

  /// The files of `tokenizer`, `template` and `generation`.
  public init(tokenizer: SentencePieceTokenizer, template: ChatTemplate, generation: GenerationConfig)
  {
    self.tokenizer = tokenizer
    self.template = template
    self.generation = generation
  }

  /// Writes the three files into a directory that already holds `config.json`.
  public func install(in directory: String) throws {
    try ModelDirectory(path: directory).installTokenizer(
      tokenizer, template: template, sampling: generation.sampling,
      maxNewTokens: generation.maxNewTokens)
  }
}

/// A trainable model whose saved directories (every checkpoint and `RUN/model/`) are
/// chat-ready: the model's own files plus ``ChatModelFiles``.
public final class ChatReadyModel<Inner: TrainableModel>: TrainableModel {
  /// The model trained.
  public let inner: Inner
  /// The files added to every saved directory.
  public let files: ChatModelFiles

  /// `inner`, saved with `files`.
  public init(_ inner: Inner, files: ChatModelFiles) {
    self.inner = inner
    self.files = files
  }

  public var arena: ParameterArena { inner.arena }

  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try inner.visitParameters(visitor)
  }

  public func save(to directory: String) throws {
    try inner.save(to: directory)
    try files.install(in: directory)
  }

  public func loadWeights(fromDirectory directory: String) throws {
    try inner.loadWeights(fromDirectory: directory)
  }
}

/// A Llama whose saved directories also carry a copy of a tokenizer file (the data's), so that
/// checkpoints and the final model of a pretraining run work with `generate --prompt`.
public final class TokenizerCarryingModel: TrainableModel {
  /// The model trained.
  public let llama: Llama
  /// The `tokenizer.model` copied into every saved directory (`nil`: none).
  public let tokenizerPath: String?

  /// `llama`, saved with a copy of `tokenizerPath`.
  public init(llama: Llama, tokenizerPath: String?) {
    self.llama = llama
    self.tokenizerPath = tokenizerPath
  }

  public var arena: ParameterArena { llama.arena }

  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try llama.visitParameters(visitor)
  }

  public func save(to directory: String) throws {
    try llama.save(to: directory)
    if let tokenizerPath {
      let file = try MappedFile(path: tokenizerPath)
      try writeFileAtomically(to: directory + "/tokenizer.model") { sink in
        try file.withUnsafeBytes { try sink.write($0) }
      }
    }
  }
}
