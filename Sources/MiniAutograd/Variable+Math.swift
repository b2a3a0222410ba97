import MiniTensor

#if canImport(Glibc)
  import Glibc
#endif

// Element-wise functions. Each backward multiplies the incoming gradient by the derivative,
// written from whichever of input `x` or output `y` is cheaper.

extension Variable {
  /// Records `value = f(self)` whose backward is `dy * derivative(x, y)` element-wise.
  private func unary(
    _ value: Tensor, derivative: @escaping (_ x: Float, _ y: Float) -> Float
  ) -> Variable {
    guard let tape else { return Variable(value) }
    let (a, count) = (slot, self.count)
    let x = self.value
    return tape.record(value) { tape, dy in
      withUnsafePointers(x, value, dy) { x, y, dy in
        tape.storeGradients(.overwrite(a, count: count)) { dx in
          for i in 0..<count { dx[i] = dy[i] * derivative(x[i], y[i]) }
        }
      }
    }
  }

  /// `e^x`.
  public func exp() -> Variable { unary(value.exp()) { _, y in y } }

  /// Natural logarithm.
  public func log() -> Variable { unary(value.log()) { x, _ in 1 / x } }

  /// Square root.
  public func sqrt() -> Variable { unary(value.sqrt()) { _, y in 0.5 / y } }

  /// `1 / sqrt(x)`.
  public func rsqrt() -> Variable { unary(value.rsqrt()) { _, y in -0.5 * y * y * y } }

  /// `x²`.
  public func squared() -> Variable { unary(value.squared()) { x, _ in 2 * x } }

  /// `x^exponent` (for `x > 0` unless `exponent` is a whole number).
  public func pow(_ exponent: Float) -> Variable {
    unary(value.pow(exponent)) { x, _ in exponent * powf(x, exponent - 1) }
  }

  /// Logistic sigmoid `1 / (1 + e^-x)`.
  public func sigmoid() -> Variable { unary(value.sigmoid()) { _, y in y * (1 - y) } }

  /// Hyperbolic tangent.
  public func tanh() -> Variable { unary(value.tanh()) { _, y in 1 - y * y } }

  /// `max(x, 0)` (derivative 0 at 0, as PyTorch).
  public func relu() -> Variable { unary(value.relu()) { x, _ in x > 0 ? 1 : 0 } }

  /// SiLU (swish) `x · sigmoid(x)`.
  public func silu() -> Variable {
    unary(value.silu()) { x, _ in
      let s = 1 / (1 + expf(-x))
      return s * (1 + x * (1 - s))
    }
  }
}
