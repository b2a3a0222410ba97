import Foundation
import MiniTensor

/// How `ModelDirectory.exportGGUF(to:options:onTensor:)` writes a GGUF file.
public struct GGUFExportOptions: Sendable, Equatable {
  /// Storage of the matrices, one of ``writableTypes``. Norms and other 1-D tensors stay f32.
  /// `.f32`, `.f16` and `.q8_0` store every matrix so (a `.q8_0` matrix whose rows are not
  /// whole 32-value blocks falls back to f16, as llama.cpp's converter does). `.q4_0`, `.q4_1`
  /// and `.q4_K` follow `llama_model_quantize`'s mix for `MOSTLY_Q4_0`, `MOSTLY_Q4_1` and
  /// `MOSTLY_Q4_K_M`: see `ModelDirectory.storageType(of:shape:requested:layerCount:tied:)`.
  public var type: GGMLType
  /// `general.name`; by default the directory's name.
  public var name: String?
  /// Alignment of the tensor data (`general.alignment`, written when not 32).
  public var alignment: Int

  /// Options for matrices stored as `type`.
  public init(type: GGMLType = .f16, name: String? = nil, alignment: Int = 32) {
    self.type = type
    self.name = name
    self.alignment = alignment
  }

  /// The types `type` may be: the file types `minillm export gguf --type` writes.
  public static let writableTypes: [GGMLType] = [.f32, .f16, .q8_0, .q4_0, .q4_1, .q4_K]

  /// llama.cpp's `general.file_type` (`llama_ftype`) for `type` (`.q4_K` is `MOSTLY_Q4_K_M`).
  public var fileType: UInt32 {
    switch type {
    case .f32: 0
    case .f16: 1
    case .q4_0: 2
    case .q4_1: 3
    case .q8_0: 7
    case .q5_0: 8
    case .q5_1: 9
    case .q2_K: 10
    case .q3_K: 12
    case .q4_K: 15
    case .q5_K: 17
    case .q6_K: 18
    case .bf16: 32
    }
  }
}

extension ModelDirectory {
  /// Exports the model as a GGUF file that llama.cpp loads (architecture `llama`, or `qwen2`
  /// for a Qwen2 model).
  ///
  /// The file holds the architecture metadata, the vocabulary (sentencepiece, or byte-level BPE
  /// from `tokenizer.json`; see `GGUFVocabulary`), and the weights (and attention biases) under llama.cpp's names. For
  /// `llama`, the rows of `q_proj` and `k_proj` are permuted from the Hugging Face RoPE layout
  /// (rotate-half) to the interleaved layout llama.cpp computes with; `qwen2` keeps them, as
  /// llama.cpp's converter does. After writing, the file is read back and checked.
  /// - Parameters:
  ///   - path: the `.gguf` file to write (atomically).
  ///   - onTensor: called before each tensor is written, with its index and the tensor count.
  /// - Returns: the layout of the file written (its `fileSize` is the size on disk).
  /// - Throws: `ModelDirectoryError` or `LlamaConfigError` for a bad model directory,
  ///   `GGUFExportError` for a model llama.cpp cannot represent, `GGUFError` if the written file
  ///   does not read back as written, or the I/O error.
  @discardableResult
  public func exportGGUF(
    to path: String, options: GGUFExportOptions = GGUFExportOptions(),
    onTensor: (_ index: Int, _ count: Int, _ tensor: GGUFTensor) -> Void = { _, _, _ in }
  ) throws -> GGUFLayout {
    let writer = try ggufWriter(options: options)
    let layout = try writer.write(to: path) { index, tensor in
      onTensor(index, writer.tensors.count, tensor)
    }
    try Self.verify(path: path, against: writer, layout: layout)
    return layout
  }

  /// The complete description of the GGUF file `exportGGUF` writes (metadata and tensors, with
  /// the weights memory-mapped), without writing it.
  public func ggufWriter(options: GGUFExportOptions = GGUFExportOptions()) throws -> GGUFWriter {
    guard GGUFExportOptions.writableTypes.contains(options.type) else {
      let names = GGUFExportOptions.writableTypes.map(\.name).joined(separator: ", ")
      throw GGUFExportError(
        key: "type", "\(options.type.name) cannot be written; choose one of \(names)")
    }
    let config = try loadConfig()
    let weights = try loadWeights(for: config)
    let vocabulary = try GGUFVocabulary(directory: self, config: config)
    var writer = GGUFWriter(alignment: options.alignment)
    for (key, value) in try Self.architectureMetadata(config, options: options, directoryPath: path)
    {
      writer.set(key, value)
    }
    for (key, value) in vocabulary.metadata { writer.set(key, value) }
    writer.tensors = try Self.ggufTensors(config: config, weights: weights, type: options.type)
    return writer
  }

