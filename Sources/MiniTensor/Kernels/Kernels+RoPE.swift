internal import CKernels

#if canImport(Glibc)
  import Glibc
#endif

/// How the rotary inverse frequencies are rescaled for contexts longer than pre-training, as the
/// `rope_type` values of the same names in `transformers` (`ROPE_INIT_FUNCTIONS`).
public enum RopeScalingKind: Sendable, Equatable {
  /// Plain RoPE: `invFreq[i] = theta^(−2i/D)`.
  case none
  /// `"linear"`: every inverse frequency divided by `factor` (positions interpolated).
  case linear(factor: Double)
  /// `"dynamic"` NTK-aware scaling: the base grows once the sequence is longer than
  /// `originalMaxPositions`; `RopeTable` evaluates it for a sequence of `maxPositions`.
  case dynamicNTK(factor: Double, originalMaxPositions: Int)
  /// `"llama3"` (Llama 3.1): low frequencies divided by `factor`, high ones kept, a smooth
  /// interpolation between the two wavelength bounds.
  case llama3(
    factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
}

/// Whose roundings inference reproduces where two implementations of the same model differ.
public enum InferenceArithmetic: String, Sendable, CaseIterable {
  /// `transformers`' (PyTorch in float32): the arithmetic of training and of the parity tests.
  case transformers
  /// llama.cpp's, as ggml's CPU backend computes in its x86 AVX2 build: RoPE angles multiplied
  /// up position by position in `Float` with `cosf`/`sinf`, SiLU through ggml's `e^x`, and
  /// (through the caches the model makes) keys and values kept in half precision and attended
  /// to in ggml's order. A GGUF file runs this way, so its greedy decoding follows llama.cpp's.
  case llamaCpp
}

/// Cosine and sine tables for rotary position embeddings in the Hugging Face (`rotate_half`)
/// layout: a head vector `x[0..<D]` is rotated in the pairs `(i, i + D/2)` by
/// `angle = position · invFreq[i]`.
///
/// The angles are formed as `transformers` forms them (inverse frequencies and the product
/// `position · invFreq` rounded to `Float`), then cosine and sine are evaluated in `Double` and
/// rounded, so the tables agree with `LlamaRotaryEmbedding` to about one `Float` ulp.
public struct RopeTable: Sendable {
  /// Size of one head vector (even).
  public let headDim: Int
  /// Positions `0..<maxPositions` are tabulated.
  public let maxPositions: Int
  /// `[headDim / 2]` inverse frequencies.
  package let inverseFrequencies: [Float]
  /// `[maxPositions, headDim / 2]`.
  package let cos: [Float]
  /// `[maxPositions, headDim / 2]`.
  package let sin: [Float]
  /// Whose angles the tables hold, and so whose multiply-adds rotate by them.
  public let arithmetic: InferenceArithmetic

  /// Tables for positions `0..<maxPositions`, as `LlamaRotaryEmbedding` builds them.
  /// - Parameters:
  ///   - headDim: size of one head vector; must be even.
  ///   - maxPositions: how many positions to tabulate.
  ///   - theta: the RoPE base (`rope_theta`).
  ///   - scaling: how the inverse frequencies are rescaled (`rope_scaling`), none by default.
  public init(headDim: Int, maxPositions: Int, theta: Float, scaling: RopeScalingKind = .none) {
    precondition(
      headDim > 0 && headDim % 2 == 0 && maxPositions >= 0,
      "RopeTable: headDim \(headDim) (must be even), maxPositions \(maxPositions)")
    self.headDim = headDim
    self.maxPositions = maxPositions
    arithmetic = .transformers
    let inverse = Self.inverseFrequencies(
      headDim: headDim, theta: theta, scaling: scaling, sequenceLength: maxPositions)
    inverseFrequencies = inverse
    let half = headDim / 2
    var cosTable = [Float](repeating: 0, count: maxPositions * half)
    var sinTable = [Float](repeating: 0, count: maxPositions * half)
    for p in 0..<maxPositions {
      for i in 0..<half {
        let angle = Double(Float(p) * inverse[i])
        cosTable[p * half + i] = Float(Glibc.cos(angle))
        sinTable[p * half + i] = Float(Glibc.sin(angle))
      }
    }
    cos = cosTable
    sin = sinTable
  }

