import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize

struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Turn a model in another format into a Hugging Face model directory.",
    subcommands: [ImportGGUF.self]
  )
}

struct ImportGGUF: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gguf",
    abstract: "Write a GGUF file's model (llama or qwen2) as a Hugging Face directory.",
    discussion: """
      Reads the architecture from the file's metadata and every tensor (f32, f16, bf16, q8_0, \
      q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K), dequantised as ggml does and with \
      llama's q/k row order undone, and writes config.json, model.safetensors (f32) and \
      generation_config.json. The vocabulary inside the file becomes the tokenizer files \
      AutoTokenizer.from_pretrained reads: tokenizer.json (gpt2 byte-level BPE with its \
      tokenizer.ggml.pre; a llama sentencepiece vocabulary also as tokenizer.model) and \
      tokenizer_config.json with the special tokens, add_bos_token and the file's \
      tokenizer.chat_template.
      """
  )

  @Argument(help: "The .gguf file.")
  var file: String

  @Option(help: "The model directory to write.")
  var out: String

  @Flag(help: "Write into --out even if it exists (its model files are replaced).")
  var overwrite = false

  func run() throws {
    guard ModelDirectory(path: file).isGGUFFile else {
      throw CommandLineError("\(file): not a GGUF file (it must exist and start with 'GGUF')")
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw CommandLineError("--out: \(out) exists and is not a folder")
      }
      guard overwrite else {
        throw CommandLineError("--out: \(out) exists; pass --overwrite to write into it")
      }
    }
    let start = Date()
    let model: Llama
    var tokenizerFiles: PretrainedTokenizerFiles?
    var tokenizerNote = ""
    do {
      model = try Llama(directory: file)
      do {
        tokenizerFiles = try GGUFReader(path: file).pretrainedTokenizerFiles(
          modelMaxLength: model.config.maxPositions)
        if tokenizerFiles == nil {
          tokenizerNote =
            "; the file has no vocabulary (tokenizer.ggml.model): add tokenizer files before generating text"
        }
      } catch {
        tokenizerNote = "; no tokenizer files, the vocabulary cannot be used: \(error)"
      }
      try model.save(to: out)
      try tokenizerFiles?.write(toDirectory: out)
    } catch {
      throw CommandLineError("\(error)")
    }
    let config = model.config
    let written = tokenizerFiles.map { ", " + $0.fileNames.joined(separator: ", ") } ?? ""
    printError(
      "wrote \(out): \(config.architecture.className), \(config.layerCount) layers, "
        + "\(config.parameterCount) parameters in \(String(format: "%.1f", Date().timeIntervalSince(start))) s"
        + written + tokenizerNote)
  }
}