  /// llama.cpp's architecture name for `config`: `qwen2` for Qwen2, `llama` otherwise (Mistral
  /// without a sliding window is the Llama decoder).
  static func ggufArchitecture(_ config: LlamaConfig) -> String {
    config.architecture == .qwen2 ? "qwen2" : "llama"
  }

  /// `general.*` and `{architecture}.*` keys.
  static func architectureMetadata(
    _ config: LlamaConfig, options: GGUFExportOptions, directoryPath: String
  ) throws -> [(String, GGUFValue)] {
    let name =
      options.name
      ?? URL(fileURLWithPath: directoryPath).standardizedFileURL
      .lastPathComponent
    let arch = ggufArchitecture(config)
    var result: [(String, GGUFValue)] = [
      ("general.architecture", .string(arch)),
      ("general.name", .string(name)),
      (arch + ".block_count", .uint32(UInt32(config.layerCount))),
      (arch + ".context_length", .uint32(UInt32(config.maxPositions))),
      (arch + ".embedding_length", .uint32(UInt32(config.hiddenSize))),
      (arch + ".feed_forward_length", .uint32(UInt32(config.intermediateSize))),
      (arch + ".attention.head_count", .uint32(UInt32(config.headCount))),
      (arch + ".attention.head_count_kv", .uint32(UInt32(config.kvHeadCount))),
      (arch + ".rope.freq_base", .float32(Float(config.ropeTheta))),
      (arch + ".attention.layer_norm_rms_epsilon", .float32(config.rmsNormEps)),
    ]
    if config.headDim * config.headCount != config.hiddenSize {
      result.append((arch + ".attention.key_length", .uint32(UInt32(config.headDim))))
      result.append((arch + ".attention.value_length", .uint32(UInt32(config.headDim))))
    }
    result += [
      (arch + ".vocab_size", .uint32(UInt32(config.vocabSize))),
      (arch + ".rope.dimension_count", .uint32(UInt32(config.headDim))),
    ]
    switch config.ropeScaling {
    case nil: break
    case .linear(let factor):
      result.append((arch + ".rope.scaling.type", .string("linear")))
      result.append((arch + ".rope.scaling.factor", .float32(Float(factor))))
    case .llama3 where config.architecture == .qwen2:
      throw GGUFExportError(
        key: "rope_parameters.rope_type",
        "llama.cpp's qwen2 architecture has no Llama 3 RoPE scaling; export a model without it")
    case .llama3:
      // llama.cpp applies Llama 3 scaling through the `rope_freqs.weight` tensor alone; it has
      // no "llama3" scaling type and refuses a file that names one.
      break
    case .dynamic:
      throw GGUFExportError(
        key: "rope_parameters.rope_type",
        "dynamic NTK scaling has no llama.cpp equivalent; export a model without it")
    }
    result += [
      ("general.file_type", .uint32(options.fileType)),
      ("general.quantization_version", .uint32(2)),
    ]
    return result
  }