  /// Tables as llama.cpp's CPU backend builds them (`ggml_rope_cache_init`): for each position
  /// `p` the angle starts at `Float(p)` and is multiplied by `base^(−2/headDim)` (`powf`) from
  /// one pair to the next, each pair's angle divided by its frequency factor and multiplied by
  /// the linear scale `1/factor`, then `cosf` and `sinf`.
  /// - Parameters:
  ///   - scaling: `.none` or `.linear`; Llama 3 scaling comes as `frequencyFactors`.
  ///   - frequencyFactors: `[headDim / 2]` divisors of the angles (a GGUF file's
  ///     `rope_freqs.weight`), or `nil`.
  public init(
    llamaCppHeadDim headDim: Int, maxPositions: Int, theta: Float, scaling: RopeScalingKind = .none,
    frequencyFactors: [Float]? = nil
  ) {
    precondition(
      headDim > 0 && headDim % 2 == 0 && maxPositions >= 0
        && (frequencyFactors == nil || frequencyFactors!.count == headDim / 2),
      "RopeTable: headDim \(headDim) (must be even), maxPositions \(maxPositions), "
        + "\(frequencyFactors?.count ?? 0) frequency factors")
    self.headDim = headDim
    self.maxPositions = maxPositions
    arithmetic = .llamaCpp
    var frequencyScale: Float = 1
    switch scaling {
    case .none: break
    case .linear(let factor): frequencyScale = 1 / Float(factor)
    case .dynamicNTK, .llama3:
      preconditionFailure("RopeTable: llama.cpp's tables take linear scaling or frequency factors")
    }
    let half = headDim / 2
    let step = Glibc.powf(theta, -2 / Float(headDim))
    let factors = frequencyFactors ?? [Float](repeating: 1, count: half)
    inverseFrequencies = (0..<half).map { Glibc.powf(step, Float($0)) / factors[$0] }
    var cosTable = [Float](repeating: 0, count: maxPositions * half)
    var sinTable = [Float](repeating: 0, count: maxPositions * half)
    for p in 0..<maxPositions {
      var angle = Float(p)
      for i in 0..<half {
        let scaled = frequencyScale * (angle / factors[i])
        cosTable[p * half + i] = Glibc.cosf(scaled)
        sinTable[p * half + i] = Glibc.sinf(scaled)
        angle *= step
      }
    }
    cos = cosTable
    sin = sinTable
  }

