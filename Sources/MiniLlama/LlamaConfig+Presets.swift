extension LlamaConfig {
  /// The named model sizes of the pipeline and the benchmarks.
  public enum Preset: String, CaseIterable, Sendable {
    /// Demo default: 256 wide, 4 layers, GQA 8/4; vocabulary from the tokenizer.
    case nano
    /// Benchmark A: 6400 vocabulary, 512 wide, 8 layers, untied.
    case tiny
    /// Benchmark B (llama2.c's stories15M): 32000 vocabulary, 288 wide, 6 layers, tied.
    case stories15m
    /// Benchmark C: 6400 vocabulary, 768 wide, 16 layers, GQA 12/4, untied.
    case mini
    /// baby-llama2-chinese's 92M model.
    case babyLlama2_92m = "baby-llama2-92m"
    /// build_MiniLLM_from_scratch's 0.2B model.
    case minillm02b = "minillm-0.2b"
    /// build_MiniLLM_from_scratch's 1.1B model.
    case minillm11b = "minillm-1.1b"

    /// The training sequence length the preset is benchmarked with.
    public var sequenceLength: Int {
      switch self {
      case .nano, .tiny, .stories15m: 256
      case .mini, .babyLlama2_92m: 512
      case .minillm02b: 1024
      case .minillm11b: 896
      }
    }

    /// The batch size the preset is benchmarked with.
    public var batchSize: Int {
      switch self {
      case .mini: 4
      default: 8
      }
    }
  }

  /// The configuration of `preset`; `vocabSize` overrides the preset's vocabulary (required for
  /// `nano`, whose vocabulary is the tokenizer's).
  public static func preset(_ preset: Preset, vocabSize: Int? = nil) -> LlamaConfig {
    func make(
      _ vocab: Int, _ dim: Int, _ layers: Int, _ heads: Int, _ kv: Int, _ ffn: Int, _ seq: Int,
      tied: Bool, eps: Float = 1e-5
    ) -> LlamaConfig {
      LlamaConfig(
        vocabSize: vocabSize ?? vocab, hiddenSize: dim, intermediateSize: ffn, layerCount: layers,
        headCount: heads, kvHeadCount: kv, maxPositions: seq, rmsNormEps: eps,
        tieWordEmbeddings: tied)
    }
    switch preset {
    case .nano: return make(6400, 256, 4, 8, 4, 688, 256, tied: false)
    case .tiny: return make(6400, 512, 8, 8, 8, 1376, 256, tied: false)
    case .stories15m: return make(32000, 288, 6, 6, 6, 768, 256, tied: true)
    case .mini: return make(6400, 768, 16, 12, 4, 2048, 512, tied: false)
    case .babyLlama2_92m: return make(64793, 512, 8, 8, 8, 1376, 512, tied: true)
    case .minillm02b: return make(64793, 1024, 12, 8, 8, 2752, 1024, tied: true, eps: 1e-6)
    case .minillm11b: return make(64793, 2048, 22, 32, 4, 5632, 896, tied: true, eps: 1e-6)
    }
  }
}