  /// The tensors under llama.cpp's names, each with its storage type. Llama's q and k rows
  /// (weights and biases) are permuted to ggml's interleaved RoPE layout; Qwen2's are not, as
  /// llama.cpp computes Qwen2 with the rotate-half (NEOX) RoPE of the Hugging Face layout.
  static func ggufTensors(config: LlamaConfig, weights: [String: Tensor], type: GGMLType) throws
    -> [GGUFTensor]
  {
    func tensor(_ ggufName: String, _ hfName: String, permuteHeads: Int? = nil) throws
      -> GGUFTensor
    {
      let source = weights[hfName]!
      try requireFinite(source, name: hfName)
      let heads = config.architecture == .qwen2 ? nil : permuteHeads
      let values = heads.map { ggufPermutedRows(source, headCount: $0) } ?? source
      return GGUFTensor(
        name: ggufName,
        type: storageType(
          of: ggufName, shape: values.shape, requested: type, layerCount: config.layerCount,
          tied: config.tieWordEmbeddings),
        values: values)
    }
    var result: [GGUFTensor] = []
    if case .llama3 = config.ropeScaling {
      result.append(
        GGUFTensor(name: "rope_freqs.weight", type: .f32, values: llama3RopeFactors(config)))
    }
    result.append(try tensor("token_embd.weight", "model.embed_tokens.weight"))
    let biases = Set(config.biasedProjections)
    for i in 0..<config.layerCount {
      let hf = "model.layers.\(i)."
      let gg = "blk.\(i)."
      result.append(try tensor(gg + "attn_norm.weight", hf + "input_layernorm.weight"))
      for (short, projection, heads) in [
        ("attn_q", "q_proj", config.headCount), ("attn_k", "k_proj", config.kvHeadCount),
        ("attn_v", "v_proj", nil), ("attn_output", "o_proj", nil),
      ] {
        let source = hf + "self_attn.\(projection)."
        result.append(try tensor(gg + short + ".weight", source + "weight", permuteHeads: heads))
        if biases.contains(projection) {
          result.append(try tensor(gg + short + ".bias", source + "bias", permuteHeads: heads))
        }
      }
      result += [
        try tensor(gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight"),
        try tensor(gg + "ffn_gate.weight", hf + "mlp.gate_proj.weight"),
        try tensor(gg + "ffn_up.weight", hf + "mlp.up_proj.weight"),
        try tensor(gg + "ffn_down.weight", hf + "mlp.down_proj.weight"),
      ]
    }
    result.append(try tensor("output_norm.weight", "model.norm.weight"))
    if !config.tieWordEmbeddings {
      result.append(try tensor("output.weight", "lm_head.weight"))
    }
    return result
  }

  /// The storage of the tensor `name` of shape `shape` (PyTorch order) when the file's type is
  /// `requested`.
  ///
  /// 1-D tensors and norms are f32. For `.f32`, `.f16` and `.q8_0`, every matrix is `requested`,
  /// except q8_0 rows that are not whole blocks, which fall back to f16 (llama.cpp's converter).
  /// For `.q4_0`, `.q4_1` and `.q4_K` the choice is `llama_model_quantize`'s
  /// (`llama_tensor_get_type`) for the same file type:
  /// - the output head (the token embedding when the head is tied) is q6_K, or q8_0 when its
  ///   rows are not whole blocks of `requested`;
  /// - for `.q4_K` (`Q4_K_M`), `attn_v` and `ffn_down` of the layers `use_more_bits` picks
  ///   (the first and last eighth, and every third layer between) are q6_K;
  /// - a matrix whose rows are not whole blocks of its type falls back as llama.cpp does
  ///   (q4_K → q5_0, q6_K → q8_0), and to f16 when still not whole blocks (where llama.cpp
  ///   would refuse the tensor).
  public static func storageType(
    of name: String, shape: [Int], requested: GGMLType, layerCount: Int, tied: Bool
  ) -> GGMLType {
    if shape.count <= 1 || name.hasSuffix("_norm.weight") { return .f32 }
    let rowLength = shape.last!
    switch requested {
    case .q4_0, .q4_1, .q4_K:
      break
    default:
      return rowLength % requested.blockSize == 0 ? requested : .f16
    }
    var type = requested
    let isHead = name == "output.weight" || (tied && name == "token_embd.weight")
    if isHead {
      type = rowLength % requested.blockSize != 0 ? .q8_0 : .q6_K
    } else if requested == .q4_K,
      name.hasSuffix(".attn_v.weight") || name.hasSuffix(".ffn_down.weight"),
      let layer = ggufLayerIndex(name), usesMoreBits(layer: layer, of: layerCount)
    {
      type = .q6_K
    }
    if rowLength % type.blockSize != 0 {
      switch type {
      case .q4_K: type = .q5_0
      case .q6_K: type = .q8_0
      default: type = .f16
      }
      if rowLength % type.blockSize != 0 { type = .f16 }
    }
    return type
  }

  /// llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third
  /// layer between.
  static func usesMoreBits(layer: Int, of count: Int) -> Bool {
    layer < count / 8 || layer >= 7 * count / 8 || (layer - count / 8) % 3 == 2
  }

  /// `N` of a `blk.N.…` tensor name.
  static func ggufLayerIndex(_ name: String) -> Int? {
    let parts = name.split(separator: ".")
    guard parts.count > 2, parts[0] == "blk" else { return nil }
    return Int(parts[1])
  }

  private static func requireFinite(_ tensor: Tensor, name: String) throws {
    let finite = tensor.withUnsafeBufferPointer { values in values.allSatisfy { $0.isFinite } }
    guard finite else {
      throw GGUFExportError(key: name, "the weight holds NaN or infinite values")
    }
  }

  /// llama.cpp's Llama 3 RoPE frequency factors (the converter's `rope_freqs.weight`): for each
  /// frequency, 1 above the high-frequency band, `factor` below the low one, and a smooth
  /// interpolation between.
  static func llama3RopeFactors(_ config: LlamaConfig) -> Tensor {
    guard let scaling = config.ropeScaling else {
      preconditionFailure("llama3RopeFactors: the config has no llama3 RoPE scaling")
    }
    let factors = llama3RopeFactors(
      headDim: config.headDim, theta: config.ropeTheta, scaling: scaling)
    return Tensor(factors, shape: [config.headDim / 2])
  }

  /// The factors of ``llama3RopeFactors(_:)`` for a head of `headDim` and RoPE base `theta`.
  static func llama3RopeFactors(headDim dim: Int, theta: Double, scaling: RopeScaling) -> [Float] {
    guard case .llama3(let factor, let low, let high, let original) = scaling else {
      preconditionFailure("llama3RopeFactors: not a llama3 RoPE scaling")
    }
    let lowWavelength = Float(original) / Float(low)
    let highWavelength = Float(original) / Float(high)
    return stride(from: 0, to: dim, by: 2).map { i in
      let frequency = 1 / pow(Float(theta), Float(i) / Float(dim))
      let wavelength = 2 * Float.pi / frequency
      if wavelength < highWavelength { return 1 }
      if wavelength > lowWavelength { return Float(factor) }
      let smooth = (Float(original) / wavelength - Float(low)) / Float(high - low)
      return 1 / ((1 - smooth) / Float(factor) + smooth)
    }
  }

  /// Reads the file back and checks every key, tensor info and the size against what was meant.
  static func verify(path: String, against writer: GGUFWriter, layout: GGUFLayout) throws {
    let reader = try GGUFReader(path: path)
    func fail(_ field: String, _ message: String) -> GGUFError {
      GGUFError(path: path, field: field, "read back differently from what was written: \(message)")
    }
    guard reader.fileSize == layout.fileSize else {
      throw fail("size", "\(reader.fileSize) bytes, expected \(layout.fileSize)")
    }
    guard reader.dataOffset == layout.dataOffset else {
      throw fail("data", "data at \(reader.dataOffset), expected \(layout.dataOffset)")
    }
    guard reader.metadata.count == writer.metadata.count else {
      throw fail("metadata_kv_count", "\(reader.metadata.count) keys")
    }
    for (written, read) in zip(writer.metadata, reader.metadata)
    where written.key != read.key || written.value != read.value {
      throw fail(written.key, "value differs")
    }
    guard reader.tensors.count == writer.tensors.count else {
      throw fail("tensor_count", "\(reader.tensors.count) tensors")
    }
    for (index, (tensor, info)) in zip(writer.tensors, reader.tensors).enumerated()
    where info.name != tensor.name || info.dimensions != tensor.dimensions
      || info.type != tensor.type || info.offset != layout.tensorOffsets[index]
    {
      throw fail("tensor '\(tensor.name)'", "info differs")
    }
  }
}

/// Permutes the rows of a `q_proj`/`k_proj` weight from the Hugging Face RoPE layout (each
/// head's first half of rows rotates with its second half) to the interleaved layout llama.cpp
/// uses (rows 2i and 2i+1 rotate together), as `LlamaModel.permute` in llama.cpp's
/// `convert_hf_to_gguf.py` does: `reshape(heads, 2, headDim/2, in).swapaxes(1, 2)`.
/// Row `h·d + 2i + j` of the result is row `h·d + j·d/2 + i` of `weight` (a `[rows, in]`
/// matrix or a `[rows]` bias).
func ggufPermutedRows(_ weight: Tensor, headCount: Int) -> Tensor {
  precondition(
    (1...2).contains(weight.shape.count) && weight.shape[0] % (2 * headCount) == 0,
    "ggufPermutedRows: shape \(weight.shape) for \(headCount) heads")
  let rows = weight.shape[0]
  let columns = weight.shape.count == 2 ? weight.shape[1] : 1
  let headDim = rows / headCount
  let half = headDim / 2
  return weight.withUnsafeBufferPointer { source in
    Tensor(shape: weight.shape) { destination in
      for h in 0..<headCount {
        for i in 0..<half {
          for j in 0..<2 {
            let to = (h * headDim + 2 * i + j) * columns
            let from = (h * headDim + j * half + i) * columns
            for c in 0..<columns { destination[to + c] = source[from + c] }
          }
        }
      }
    }
  }
}

/// A model that GGUF cannot represent for llama.cpp; names the config key or tensor.
public struct GGUFExportError: Error, CustomStringConvertible, Sendable {
  /// The config key or tensor name.
  public let key: String
  /// What is wrong.
  public let message: String

  init(key: String, _ message: String) {
    self.key = key
    self.message = message
  }

  public var description: String { "GGUF export: '\(key)': \(message)" }
}
