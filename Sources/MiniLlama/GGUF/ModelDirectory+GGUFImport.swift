import Foundation
import MiniTensor

/// Reading a GGUF file (`general.architecture` `llama` or `qwen2`) as a model: the configuration
/// from its metadata, the weights dequantised to `Float` under their Hugging Face names.
extension ModelDirectory {
  /// Whether ``path`` is a file (not a folder) that starts with GGUF's magic: such a path is read
  /// as a GGUF model wherever a model directory is read.
  public var isGGUFFile: Bool {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      !isDirectory.boolValue, let handle = FileHandle(forReadingAtPath: path)
    else { return false }
    defer { try? handle.close() }
    let magic = (try? handle.read(upToCount: 4)) ?? Data()
    return magic == Data("GGUF".utf8)
  }

  /// The configuration and the `Float` weights (by Hugging Face name) of the GGUF file at
  /// ``path``, with ggml's interleaved q/k row order of `llama` files undone.
  /// - Throws: `GGUFError` naming the file and the metadata key or tensor at fault.
  public func loadGGUF() throws -> (config: LlamaConfig, weights: [String: Tensor]) {
    let reader = try GGUFReader(path: path)
    let config = try LlamaConfig(gguf: reader)
    return (config, try Self.ggufWeights(reader, config: config))
  }

