import MiniTensor

/// One gradient buffer a backward kernel fills: the variable it belongs to (`nil` for an
/// untracked input, whose buffer is scratch that is dropped), its element count, and whether the
/// kernel overwrites the buffer or adds into it.
///
/// `Element` is always `Float`; being generic lets ``Tape/storeGradients(_:body:)`` give one
/// pointer per target through a parameter pack.
package struct GradientTarget<Element> {
  let slot: Int?
  let count: Int
  let mode: GradientWrite
}

/// How a backward kernel fills a gradient buffer.
enum GradientWrite {
  /// The kernel writes every element.
  case overwrite
  /// The kernel adds into the buffer, which holds the gradient so far (zeros when fresh).
  case add
}

extension GradientTarget where Element == Float {
  /// A gradient of `count` elements that the kernel writes in full.
  package static func overwrite(_ slot: Int?, count: Int) -> Self {
    Self(slot: slot, count: count, mode: .overwrite)
  }

  /// A gradient of `count` elements that the kernel adds into.
  package static func add(_ slot: Int?, count: Int) -> Self {
    Self(slot: slot, count: count, mode: .add)
  }
}

extension Tape {
  /// Calls `body` with one buffer per target for a backward kernel to fill, then adds each to
  /// its variable's gradient, with the same result as one call per target, in order:
  ///
  /// ```swift
  /// tape.storeGradients(.overwrite(gx, count: n), .add(gw, count: dim)) { dx, dw in
  ///   Kernels.rmsNormBackward(dy: dy, x: x, weight: w, rstd: rstd, dx: dx, dweight: dw, …)
  /// }
  /// ```
  ///
  /// An overwritten gradient goes straight into a fresh buffer when its variable has none yet,
  /// otherwise into a temporary that is added afterwards; an added gradient goes straight into
  /// the gradient so far (a parameter's slice of the arena). A variable that several targets
  /// name is lent its own buffer once, and the later targets temporaries added in order, so no
  /// two pointers alias.
  package func storeGradients<each Element>(
    _ targets: repeat GradientTarget<each Element>,
    body: (repeat UnsafeMutablePointer<each Element>) -> Void
  ) {
    var buffers: [GradientBuffer] = []
    var named = Set<Int>()
    for target in repeat each targets {
      buffers.append(buffer(for: target.slot, count: target.count, target.mode, named: &named))
    }
    withAddresses(of: buffers[...], lent: []) { addresses in
      var index = 0
      func next<Scalar>(_: GradientTarget<Scalar>) -> UnsafeMutablePointer<Scalar> {
        defer { index += 1 }
        return UnsafeMutableRawPointer(addresses[index]).assumingMemoryBound(to: Scalar.self)
      }
      body(repeat next(each targets))
    }
    for buffer in buffers { settle(buffer) }
  }

  /// The buffer lent for one target; `named` holds the slots earlier targets named.
  private func buffer(
    for slot: Int?, count: Int, _ mode: GradientWrite, named: inout Set<Int>
  ) -> GradientBuffer {
    func blank(_ shape: [Int]) -> Tensor {
      mode == .add ? Tensor.zeros(shape) : Tensor(unsafeUninitializedShape: shape) { _ in }
    }
    guard let slot else { return GradientBuffer(.scratch, blank([count])) }
    precondition(
      count == Self.count(shapes[slot]),
      "storeGradients: \(count) elements for a variable of shape \(shapes[slot])")
    var temporary: GradientBuffer { GradientBuffer(.temporary(slot), blank(shapes[slot])) }
    guard named.insert(slot).inserted else { return temporary }
    if case .parameter(let parameter) = roles[slot] {
      return mode == .add ? GradientBuffer(.parameter(parameter)) : temporary
    }
    guard let existing = gradients[slot] else {
      return GradientBuffer(.fresh(slot), blank(shapes[slot]))
    }
    guard mode == .add else { return temporary }
    // Taken out of the tape while lent, so that it is written in place when nothing else
    // holds it.
    gradients[slot] = nil
    return GradientBuffer(.existing(slot), existing)
  }

  /// Puts a lent buffer where it belongs once the kernel has filled it.
  private func settle(_ buffer: GradientBuffer) {
    switch buffer.use {
    case .scratch, .parameter: break
    case .fresh(let slot):
      gradients[slot] = buffer.tensor
      noteAllocation(slot)
    case .existing(let slot):
      gradients[slot] = buffer.tensor
    case .temporary(let slot):
      accumulate(buffer.tensor, into: slot)
    }
  }
}

/// A buffer ``Tape/storeGradients(_:body:)`` lends, and what becomes of it afterwards.
private final class GradientBuffer {
  enum Use {
    /// For an untracked input: dropped.
    case scratch
    /// The slot's first gradient: stored as it is.
    case fresh(Int)
    /// The slot's gradient so far, added into: put back.
    case existing(Int)
    /// Added to the slot's gradient afterwards.
    case temporary(Int)
    /// The parameter's slice of the arena gradient, added into in place.
    case parameter(Parameter)
  }

  let use: Use
  var tensor: Tensor

  init(_ use: Use, _ tensor: Tensor = Tensor.zeros([0])) {
    self.use = use
    self.tensor = tensor
  }

  func withAddress(_ body: (UnsafeMutablePointer<Float>) -> Void) {
    if case .parameter(let parameter) = use {
      parameter.withUnsafeMutableGradient { body($0.baseAddress!) }
    } else {
      tensor.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
  }
}

/// Opens one buffer after another, each inside the previous one's closure, and calls `body`
/// with all their addresses.
private func withAddresses(
  of buffers: ArraySlice<GradientBuffer>, lent: [UnsafeMutablePointer<Float>],
  _ body: ([UnsafeMutablePointer<Float>]) -> Void
) {
  guard let first = buffers.first else { return body(lent) }
  first.withAddress { address in
    withAddresses(of: buffers.dropFirst(), lent: lent + [address], body)
  }
}
