import MiniTensor

// Element-wise arithmetic with NumPy broadcasting. Each backward sums the gradient over the
// dimensions its input was broadcast along.

extension Variable {
  /// Element-wise sum with broadcasting.
  public static func + (lhs: Variable, rhs: Variable) -> Variable {
    let value = lhs.value + rhs.value
    guard let tape = commonTape(lhs, rhs) else { return Variable(value) }
    let (a, b) = (lhs.handle, rhs.handle)
    let (shapeA, shapeB) = (lhs.shape, rhs.shape)
    return tape.record(value) { tape, dy in
      if let a { tape.accumulate(dy.unbroadcasted(to: shapeA), into: a) }
      if let b { tape.accumulate(dy.unbroadcasted(to: shapeB), into: b) }
    }
  }

  /// Element-wise difference with broadcasting.
  public static func - (lhs: Variable, rhs: Variable) -> Variable {
    let value = lhs.value - rhs.value
    guard let tape = commonTape(lhs, rhs) else { return Variable(value) }
    let (a, b) = (lhs.handle, rhs.handle)
    let (shapeA, shapeB) = (lhs.shape, rhs.shape)
    return tape.record(value) { tape, dy in
      if let a { tape.accumulate(dy.unbroadcasted(to: shapeA), into: a) }
      if let b { tape.accumulate((-dy).unbroadcasted(to: shapeB), into: b) }
    }
  }

  /// Element-wise product with broadcasting.
  public static func * (lhs: Variable, rhs: Variable) -> Variable {
    let value = lhs.value * rhs.value
    guard let tape = commonTape(lhs, rhs) else { return Variable(value) }
    let (a, b) = (lhs.handle, rhs.handle)
    let (x, y) = (lhs.value, rhs.value)
    return tape.record(value) { tape, dz in
      if let a { tape.accumulate((dz * y).unbroadcasted(to: x.shape), into: a) }
      if let b { tape.accumulate((dz * x).unbroadcasted(to: y.shape), into: b) }
    }
  }

  /// Element-wise quotient with broadcasting.
  public static func / (lhs: Variable, rhs: Variable) -> Variable {
    let value = lhs.value / rhs.value
    guard let tape = commonTape(lhs, rhs) else { return Variable(value) }
    let (a, b) = (lhs.handle, rhs.handle)
    let y = rhs.value
    let xShape = lhs.shape
    return tape.record(value) { tape, dz in
      let dzOverY = dz / y
      if let a { tape.accumulate(dzOverY.unbroadcasted(to: xShape), into: a) }
      // d(x/y)/dy = -(x/y)/y: reuse the quotient instead of saving x.
      if let b { tape.accumulate((-(dzOverY * value)).unbroadcasted(to: y.shape), into: b) }
    }
  }

  /// Negation.
  public static prefix func - (operand: Variable) -> Variable {
    operand.scaled(by: -1)
  }

  /// Adds a constant to every element.
  public static func + (lhs: Variable, rhs: Float) -> Variable {
    let value = lhs.value + rhs
    guard let tape = lhs.tape else { return Variable(value) }
    let a = lhs.slot
    return tape.record(value) { tape, dy in tape.accumulate(dy, into: a) }
  }

  /// Adds a constant to every element.
  public static func + (lhs: Float, rhs: Variable) -> Variable { rhs + lhs }

  /// Subtracts a constant from every element.
  public static func - (lhs: Variable, rhs: Float) -> Variable { lhs + (-rhs) }

  /// Subtracts every element from a constant.
  public static func - (lhs: Float, rhs: Variable) -> Variable { (-rhs) + lhs }

  /// Multiplies every element by a constant.
  public static func * (lhs: Variable, rhs: Float) -> Variable { lhs.scaled(by: rhs) }

  /// Multiplies every element by a constant.
  public static func * (lhs: Float, rhs: Variable) -> Variable { rhs.scaled(by: lhs) }

  /// Divides every element by a constant.
  public static func / (lhs: Variable, rhs: Float) -> Variable { lhs.scaled(by: 1 / rhs) }

  /// Every element multiplied by `factor`.
  public func scaled(by factor: Float) -> Variable {
    let value = self.value * factor
    guard let tape else { return Variable(value) }
    let a = slot
    return tape.record(value) { tape, dy in tape.accumulate(dy * factor, into: a) }
  }
}