  /// Each weight of `config` under its GGUF name, with the head count to un-permute its rows by
  /// (llama's q and k, weights and biases).
  static func ggufNames(_ config: LlamaConfig) -> [(gguf: String, hf: String, heads: Int?)] {
    let permute = config.architecture == .llama
    var result: [(String, String, Int?)] = [("token_embd.weight", "model.embed_tokens.weight", nil)]
    let biased = Set(config.biasedProjections)
    for i in 0..<config.layerCount {
      let (gg, hf) = ("blk.\(i).", "model.layers.\(i).")
      for (short, projection, heads) in [
        ("attn_q", "q_proj", config.headCount), ("attn_k", "k_proj", config.kvHeadCount),
        ("attn_v", "v_proj", nil), ("attn_output", "o_proj", nil),
      ] {
        let rows = permute ? heads : nil
        result.append((gg + short + ".weight", hf + "self_attn.\(projection).weight", rows))
        if biased.contains(projection) {
          result.append((gg + short + ".bias", hf + "self_attn.\(projection).bias", rows))
        }
      }
      result += [
        (gg + "attn_norm.weight", hf + "input_layernorm.weight", nil),
        (gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight", nil),
        (gg + "ffn_gate.weight", hf + "mlp.gate_proj.weight", nil),
        (gg + "ffn_up.weight", hf + "mlp.up_proj.weight", nil),
        (gg + "ffn_down.weight", hf + "mlp.down_proj.weight", nil),
      ]
    }
    result.append(("output_norm.weight", "model.norm.weight", nil))
    if !config.tieWordEmbeddings { result.append(("output.weight", "lm_head.weight", nil)) }
    return result
  }

  /// Every weight `config` needs, present with its shape, dequantised; no tensor left over.
  static func ggufWeights(_ reader: GGUFReader, config: LlamaConfig) throws -> [String: Tensor] {
    try ggufWeights(reader, config: config, keepingBlocks: false).dense
  }

  /// Every weight `config` needs, present with its shape; no tensor left over. With
  /// `keepingBlocks`, the projections and the head stored in a format with decoding kernels
  /// (``GGMLMatrix/Format``: q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K) stay as their blocks under their
  /// Hugging Face names (a tied head under `model.embed_tokens.weight`, which is then also
  /// dequantised for the embedding); everything else is dequantised.
  /// - Throws: `GGUFError` naming the tensor at fault.
  static func ggufWeights(
    _ reader: GGUFReader, config: LlamaConfig, keepingBlocks: Bool
  ) throws -> (dense: [String: Tensor], blocks: [String: GGMLMatrix]) {
    let shapes = Dictionary(uniqueKeysWithValues: config.tensorShapes.map { ($0.name, $0.shape) })
    var dense: [String: Tensor] = [:]
    var blocks: [String: GGMLMatrix] = [:]
    var used = Set<String>()
    for (gguf, hf, heads) in ggufNames(config) {
      let shape = shapes[hf]!
      guard let info = reader.tensor(named: gguf) else {
        throw GGUFError(
          path: reader.path, field: "tensor '\(gguf)'",
          "missing (the metadata describes a model that needs it, shape \(shape))")
      }
      guard info.shape == shape else {
        throw GGUFError(
          path: reader.path, field: "tensor '\(gguf)'.ne",
          "shape \(info.shape) does not match the metadata, which needs \(shape)")
      }
      used.insert(gguf)
      let isHead =
        hf == "lm_head.weight" || (hf == "model.embed_tokens.weight" && config.tieWordEmbeddings)
      if keepingBlocks, shape.count == 2, isHead || hf.hasSuffix("_proj.weight"),
        let format = GGMLMatrix.Format(ggmlType: info.type.rawValue)
      {
        var matrix: GGMLMatrix
        do {
          matrix = try GGMLMatrix(
            format: format, rows: shape[0], cols: shape[1], bytes: reader.bytes(of: info))
        } catch {
          throw GGUFError(path: reader.path, field: "tensor '\(gguf)'", "\(error)")
        }
        if let heads {
          matrix = matrix.reorderingRows(ggufUnpermutedOrder(rows: shape[0], headCount: heads))
        }
        blocks[hf] = matrix
        if hf != "model.embed_tokens.weight" { continue }
      }
      var tensor = Tensor(reader.values(of: info), shape: shape)
      let finite = tensor.withUnsafeBufferPointer { $0.allSatisfy(\.isFinite) }
      guard finite else {
        throw GGUFError(
          path: reader.path, field: "tensor '\(gguf)'", "holds NaN or infinite values")
      }
      if let heads { tensor = ggufUnpermutedRows(tensor, headCount: heads) }
      dense[hf] = tensor
    }
    // Llama 3 RoPE factors are read with the metadata (`LlamaConfig(gguf:)`).
    if case .llama3 = config.ropeScaling { used.insert("rope_freqs.weight") }
    for info in reader.tensors where !used.contains(info.name) {
      throw GGUFError(
        path: reader.path, field: "tensor '\(info.name)'",
        "not part of a \(config.architecture.rawValue) model as the metadata describes it")
    }
    return (dense, blocks)
  }
}

/// The row order that undoes ``ggufPermutedRows(_:headCount:)``: row `h·d + j·d/2 + i` of the
/// result is row `h·d + 2i + j` of the stored matrix.
func ggufUnpermutedOrder(rows: Int, headCount: Int) -> [Int] {
  let headDim = rows / headCount
  let half = headDim / 2
  var order = [Int](repeating: 0, count: rows)
  for h in 0..<headCount {
    for i in 0..<half {
      for j in 0..<2 { order[h * headDim + j * half + i] = h * headDim + 2 * i + j }
    }
  }
  return order
}

/// Undoes ``ggufPermutedRows(_:headCount:)``: row `h·d + j·d/2 + i` of the result is row
/// `h·d + 2i + j` of `weight` (a `[rows, in]` matrix or a `[rows]` bias).
func ggufUnpermutedRows(_ weight: Tensor, headCount: Int) -> Tensor {
  precondition(
    (1...2).contains(weight.shape.count) && weight.shape[0] % (2 * headCount) == 0,
    "ggufUnpermutedRows: shape \(weight.shape) for \(headCount) heads")
  let rows = weight.shape[0]
  let columns = weight.shape.count == 2 ? weight.shape[1] : 1
  let headDim = rows / headCount
  let half = headDim / 2
  return weight.withUnsafeBufferPointer { source in
    Tensor(shape: weight.shape) { destination in
      for h in 0..<headCount {
        for i in 0..<half {
          for j in 0..<2 {
            let to = (h * headDim + j * half + i) * columns
            let from = (h * headDim + 2 * i + j) * columns
            for c in 0..<columns { destination[to + c] = source[from + c] }
          }
        }
      }
    }
  }
}

extension LlamaConfig {
  /// The configuration that a GGUF file's metadata describes, as llama.cpp reads it:
  /// `general.architecture` (`llama` or `qwen2`), then `{arch}.block_count`,
  /// `.context_length`, `.embedding_length`, `.feed_forward_length`, `.attention.head_count`,
  /// `.attention.head_count_kv`, `.attention.key_length`, `.rope.freq_base`,
  /// `.rope.dimension_count`, `.rope.scaling.*`, `.attention.layer_norm_rms_epsilon`, the
  /// vocabulary size and the special token ids; the head is tied when there is no `output.weight`.
  /// - Throws: `GGUFError` naming the key at fault.
  public init(gguf reader: GGUFReader) throws {
    let path = reader.path
    func fail(_ key: String, _ message: String) -> GGUFError {
      GGUFError(path: path, field: key, message)
    }
    guard case .string(let name)? = reader.value("general.architecture") else {
      throw fail("general.architecture", "missing or not a string")
    }
    guard let architecture = LlamaArchitecture(rawValue: name), architecture != .mistral else {
      throw fail("general.architecture", "\"\(name)\" is not supported (llama or qwen2 are)")
    }
    func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
      guard let value = reader.value(name + "." + key) else {
        guard let fallback else { throw fail(name + "." + key, "missing") }
        return fallback
      }
      guard let number = value.integerValue, number >= 0, number <= Int(Int32.max) else {
        throw fail(name + "." + key, "expected a non-negative integer, got \(value)")
      }
      return number
    }
    func number(_ key: String, default fallback: Double? = nil) throws -> Double {
      guard let value = reader.value(name + "." + key) else {
        guard let fallback else { throw fail(name + "." + key, "missing") }
        return fallback
      }
      guard let number = value.floatingValue, number.isFinite else {
        throw fail(name + "." + key, "expected a finite number, got \(value)")
      }
      return number
    }
    func tokenId(_ key: String) throws -> Int? {
      guard let value = reader.value("tokenizer.ggml." + key) else { return nil }
      guard let id = value.integerValue, id >= 0 else {
        throw fail("tokenizer.ggml." + key, "expected a non-negative integer, got \(value)")
      }
      return id
    }
    if try integer("expert_count", default: 0) > 0 {
      throw fail(name + ".expert_count", "mixture-of-experts models are not supported")
    }
    let hidden = try integer("embedding_length")
    let heads = try integer("attention.head_count")
    guard heads > 0 else { throw fail(name + ".attention.head_count", "must be positive") }
    let headDim = try integer("attention.key_length", default: hidden / heads)
    guard try integer("attention.value_length", default: headDim) == headDim else {
      throw fail(name + ".attention.value_length", "must equal attention.key_length \(headDim)")
    }
    guard try integer("rope.dimension_count", default: headDim) == headDim else {
      throw fail(
        name + ".rope.dimension_count",
        "partial rotary embeddings are not supported "
          + "(RoPE must cover the head dimension \(headDim))")
    }
    var scaling: RopeScaling?
    if case .string(let type)? = reader.value(name + ".rope.scaling.type"), type != "none" {
      guard type == "linear" else {
        throw fail(name + ".rope.scaling.type", "\"\(type)\" is not supported (linear is)")
      }
      scaling = .linear(factor: try number("rope.scaling.factor"))
    } else if let value = reader.value(name + ".rope.scaling.type"), value.stringValue == nil {
      throw fail(name + ".rope.scaling.type", "expected a string, got \(value)")
    }
    if let factors = try LlamaConfig.ropeFrequencyFactors(reader, headDim: headDim) {
      // llama.cpp's converter writes Llama 3 scaling as these factors alone; the parameters
      // that give them back are `rope_scaling` for a Hugging Face directory.
      guard scaling == nil,
        let llama3 = LlamaConfig.llama3Scaling(
          matching: factors, headDim: headDim,
          theta: try number("rope.freq_base", default: 10_000))
      else {
        throw fail(
          "tensor 'rope_freqs.weight'",
          "per-frequency RoPE factors that no Llama 3 scaling (factor, low and high frequency "
            + "factors, original context) gives are not supported")
      }
      scaling = llama3
    }
    guard let embedding = reader.tensor(named: "token_embd.weight"),
      embedding.dimensions.count == 2
    else {
      throw fail("tensor 'token_embd.weight'", "missing or not a matrix")
    }
    let vocabulary = try integer("vocab_size", default: embedding.dimensions[1])
    var biased = false
    if architecture == .llama {
      biased = reader.tensor(named: "blk.0.attn_q.bias") != nil
    }
    let eos = try tokenId("eos_token_id")
    self.init(
      vocabSize: vocabulary, hiddenSize: hidden,
      intermediateSize: try integer("feed_forward_length"),
      layerCount: try integer("block_count"), headCount: heads,
      kvHeadCount: try integer("attention.head_count_kv", default: heads), headDim: headDim,
      maxPositions: try integer("context_length"),
      rmsNormEps: Float(try number("attention.layer_norm_rms_epsilon")),
      ropeTheta: try number("rope.freq_base", default: 10_000), ropeScaling: scaling,
      tieWordEmbeddings: reader.tensor(named: "output.weight") == nil,
      bosTokenId: try tokenId("bos_token_id"), eosTokenIds: eos.map { [$0] } ?? [],
      padTokenId: try tokenId("padding_token_id"))
    self.architecture = architecture
    self.attentionBias = biased
    do {
      try validate()
    } catch {
      throw fail(Self.ggufKey(for: error, architecture: name), "\(error)")
    }
  }

