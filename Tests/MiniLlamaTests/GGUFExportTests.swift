import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import TestSupport
import Testing

@Suite("GGUF export")
struct GGUFExportTests {
  static let fixtures = [
    "hf-tiny-llama", "llama-tied-gqa4", "llama-linear-rope", "llama-llama3-rope",
  ]

  /// The llama.cpp name and Hugging Face name of every weight, with the head count of q and k.
  static func tensorMap(_ config: LlamaConfig) -> [(gguf: String, hf: String, heads: Int?)] {
    var result: [(String, String, Int?)] = [("token_embd.weight", "model.embed_tokens.weight", nil)]
    for i in 0..<config.layerCount {
      let hf = "model.layers.\(i)."
      let gg = "blk.\(i)."
      result += [
        (gg + "attn_q.weight", hf + "self_attn.q_proj.weight", config.headCount),
        (gg + "attn_k.weight", hf + "self_attn.k_proj.weight", config.kvHeadCount),
        (gg + "attn_v.weight", hf + "self_attn.v_proj.weight", nil),
        (gg + "attn_output.weight", hf + "self_attn.o_proj.weight", nil),
        (gg + "ffn_gate.weight", hf + "mlp.gate_proj.weight", nil),
        (gg + "ffn_up.weight", hf + "mlp.up_proj.weight", nil),
        (gg + "ffn_down.weight", hf + "mlp.down_proj.weight", nil),
        (gg + "attn_norm.weight", hf + "input_layernorm.weight", nil),
        (gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight", nil),
      ]
    }
    result.append(("output_norm.weight", "model.norm.weight", nil))
    if !config.tieWordEmbeddings { result.append(("output.weight", "lm_head.weight", nil)) }
    return result
  }

  /// Every key the export must write, with its value, built from the config and the tokenizer.
  static func expectedMetadata(
    config: LlamaConfig, tokenizer: SentencePieceTokenizer, name: String, type: GGMLType,
    chatTemplate: String?, addBOS: Bool = true
  ) -> [String: GGUFValue] {
    var m: [String: GGUFValue] = [
      "general.architecture": .string("llama"),
      "general.name": .string(name),
      "general.file_type": .uint32([GGMLType.f32: 0, .f16: 1, .q8_0: 7][type]!),
      "general.quantization_version": .uint32(2),
      "llama.block_count": .uint32(UInt32(config.layerCount)),
      "llama.context_length": .uint32(UInt32(config.maxPositions)),
      "llama.embedding_length": .uint32(UInt32(config.hiddenSize)),
      "llama.feed_forward_length": .uint32(UInt32(config.intermediateSize)),
      "llama.attention.head_count": .uint32(UInt32(config.headCount)),
      "llama.attention.head_count_kv": .uint32(UInt32(config.kvHeadCount)),
      "llama.attention.layer_norm_rms_epsilon": .float32(config.rmsNormEps),
      "llama.rope.freq_base": .float32(Float(config.ropeTheta)),
      "llama.rope.dimension_count": .uint32(UInt32(config.headDim)),
      "llama.vocab_size": .uint32(UInt32(config.vocabSize)),
      "tokenizer.ggml.model": .string("llama"),
      "tokenizer.ggml.pre": .string("default"),
      "tokenizer.ggml.add_bos_token": .bool(addBOS),
      "tokenizer.ggml.add_eos_token": .bool(false),
      "tokenizer.ggml.add_space_prefix": .bool(false),
    ]
    if config.headDim * config.headCount != config.hiddenSize {
      m["llama.attention.key_length"] = .uint32(UInt32(config.headDim))
      m["llama.attention.value_length"] = .uint32(UInt32(config.headDim))
    }
    switch config.ropeScaling {
    case .linear(let factor):
      m["llama.rope.scaling.type"] = .string("linear")
      m["llama.rope.scaling.factor"] = .float32(Float(factor))
    default: break
    }
    var tokens: [String] = []
    var scores: [Float] = []
    var types: [Int32] = []
    for id in 0..<config.vocabSize {
      guard id < tokenizer.vocabularySize else {
        tokens.append("[PAD\(id)]")
        scores.append(-10_000)
        types.append(5)
        continue
      }
      let piece = tokenizer.piece(for: id)!
      tokens.append(piece)
      scores.append(tokenizer.score(for: id))
      if GGUFTestModel.specials.contains(piece) {
        types.append(4)  // libsentencepiece reports user-defined pieces as normal
        continue
      }
      switch tokenizer.kind(of: id) {
      case .normal: types.append(1)
      case .unknown: types.append(2)
      case .control: types.append(3)
      case .unused: types.append(5)
      case .byte: types.append(6)
      }
    }
    m["tokenizer.ggml.tokens"] = .strings(tokens)
    m["tokenizer.ggml.scores"] = .float32s(scores)
    m["tokenizer.ggml.token_type"] = .int32s(types)
    let special = tokenizer.specialIDs
    let ids: [(String, Int?)] = [
      ("bos", config.bosTokenId ?? special.bos), ("eos", config.eosTokenIds.first ?? special.eos),
      ("unknown", special.unknown), ("padding", config.padTokenId ?? special.pad),
    ]
    for (key, id) in ids {
      if let id { m["tokenizer.ggml.\(key)_token_id"] = .uint32(UInt32(id)) }
    }
    if let chatTemplate { m["tokenizer.chat_template"] = .string(chatTemplate) }
    return m
  }

  /// The converter's Llama 3 RoPE factors, computed in `Double`.
  static func llama3Factors(_ config: LlamaConfig) -> [Float] {
    guard case .llama3(let factor, let low, let high, let original) = config.ropeScaling else {
      return []
    }
    return stride(from: 0, to: config.headDim, by: 2).map { i in
      let frequency = 1 / pow(config.ropeTheta, Double(i) / Double(config.headDim))
      let wavelength = 2 * Double.pi / frequency
      if wavelength < Double(original) / high { return 1 }
      if wavelength > Double(original) / low { return Float(factor) }
      let smooth = (Double(original) / wavelength - low) / (high - low)
      return Float(1 / ((1 - smooth) / factor + smooth))
    }
  }

  @Test(arguments: fixtures, [GGMLType.f32, .f16, .q8_0])
  func exportsEveryKeyAndTensor(fixture: String, type: GGMLType) throws {
    let extra = fixture == "llama-tied-gqa4" ? 5 : 0  // vocab_size above the tokenizer's pieces
    let (path, config, tokenizer) = try GGUFTestModel.directory(
      fixture: fixture, extraVocabulary: extra)
    let out = try temporaryDirectory("gguf-out") + "/model.gguf"
    var progress: [Int] = []
    let layout = try ModelDirectory(path: path).exportGGUF(
      to: out, options: GGUFExportOptions(type: type)
    ) { index, count, _ in
      progress.append(index)
      #expect(count == tensorCount(config))
    }
    #expect(progress == Array(0..<tensorCount(config)))

    let reader = try GGUFReader(path: out)
    let size = try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int
    #expect(size == layout.fileSize)
    #expect(reader.fileSize == layout.fileSize)
    #expect(reader.alignment == 32)
    #expect(reader.version == 3)

    // Every key, nothing else.
    let expected = Self.expectedMetadata(
      config: config, tokenizer: tokenizer, name: URL(fileURLWithPath: path).lastPathComponent,
      type: type, chatTemplate: GGUFTestModel.chatTemplate)
    let keys = reader.metadata.map(\.key)
    #expect(Set(keys) == Set(expected.keys))
    #expect(keys.count == expected.count, "no duplicate keys")
    for (key, value) in reader.metadata {
      #expect(value == expected[key], "\(key)")
    }

    // Every tensor: name, ggml dimensions, storage type, values.
    let weights = try ModelDirectory(path: path).loadWeights(for: config)
    let map = Self.tensorMap(config)
    var expectedNames = Set(map.map(\.gguf))
    if case .llama3 = config.ropeScaling { expectedNames.insert("rope_freqs.weight") }
    #expect(Set(reader.tensors.map(\.name)) == expectedNames)
    #expect(reader.tensor(named: "output.weight") == nil || !config.tieWordEmbeddings)
    for (ggufName, hfName, heads) in map {
      let info = try #require(reader.tensor(named: ggufName))
      let source = weights[hfName]!
      #expect(info.dimensions == source.shape.reversed(), "\(ggufName)")
      let rowLength = source.shape.last!
      let isVector = source.shape.count == 1 || ggufName.hasSuffix("_norm.weight")
      let expectedType: GGMLType =
        isVector ? .f32 : (type == .q8_0 && rowLength % 32 != 0 ? .f16 : type)
      #expect(info.type == expectedType, "\(ggufName)")
      let hf = source.scalars
      let stored = reader.values(of: info)
      let values =
        heads.map { unpermuteGGUFRows(stored, rowLength: rowLength, heads: $0) } ?? stored
      switch info.type {
      case .f32:
        #expect(values == hf, "\(ggufName): f32 must be exact after un-permuting")
      case .f16:
        #expect(values == hf.map { Float(Float16($0)) }, "\(ggufName): f16 of each weight")
      case .q8_0:
        let bytes = reader.bytes(of: info)
        let rowBytes = rowLength / 32 * 34
        let unpermuted =
          heads.map { unpermuteGGUFRows(bytes, rowLength: rowBytes, heads: $0) } ?? bytes
        #expect(unpermuted == referenceQ8_0(hf), "\(ggufName): q8_0 blocks")
      default:
        Issue.record("\(ggufName): the exporter wrote \(info.type.name)")
      }
    }
    if case .llama3 = config.ropeScaling {
      let info = try #require(reader.tensor(named: "rope_freqs.weight"))
      #expect(info.type == .f32 && info.dimensions == [config.headDim / 2])
      expectClose(reader.values(of: info), Self.llama3Factors(config), rtol: 1e-5, atol: 0)
    }

    // The size follows from the header and the tensors, each padded to 32 bytes.
    let dataBytes = reader.tensors.reduce(0) { $0 + ($1.byteCount + 31) / 32 * 32 }
    #expect(reader.fileSize == reader.dataOffset + dataBytes)
  }

  /// Tensor count of the export of `config`.
  func tensorCount(_ config: LlamaConfig) -> Int {
    var count = 2 + 9 * config.layerCount + (config.tieWordEmbeddings ? 0 : 1)
    if case .llama3 = config.ropeScaling { count += 1 }
    return count
  }

  @Test func tokenizerConfigDecidesTemplateFlagsAndControlTokens() throws {
    let tokenizer = try GGUFTestModel.tokenizer.get()
    let imEnd = try #require(tokenizer.id(for: "<|im_end|>"))
    let pad = tokenizer.vocabularySize  // first id past the pieces
    let config = """
      {"add_bos_token": false, "add_eos_token": true,
       "chat_template": [{"name": "default", "template": "T1"}, {"name": "tool_use", "template": "T2"}],
       "added_tokens_decoder": {"\(imEnd)": {"content": "<|im_end|>", "special": true},
                                "\(pad)": {"content": "<extra>", "special": false}}}
      """
    let (path, _, _) = try GGUFTestModel.directory(
      fixture: "hf-tiny-llama", extraVocabulary: 2, tokenizerConfig: config)
    let out = try temporaryDirectory("gguf-out") + "/model.gguf"
    try ModelDirectory(path: path).exportGGUF(
      to: out, options: GGUFExportOptions(type: .f32, name: "tiny"))
    let reader = try GGUFReader(path: out)
    #expect(reader.value("general.name") == .string("tiny"))
    #expect(reader.value("tokenizer.ggml.add_bos_token") == .bool(false))
    #expect(reader.value("tokenizer.ggml.add_eos_token") == .bool(true))
    #expect(reader.value("tokenizer.chat_template") == .string("T1"))
    #expect(reader.value("tokenizer.chat_template.tool_use") == .string("T2"))
    let types = try #require(reader.value("tokenizer.ggml.token_type")?.arrayValue)
    let tokens = try #require(reader.value("tokenizer.ggml.tokens")?.arrayValue)
    #expect(types[imEnd] == .int32(3), "special added token → control")
    #expect(types[tokenizer.id(for: "<|im_start|>")!] == .int32(4), "user-defined piece")
    #expect(tokens[pad] == .string("<extra>") && types[pad] == .int32(4))
    #expect(tokens[pad + 1] == .string("[PAD\(pad + 1)]") && types[pad + 1] == .int32(5))
  }

  @Test func withoutTokenizerConfigThereIsNoTemplate() throws {
    let (path, _, _) = try GGUFTestModel.directory(fixture: "llama-tied-gqa4", tokenizerConfig: nil)
    let out = try temporaryDirectory("gguf-out") + "/model.gguf"
    try ModelDirectory(path: path).exportGGUF(to: out, options: GGUFExportOptions(type: .q8_0))
    let reader = try GGUFReader(path: out)
    #expect(reader.value("tokenizer.chat_template") == nil)
    #expect(reader.value("tokenizer.ggml.add_bos_token") == .bool(true))
    #expect(reader.value("tokenizer.ggml.bos_token_id") == .uint32(1))
    #expect(reader.value("tokenizer.ggml.eos_token_id") == .uint32(2))
    #expect(reader.tensor(named: "output.weight") == nil, "tied head")
  }

  @Test func headDimensionOtherThanWidthOverHeadsIsRecorded() throws {
    let tokenizer = try GGUFTestModel.tokenizer.get()
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 1,
      headCount: 2, kvHeadCount: 1, headDim: 24, maxPositions: 32)
    let path = try temporaryDirectory("gguf-model")
    try Llama(config: config, seed: 3).save(to: path)
    try tokenizer.write(to: path + "/tokenizer.model")
    let out = try temporaryDirectory("gguf-out") + "/model.gguf"
    try ModelDirectory(path: path).exportGGUF(to: out, options: GGUFExportOptions(type: .f32))
    let reader = try GGUFReader(path: out)
    #expect(reader.value("llama.attention.key_length") == .uint32(24))
    #expect(reader.value("llama.attention.value_length") == .uint32(24))
    #expect(reader.value("llama.rope.dimension_count") == .uint32(24))
    #expect(reader.tensor(named: "blk.0.attn_q.weight")?.dimensions == [32, 48])
  }