  /// The `[headDim / 2]` inverse frequencies of `transformers`' `ROPE_INIT_FUNCTIONS`, in the
  /// same `Float` operations.
  ///
  /// - Parameter sequenceLength: the sequence the dynamic NTK variant is evaluated for (it
  ///   changes nothing until the sequence exceeds `originalMaxPositions`); ignored otherwise.
  package static func inverseFrequencies(
    headDim: Int, theta: Float, scaling: RopeScalingKind, sequenceLength: Int
  ) -> [Float] {
    // Python floats (the config values) are Double; where `transformers` combines them with a
    // float32 tensor, PyTorch rounds them to Float first, and so does this code. (`theta` is
    // taken as Float: every RoPE base in use is exact in Float, and PyTorch rounds it too.)
    let dim = Float(headDim)
    // `1.0 / (base ** (arange(0, dim, 2).float() / dim))` in float32.
    func plain(base: Float) -> [Float] {
      let base = Double(base)
      return stride(from: 0, to: headDim, by: 2).map { i in
        1 / Float(pow(base, Double(Float(i) / dim)))
      }
    }
    switch scaling {
    case .none:
      return plain(base: theta)
    case .linear(let factor):
      return plain(base: theta).map { $0 / Float(factor) }
    case .dynamicNTK(let factor, let original):
      // base · ((factor · L / L0) − (factor − 1)) ^ (dim / (dim − 2)) in Python floats.
      let length = Double(max(sequenceLength, original))
      let grown =
        Double(theta)
        * pow(
          factor * length / Double(original) - (factor - 1),
          Double(headDim) / Double(headDim - 2))
      return plain(base: Float(grown))
    case .llama3(let factor, let lowFreqFactor, let highFreqFactor, let original):
      let old = Double(original)
      let lowFreqWavelength = Float(old / lowFreqFactor)
      let highFreqWavelength = Float(old / highFreqFactor)
      let twoPi = Float(2 * Double.pi)
      let f = Float(factor)
      let low = Float(lowFreqFactor)
      let span = Float(highFreqFactor - lowFreqFactor)
      return plain(base: theta).map { inv in
        // `scalar / tensor` is `tensor.reciprocal() * scalar` in PyTorch.
        let wavelength = (1 / inv) * twoPi
        if wavelength < highFreqWavelength { return inv }
        if wavelength > lowFreqWavelength { return inv / f }
        let smooth = ((1 / wavelength) * Float(old) - low) / span
        return (1 - smooth) * inv / f + smooth * inv
      }
    }
  }
}

extension Kernels {
  /// Applies rotary position embeddings in place (HF `rotate_half` layout):
  /// `x₁' = x₁·cos − x₂·sin`, `x₂' = x₂·cos + x₁·sin` for the pairs `(i, i + D/2)`.
  ///
  /// - Parameters:
  ///   - x: `[batch, sequence, heads, headDim]`, rotated in place.
  ///   - startPosition: token `t` has position `startPosition + t`.
  package static func ropeForward(
    _ x: UnsafeMutablePointer<Float>, table: RopeTable, batch: Int, sequence: Int, heads: Int,
    headDim: Int, startPosition: Int
  ) {
    rope(
      x, table: table, batch: batch, sequence: sequence, heads: heads, headDim: headDim,
      startPosition: startPosition, sign: 1, name: "ropeForward")
  }

  /// The gradient of `ropeForward`: rotates `dx` in place by the opposite angle.
  /// Same layout and arguments as `ropeForward`.
  package static func ropeBackward(
    _ dx: UnsafeMutablePointer<Float>, table: RopeTable, batch: Int, sequence: Int, heads: Int,
    headDim: Int, startPosition: Int
  ) {
    rope(
      dx, table: table, batch: batch, sequence: sequence, heads: heads, headDim: headDim,
      startPosition: startPosition, sign: -1, name: "ropeBackward")
  }

  private static func rope(
    _ x: UnsafeMutablePointer<Float>, table: RopeTable, batch: Int, sequence: Int, heads: Int,
    headDim: Int, startPosition: Int, sign: Float, name: String
  ) {
    precondition(
      headDim == table.headDim && batch >= 0 && sequence >= 0 && heads >= 0
        && startPosition >= 0 && startPosition + sequence <= table.maxPositions,
      "\(name): x [\(batch), \(sequence), \(heads), \(headDim)] from position \(startPosition), "
        + "table headDim \(table.headDim) maxPositions \(table.maxPositions)")
    if batch * sequence * heads == 0 { return }
    let half = headDim / 2
    let rowWidth = heads * headDim
    let kernels = activeKernels
    // llama.cpp's rotation forward; its gradient (never computed there) rotates as ours does.
    let ggml = table.arithmetic == .llamaCpp && sign == 1
    table.cos.withUnsafeBufferPointer { cosBuffer in
      table.sin.withUnsafeBufferPointer { sinBuffer in
        let cosBase = cosBuffer.baseAddress!
        let sinBase = sinBuffer.baseAddress!
        parallelFor(batch * sequence, grain: rowGrain(width: 2 * rowWidth)) { range in
          for row in range {
            let position = startPosition + row % sequence
            let c = cosBase + position * half
            let s = sinBase + position * half
            if ggml {
              kernels.rope_row_ggml(x + row * rowWidth, c, s, heads, headDim)
            } else {
              kernels.rope_row(x + row * rowWidth, c, s, heads, headDim, sign)
            }
          }
        }
      }
    }
  }
}
