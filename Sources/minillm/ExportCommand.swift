import ArgumentParser
import Foundation
import MiniLlama

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Export a model directory to another format.",
    subcommands: [ExportGGUF.self]
  )
}

/// The matrix storage `export gguf --type` writes (the names llama.cpp's tools print, lowercased).
enum ExportType: String, CaseIterable, ExpressibleByArgument {
  case f32, f16, q8_0, q4_0, q4_1, q4_k

  var ggmlType: GGMLType {
    switch self {
    case .f32: .f32
    case .f16: .f16
    case .q8_0: .q8_0
    case .q4_0: .q4_0
    case .q4_1: .q4_1
    case .q4_k: .q4_K
    }
  }
}

struct ExportGGUF: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gguf",
    abstract: "Write a GGUF file that llama.cpp loads and runs.",
    discussion: """
      Reads config.json, the weights and tokenizer.model, or without one a byte-level BPE \
      tokenizer.json (plus tokenizer_config.json for the special tokens, the chat template and \
      the BOS/EOS flags) from the model directory; a tokenizer.json whose pre-tokenizer \
      llama.cpp does not know is refused. Matrices are stored as \
      --type; norms stay f32, and q8_0 matrices whose rows are not multiples of 32 are stored \
      as f16. q4_0, q4_1 and q4_k are quantized bit for bit as llama.cpp's llama-quantize \
      (Q4_0, Q4_1, Q4_K_M) would from an f32 file, with its mix: the output head (or the \
      tied embedding) in q6_K (q8_0 when its rows are not multiples of 256), and for q4_k the \
      attn_v and ffn_down matrices of some layers in q6_K. The file is read back and checked \
      after writing.
      """
  )

  @Option(
    help: "Model directory (config.json, model.safetensors, tokenizer.model or tokenizer.json).")
  var model: String

  @Option(help: "The .gguf file to write.")
  var out: String

  @Option(help: "Storage of the weight matrices.")
  var type: ExportType = .f16

  @Option(help: "general.name in the file (default: the model directory's name).")
  var name: String?

  @Flag(help: "Replace --out if it exists.")
  var overwrite = false

  func run() throws {
    let directory = ModelDirectory(path: model)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory),
      isDirectory.boolValue
    else {
      throw CommandLineError("--model: \(model) is not a directory")
    }
    if FileManager.default.fileExists(atPath: out),
      (try? FileManager.default.attributesOfItem(atPath: out)[.type] as? FileAttributeType)
        != .typeRegular
    {
      throw CommandLineError("--out: \(out) exists and is not a regular file; it is never replaced")
    }
    if FileManager.default.fileExists(atPath: out), !overwrite {
      throw CommandLineError("--out: \(out) exists; pass --overwrite to replace it")
    }
    let parent = URL(fileURLWithPath: out).deletingLastPathComponent().path
    guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory),
      isDirectory.boolValue
    else {
      throw CommandLineError("--out: the folder \(parent) does not exist")
    }
    let start = Date()
    printError("exporting \(model) → \(out) (\(type.ggmlType.name))")
    let layout: GGUFLayout
    do {
      layout = try directory.exportGGUF(
        to: out, options: GGUFExportOptions(type: type.ggmlType, name: name)
      ) { index, count, tensor in
        let width = String(count).count
        let number = String(index + 1).leftPadded(to: width)
        printError(
          "[\(number)/\(count)] \(tensor.name) \(tensor.type.name) \(tensor.dimensions)")
      }
    } catch let error as ModelDirectoryError {
      throw CommandLineError("--model: \(error)")
    } catch let error as LlamaConfigError {
      throw CommandLineError("--model: \(directory.file("config.json")): \(error)")
    } catch {
      throw CommandLineError("\(error)")
    }
    let seconds = Date().timeIntervalSince(start)
    let megabytes = Double(layout.fileSize) / 1_048_576
    printError(
      "wrote \(out): \(layout.tensorOffsets.count) tensors, \(layout.fileSize) bytes "
        + "(\(String(format: "%.1f", megabytes)) MiB) in \(String(format: "%.1f", seconds)) s; "
        + "read back and verified")
  }
}

extension String {
  fileprivate func leftPadded(to width: Int) -> String {
    String(repeating: " ", count: max(0, width - count)) + self
  }
}
