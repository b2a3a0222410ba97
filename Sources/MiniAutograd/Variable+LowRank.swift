import MiniTensor

/// A frozen linear map `x · Wᵀ` under trainable low-rank adapters (``lowRankAdaptedLinear(_:frozen:a:b:scale:dropoutMask:)``):
/// it takes no gradient, only passes one to its input.
public struct FrozenLinear {
  /// The dense weight `[out, in]`, multiplied by `sgemm` straight into the output and the input's
  /// gradient; `nil` for another storage.
  let weight: Tensor?
  /// `out`.
  let outFeatures: Int
  /// `x · Wᵀ` for `x` `[…, in]` (another storage).
  let product: ((Tensor) -> Tensor)?
  /// `dY · W` for `dY` `[…, out]` (another storage).
  let inputGradient: ((Tensor) -> Tensor)?

  /// A dense `Float` weight `[out, in]`.
  public static func dense(_ weight: Tensor) -> FrozenLinear {
    precondition(weight.rank == 2, "FrozenLinear: weight \(weight.shape) is not [out, in]")
    return FrozenLinear(
      weight: weight, outFeatures: weight.shape[0], product: nil, inputGradient: nil)
  }

  /// A weight in another storage (quantized blocks), given by its two products.
  /// - Parameters:
  ///   - outFeatures: `out`.
  ///   - product: `x · Wᵀ`, `[…, in]` to `[…, out]`.
  ///   - inputGradient: `dY · W`, `[…, out]` to `[…, in]`.
  public init(
    outFeatures: Int, product: @escaping (Tensor) -> Tensor,
    inputGradient: @escaping (Tensor) -> Tensor
  ) {
    self.init(
      weight: nil, outFeatures: outFeatures, product: product, inputGradient: inputGradient)
  }

  private init(
    weight: Tensor?, outFeatures: Int, product: ((Tensor) -> Tensor)?,
    inputGradient: ((Tensor) -> Tensor)?
  ) {
    self.weight = weight
    self.outFeatures = outFeatures
    self.product = product
    self.inputGradient = inputGradient
  }
}

/// `x · Wᵀ + scale · (x ⊙ mask) · Aᵀ · Bᵀ` (a LoRA projection) as one recorded operation, with
/// `W` frozen, `a` `[r, in]` and `b` `[out, r]`.
///
/// The adapter's output `h = scale · (x ⊙ mask) · Aᵀ` (`[rows, r]`) is the only intermediate it
/// keeps; `h · Bᵀ` is added onto the base product in place (`sgemm` with beta 1), and backward
/// adds `dY · W` and `scale · dY · B · A` straight into the input's gradient. Gradients flow to
/// `x`, `a` and `b`; `W` gets none and no weight-gradient product is made for it.
/// - Parameter dropoutMask: `0` or `1 / (1 − p)` per element of `x`, or `nil`.
public func lowRankAdaptedLinear(
  _ input: Variable, frozen: FrozenLinear, a: Variable, b: Variable, scale: Float,
  dropoutMask: Tensor? = nil
) -> Variable {
  let inFeatures = input.shape[input.rank - 1]
  let (rank, outFeatures) = (a.shape[0], frozen.outFeatures)
  precondition(
    a.rank == 2 && a.shape[1] == inFeatures && b.shape == [outFeatures, rank]
      && (frozen.weight.map { $0.shape == [outFeatures, inFeatures] } ?? true),
    "lowRankAdaptedLinear: input \(input.shape), A \(a.shape), B \(b.shape), out \(outFeatures)")
  if let dropoutMask {
    precondition(
      dropoutMask.shape == input.shape, "lowRankAdaptedLinear: mask \(dropoutMask.shape)")
  }
  let rows = input.count / Swift.max(inFeatures, 1)
  let x = input.value.contiguous()
  let adapterInput =
    dropoutMask.map { (x * $0).reshaped([rows, inFeatures]) }
    ?? x.reshaped([rows, inFeatures])
  let (aValue, bValue) = (a.value.contiguous(), b.value.contiguous())
  let outputShape = Array(input.shape.dropLast()) + [outFeatures]
  // h = scale · (x ⊙ mask) · Aᵀ, [rows, r].
  let h = Tensor(unsafeUninitializedShape: [rows, rank]) { h in
    guard let hBase = h.baseAddress else { return }
    withUnsafePointers(adapterInput, aValue) { xa, pa in
      sgemm(
        transposeA: false, transposeB: true, m: rows, n: rank, k: inFeatures, alpha: scale,
        a: xa, lda: Swift.max(inFeatures, 1), b: pa, ldb: Swift.max(inFeatures, 1), c: hBase,
        ldc: Swift.max(rank, 1))
    }
  }
  var value: Tensor
  if let weight = frozen.weight {
    value = Tensor(unsafeUninitializedShape: outputShape) { y in
      guard let yBase = y.baseAddress else { return }
      withUnsafePointers(x, weight) { px, pw in
        sgemm(
          transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: px,
          lda: Swift.max(inFeatures, 1), b: pw, ldb: Swift.max(inFeatures, 1), c: yBase,
          ldc: outFeatures)
      }
    }
  } else {
    value = frozen.product!(x).reshaped(outputShape)
  }
  // y += h · Bᵀ.
  value.withUnsafeMutableBufferPointer { y in
    guard let yBase = y.baseAddress else { return }
    withUnsafePointers(h, bValue) { ph, pb in
      sgemm(
        transposeA: false, transposeB: true, m: rows, n: outFeatures, k: rank, a: ph,
        lda: Swift.max(rank, 1), b: pb, ldb: Swift.max(rank, 1), beta: 1, c: yBase,
        ldc: outFeatures)
    }
  }
  guard let tape = Variable.commonTape(input, a, b) else { return Variable(value) }
  let (gx, ga, gb) = (input.handle, a.handle, b.handle)
  return tape.record(value) { tape, dy in
    let dy2 = dy.reshaped([rows, outFeatures])
    // dB += dYᵀ · h
    if let gb { tape.accumulateProduct(into: gb, dy2, transposeA: true, h, transposeB: false) }
    guard ga != nil || gx != nil else { return }
    // g = scale · dY · B, [rows, r]: the gradient of (x ⊙ mask) · Aᵀ.
    let g = Tensor(unsafeUninitializedShape: [rows, rank]) { g in
      guard let gBase = g.baseAddress else { return }
      withUnsafePointers(dy2, bValue) { pdy, pb in
        sgemm(
          transposeA: false, transposeB: false, m: rows, n: rank, k: outFeatures, alpha: scale,
          a: pdy, lda: Swift.max(outFeatures, 1), b: pb, ldb: Swift.max(rank, 1), c: gBase,
          ldc: Swift.max(rank, 1))
      }
    }
    // dA += gᵀ · (x ⊙ mask)
    if let ga {
      tape.accumulateProduct(into: ga, g, transposeA: true, adapterInput, transposeB: false)
    }
    guard let gx else { return }
    // dX = dY · W + mask ⊙ (g · A)
    if let weight = frozen.weight {
      tape.accumulateProduct(into: gx, dy2, transposeA: false, weight, transposeB: false)
    } else {
      tape.accumulate(frozen.inputGradient!(dy).reshaped(input.shape), into: gx)
    }
    if let dropoutMask {
      let adapterGradient = MiniTensor.matmul(g, aValue) * dropoutMask.reshaped([rows, inFeatures])
      tape.accumulate(adapterGradient, into: gx)
    } else {
      tape.accumulateProduct(into: gx, g, transposeA: false, aValue, transposeB: false)
    }
  }
}
