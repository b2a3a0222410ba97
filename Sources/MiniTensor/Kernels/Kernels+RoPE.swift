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
    table.cos.withUnsafeBufferPointer { cosBuffer in
      table.sin.withUnsafeBufferPointer { sinBuffer in
        let cosBase = cosBuffer.baseAddress!
        let sinBase = sinBuffer.baseAddress!
        parallelFor(batch * sequence, grain: rowGrain(width: 2 * rowWidth)) { range in
          for row in range {
            let position = startPosition + row % sequence
            let c = cosBase + position * half
            let s = sinBase + position * half
            kernels.rope_row(x + row * rowWidth, c, s, heads, headDim, sign)
          }
        }
      }
    }
  }
}