  /// The GGUF metadata key behind a `config.json` key named in `error`.
  private static func ggufKey(for error: LlamaConfigError, architecture: String) -> String {
    guard case .invalid(let key, _) = error else { return "metadata" }
    let keys = [
      "vocab_size": "vocab_size", "hidden_size": "embedding_length",
      "intermediate_size": "feed_forward_length", "num_hidden_layers": "block_count",
      "num_attention_heads": "attention.head_count",
      "num_key_value_heads": "attention.head_count_kv", "head_dim": "attention.key_length",
      "max_position_embeddings": "context_length",
      "rms_norm_eps": "attention.layer_norm_rms_epsilon", "rope_theta": "rope.freq_base",
      "rope_parameters.factor": "rope.scaling.factor",
    ]
    if let mapped = keys[key] { return architecture + "." + mapped }
    let tokens = [
      "bos_token_id": "bos_token_id", "eos_token_id": "eos_token_id",
      "pad_token_id": "padding_token_id",
    ]
    if let mapped = tokens[key] { return "tokenizer.ggml." + mapped }
    return key
  }
}

extension LlamaConfig {
  /// A GGUF file's `rope_freqs.weight` (llama.cpp's per-frequency RoPE divisors), checked:
  /// `headDim / 2` finite positive f32 values; `nil` when the file has none.
  /// - Throws: `GGUFError` naming the tensor.
  static func ropeFrequencyFactors(_ reader: GGUFReader, headDim: Int) throws -> [Float]? {
    guard let tensor = reader.tensor(named: "rope_freqs.weight") else { return nil }
    let field = "tensor 'rope_freqs.weight'"
    guard tensor.type == .f32, tensor.count == headDim / 2 else {
      throw GGUFError(
        path: reader.path, field: field,
        "expected \(headDim / 2) f32 values (half the head dimension), got "
          + "\(tensor.count) of \(tensor.type)")
    }
    let values = reader.values(of: tensor)
    guard values.allSatisfy({ $0.isFinite && $0 > 0 }) else {
      throw GGUFError(path: reader.path, field: field, "a factor is not a finite positive number")
    }
    return values
  }

  /// The Llama 3 scaling among those published models use whose frequency factors are
  /// `factors` (to 1e-5), or `nil` (also for factors that are all 1).
  static func llama3Scaling(matching factors: [Float], headDim: Int, theta: Double)
    -> RopeScaling?
  {
    for original in [8192, 4096, 2048, 16_384, 32_768, 65_536] {
      for factor in [8.0, 32.0, 16.0, 4.0, 2.0, 64.0] {
        for (low, high) in [(1.0, 4.0), (1.0, 2.0), (2.0, 8.0), (1.0, 8.0)] {
          let candidate = RopeScaling.llama3(
            factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high,
            originalMaxPositions: original)
          let computed = ModelDirectory.llama3RopeFactors(
            headDim: headDim, theta: theta, scaling: candidate)
          // A scaling that leaves every frequency alone says nothing about its parameters.
          if computed.contains(where: { $0 != 1 }),
            zip(computed, factors).allSatisfy({ abs($0 - $1) <= 1e-5 * $1 })
          {
            return candidate
          }
        }
      }
    }
    return nil
  }
}