  @Test func missingTokenizerModelIsNamed() throws {
    let (path, _, _) = try GGUFTestModel.directory(fixture: "hf-tiny-llama")
    try FileManager.default.removeItem(atPath: path + "/tokenizer.model")
    let out = try temporaryDirectory("gguf-out") + "/model.gguf"
    let error = try #require(throws: ModelDirectoryError.self) {
      try ModelDirectory(path: path).exportGGUF(to: out)
    }
    #expect(error.path.hasSuffix("/tokenizer.model"))
    #expect("\(error)".contains("tokenizer.model"))
    #expect(!FileManager.default.fileExists(atPath: out), "nothing written")
  }

  @Test func rejectsWhatLlamaCppCannotRepresent() throws {
    // More pieces than the model's vocabulary.
    let tokenizer = try GGUFTestModel.tokenizer.get()
    var config = try ModelDirectory(path: fixturePath("hf-tiny-llama")).loadConfig()
    config.vocabSize = tokenizer.vocabularySize - 1
    let small = try temporaryDirectory("gguf-model")
    try Llama(config: config, seed: 1).save(to: small)
    try tokenizer.write(to: small + "/tokenizer.model")
    let out = try temporaryDirectory("gguf-out") + "/model.gguf"
    let tooMany = try #require(throws: ModelDirectoryError.self) {
      try ModelDirectory(path: small).exportGGUF(to: out)
    }
    #expect(tooMany.path.hasSuffix("tokenizer.model") && "\(tooMany)".contains("vocab_size"))

    // Dynamic NTK scaling.
    config.vocabSize = tokenizer.vocabularySize
    config.ropeScaling = .dynamic(factor: 2, originalMaxPositions: 64)
    let dynamic = try temporaryDirectory("gguf-model")
    try Llama(config: config, seed: 1).save(to: dynamic)
    try tokenizer.write(to: dynamic + "/tokenizer.model")
    let scaling = try #require(throws: GGUFExportError.self) {
      try ModelDirectory(path: dynamic).exportGGUF(to: out)
    }
    #expect(scaling.key == "rope_parameters.rope_type")

    // An added token that contradicts the sentencepiece model.
    let (mismatched, _, _) = try GGUFTestModel.directory(
      fixture: "hf-tiny-llama",
      tokenizerConfig: #"{"added_tokens_decoder": {"3": {"content": "<nope>", "special": true}}}"#)
    let contradiction = try #require(throws: ModelDirectoryError.self) {
      try ModelDirectory(path: mismatched).exportGGUF(to: out)
    }
    #expect("\(contradiction)".contains("added_tokens_decoder.3"))
    let (badFlag, _, _) = try GGUFTestModel.directory(
      fixture: "hf-tiny-llama", tokenizerConfig: #"{"add_bos_token": 1}"#)
    let flag = try #require(throws: ModelDirectoryError.self) {
      try ModelDirectory(path: badFlag).exportGGUF(to: out)
    }
    #expect("\(flag)".contains("add_bos_token"))

    // A weight holding NaN.
    let (nan, nanConfig, _) = try GGUFTestModel.directory(fixture: "hf-tiny-llama")
    var weights = try ModelDirectory(path: nan).loadWeights(for: nanConfig).mapValues {
      $0.contiguousCopy()
    }
    var poisoned = weights["model.layers.1.mlp.up_proj.weight"]!.scalars
    poisoned[17] = .nan
    weights["model.layers.1.mlp.up_proj.weight"] = Tensor(poisoned, shape: [176, 64])
    try ModelDirectory(path: nan).save(config: nanConfig, weights: weights)
    let notFinite = try #require(throws: GGUFExportError.self) {
      try ModelDirectory(path: nan).exportGGUF(to: out, options: GGUFExportOptions(type: .q8_0))
    }
    #expect(notFinite.key == "model.layers.1.mlp.up_proj.weight")
    #expect(!FileManager.default.fileExists(atPath: out))
  }
}
