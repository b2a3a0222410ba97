import MiniAutograd
import MiniTensor

/// A frozen projection with trainable low-rank adapters, as PEFT's `lora.Linear`:
/// `y = x · Wᵀ + scale · dropout(x) · Aᵀ · Bᵀ`.
///
/// The base `W` (dense or q8_0) is never trained: it takes no gradient buffer, no optimizer
/// moments and no weight-gradient product; only the gradient of its input flows through it.
/// `A` (`[r, in]`) and `B` (`[out, r]`) live in the adapters' own ``ParameterArena``.
public final class LoRALinear {
  /// The frozen weight.
  public let base: LinearWeight
  /// `lora_A`, `[r, in]`.
  public let a: Parameter
  /// `lora_B`, `[out, r]`.
  public let b: Parameter
  /// `alpha / r`, or `alpha / √r` with rsLoRA.
  public let scale: Float
  /// Probability of zeroing an input element of the adapter while training.
  public let dropout: Float
  let generator: LoRADropoutGenerator?

  /// Adapters `a`, `b` on `base`.
  /// - Parameter generator: draws the dropout masks (needed when `dropout > 0`).
  /// - Precondition: the shapes fit `base` and share one rank; `base` is not itself adapted.
  init(
    base: LinearWeight, a: Parameter, b: Parameter, scale: Float, dropout: Float,
    generator: LoRADropoutGenerator?
  ) {
    let (out, inFeatures) = (base.shape[0], base.shape[1])
    precondition(
      a.shape.count == 2 && b.shape == [out, a.shape[0]] && a.shape[1] == inFeatures,
      "LoRALinear: A \(a.shape), B \(b.shape) on \(base.name) \(base.shape)")
    if case .lora = base { preconditionFailure("LoRALinear: \(base.name) is already adapted") }
    precondition(dropout == 0 || generator != nil, "LoRALinear: dropout needs a generator")
    self.base = base
    self.a = a
    self.b = b
    self.scale = scale
    self.dropout = dropout
    self.generator = generator
  }

  /// Rank `r`.
  public var rank: Int { a.shape[0] }

  /// The product, with dropout on the adapter's input when `tape` is given.
  func callAsFunction(_ x: Variable, tape: Tape?) -> Variable {
    var mask: Tensor?
    if tape != nil, dropout > 0, let generator {
      mask = generator.mask(count: x.count, shape: x.shape, probability: dropout)
    }
    return loraLinear(
      x, base: base, a: a.variable(on: tape), b: b.variable(on: tape), scale: scale,
      dropoutMask: mask)
  }

  /// `W + scale · B · A` as a `Float` `[out, in]` tensor (the base dequantized when it is quantized).
  public func mergedWeight() -> Tensor {
    var weight: Tensor
    switch base {
    case .dense(let parameter): weight = parameter.value.contiguous()
    case .q8_0(let matrix, _): weight = matrix.dequantized()
    case .ggml(let matrix, _): weight = matrix.dequantized()
    case .lora: preconditionFailure("LoRALinear: nested adapters")
    }
    let delta = MiniTensor.matmul(b.value, a.value)
    weight += delta * scale
    return weight
  }
}

/// `x · Wᵀ + scale · (x ⊙ mask) · Aᵀ · Bᵀ`: a LoRA projection over a frozen base (dense or q8_0),
/// with `a` `[r, in]` and `b` `[out, r]` as variables (tracked or not) and an optional dropout
/// mask (`0` or `1 / (1 − p)` per element of `x`). Gradients flow to `x`, `a` and `b`; the base
/// gets none.
/// - Precondition: `base` is dense or q8_0 and the shapes agree.
public func loraLinear(
  _ x: Variable, base: LinearWeight, a: Variable, b: Variable, scale: Float,
  dropoutMask: Tensor? = nil
) -> Variable {
  var frozen = frozenLinear(base)
  if case .dense(let parameter) = base, a.tape == nil, b.tape == nil,
    LinearWeight.takesMultiRowKernels(x, parameter.value)
  {
    // Inference on a few rows: the base product as the unadapted weight computes it.
    let weight = parameter.value
    frozen = FrozenLinear(
      outFeatures: weight.shape[0], product: { MiniTensor.rowInvariantLinear($0, weight) },
      inputGradient: { _ in preconditionFailure("loraLinear: no gradient without a tape") })
  }
  return lowRankAdaptedLinear(
    x, frozen: frozen, a: a, b: b, scale: scale, dropoutMask: dropoutMask)
}

/// `weight` as a frozen map for ``lowRankAdaptedLinear(_:frozen:a:b:scale:dropoutMask:)``.
func frozenLinear(_ weight: LinearWeight) -> FrozenLinear {
  switch weight {
  case .dense(let parameter):
    return .dense(parameter.value)
  case .q8_0(let matrix, _):
    return FrozenLinear(
      outFeatures: matrix.rows, product: { matrix.linear($0) },
      inputGradient: { matrix.inputGradient($0) })
  case .ggml(let matrix, _):
    // ggml blocks are dequantized a panel at a time, as QLoRA dequantizes 4-bit blocks.
    return FrozenLinear(
      outFeatures: matrix.rows, product: { matrix.floatLinear($0) },
      inputGradient: { matrix.inputGradient($0) })
  case .lora(let adapter):
    preconditionFailure("frozenLinear: \(adapter.base.name) is adapted")
  }
}

/// `x · Wᵀ` with `W` treated as a constant: only `x`'s gradient flows back.
func frozenProduct(_ x: Variable, _ weight: LinearWeight) -> Variable {
  switch weight {
  case .dense(let parameter):
    return linear(x, Variable(parameter.value))
  case .q8_0(let matrix, _):
    return Variable.operation(inputs: [x], value: matrix.linear(x.value)) { dy in
      [matrix.inputGradient(dy)]
    }
  case .ggml(let matrix, _):
    // ggml blocks are dequantized a panel at a time, as QLoRA dequantizes 4-bit blocks.
    return Variable.operation(inputs: [x], value: matrix.floatLinear(x.value)) { dy in
      [matrix.inputGradient(dy)]
    }
  case .lora(let adapter):
    preconditionFailure("frozenProduct: \(adapter.base.name) is adapted")
  }
}

/// The generator of an adapted model's dropout masks: one Philox stream whose state a
/// checkpoint keeps, so a resumed run draws the masks it would have drawn.
final class LoRADropoutGenerator {
  var rng: PhiloxRNG

  init(seed: UInt64) { rng = PhiloxRNG(seed: seed, stream: 0x4C6F_5241) }

  /// A mask of `0` (probability `p`) and `1 / (1 − p)`.
  func mask(count: Int, shape: [Int], probability p: Float) -> Tensor {
    let keep = 1 / (1 - p)
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count where rng.nextUniform() >= p { values[i] = keep }
    return Tensor(values, shape: shape)
  }
}
