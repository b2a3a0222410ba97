import MiniTensor

extension Tensor {
  /// The sum of this gradient over the dimensions that broadcasting added or stretched to go
  /// from `shape` to this tensor's shape: the backward of broadcasting.
  func unbroadcasted(to target: [Int]) -> Tensor {
    if shape == target { return self }
    precondition(
      rank >= target.count, "unbroadcast: gradient \(shape) cannot come from \(target)")
    var result = self
    let lead = rank - target.count
    if lead > 0 {
      result = result.reshaped([shape[..<lead].reduce(1, *)] + Array(shape[lead...]))
        .sum(axis: 0)
    }
    for axis in 0..<target.count where target[axis] != result.shape[axis] {
      precondition(
        target[axis] == 1, "unbroadcast: gradient \(shape) cannot come from \(target)")
      result = result.sum(axis: axis, keepingDimension: true)
    }
    return result
  }
}
