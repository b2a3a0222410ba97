import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

/// The starting point of a fine-tuning stage (`sft`, `reward`, `dpo`): the model of `--model
/// BASE`, and the tokenizer and chat template of `--data DIR`, checked against each other.
struct FineTuneBase {
  /// `--model`, absolute.
  let path: String
  /// The base weights.
  let llama: Llama
  /// The data's tokenizer (the base model's too, when it carries one).
  let tokenizer: SentencePieceTokenizer
  /// The template the data was rendered with.
  let template: ChatTemplate
  /// The base model's `generation_config.json` (sampling defaults carried to the output).
  let generation: GenerationConfig

  /// Loads `--model modelPath` and the tokenizer of `--data dataPath` and checks that they
  /// fit: the data's tokenizer file matches its index, its vocabulary fits the model's
  /// `vocab_size`, it is the base model's own `tokenizer.model` (when the base has one), and it
  /// holds the template's special tokens.
  /// - Throws: one line naming the flag and file at fault.
  static func load(
    modelPath: String, dataPath: String, tokenizer reference: TokenShardIndex.TokenizerReference,
    template: ChatTemplate, label: String
  ) throws -> FineTuneBase {
    let llama = try loadModel(modelPath)
    let indexPath = (dataPath as NSString).appendingPathComponent("index.json")
    let tokenizerPath = (dataPath as NSString).appendingPathComponent(reference.file)
    let tokenizer: SentencePieceTokenizer
    do {
      tokenizer = try SentencePieceTokenizer(contentsOf: tokenizerPath)
    } catch {
      throw CommandLineError("--data: \(error)")
    }
    guard tokenizer.sha256 == reference.sha256 else {
      throw CommandLineError(
        "--data: \(tokenizerPath) has SHA-256 \(tokenizer.sha256.prefix(12))…, but \(indexPath) "
          + "records \(reference.sha256.prefix(12))…; the folder was changed after "
          + "`minillm data` wrote it")
    }
    let config = llama.config
    guard tokenizer.vocabularySize <= config.vocabSize else {
      throw CommandLineError(
        "--model: \(modelPath)/config.json has vocab_size \(config.vocabSize), fewer than the "
          + "\(tokenizer.vocabularySize) pieces of the data's tokenizer (\(indexPath)); make the "
          + "data with the base model's tokenizer")
    }
    let baseTokenizerPath = (modelPath as NSString).appendingPathComponent("tokenizer.model")
    if let bytes = FileManager.default.contents(atPath: baseTokenizerPath) {
      let base: SentencePieceTokenizer
      do {
        base = try SentencePieceTokenizer(modelBytes: [UInt8](bytes), origin: baseTokenizerPath)
      } catch {
        throw CommandLineError("--model: \(error)")
      }
      guard base.sha256 == tokenizer.sha256 else {
        throw CommandLineError(
          "--data: \(indexPath) was made with a tokenizer (SHA-256 "
            + "\(tokenizer.sha256.prefix(12))…) other than --model's \(baseTokenizerPath) "
            + "(\(base.sha256.prefix(12))…); make the data with `minillm data … --tokenizer "
            + "\(modelPath)`")
      }
    } else {
      printError(
        "[\(label)] warning: \(modelPath) has no tokenizer.model; only the vocabulary size of "
          + "the data's tokenizer could be checked against the model")
    }
    do {
      _ = try ChatRenderer(template: template, tokenizer: tokenizer)
    } catch {
      throw CommandLineError("--data: \(indexPath): template: \(error)")
    }
    let generation: GenerationConfig
    do {
      generation = try ModelDirectory(path: modelPath).loadGenerationConfig()
    } catch {
      throw CommandLineError("--model: \(error)")
    }
    return FineTuneBase(
      path: URL(fileURLWithPath: modelPath).standardizedFileURL.path, llama: llama,
      tokenizer: tokenizer, template: template, generation: generation)
  }

  /// The id of padded positions: `config.json`'s `pad_token_id`, else the tokenizer's pad,
  /// else its EOS, else 0 (right padding is never attended to by a real position, so any
  /// valid id works).
  var paddingID: Int32 {
    Int32(llama.config.padTokenId ?? tokenizer.specialIDs.pad ?? tokenizer.specialIDs.eos ?? 0)
  }

  /// The files that make a saved model directory chat-ready.
  var chatFiles: ChatModelFiles {
    ChatModelFiles(tokenizer: tokenizer, template: template, generation: generation)
  }
}

/// `tokenizer.model`, `tokenizer_config.json` (with the chat template) and
/// `generation_config.json`: what `minillm chat` and `generate --chat` need beside the weights.
struct ChatModelFiles {
  let tokenizer: SentencePieceTokenizer
  let template: ChatTemplate
  let generation: GenerationConfig

  /// Writes the three files into a directory that already holds `config.json`.
  func install(in directory: String) throws {
    try ModelDirectory(path: directory).installTokenizer(
      tokenizer, template: template, sampling: generation.sampling,
      maxNewTokens: generation.maxNewTokens)
  }
}

/// A trainable model whose saved directories (every checkpoint and `RUN/model/`) are
/// chat-ready: the model's own files plus ``ChatModelFiles``.
final class ChatReadyModel<Inner: TrainableModel>: TrainableModel {
  let inner: Inner
  let files: ChatModelFiles

  init(_ inner: Inner, files: ChatModelFiles) {
    self.inner = inner
    self.files = files
  }

  var arena: ParameterArena { inner.arena }

  func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try inner.visitParameters(visitor)
  }

  func save(to directory: String) throws {
    try inner.save(to: directory)
    try files.install(in: directory)
  }

  func loadWeights(fromDirectory directory: String) throws {
    try inner.loadWeights(fromDirectory: directory)
  }
}
