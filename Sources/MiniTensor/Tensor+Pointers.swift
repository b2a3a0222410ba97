/// A value whose elements can be read, in order, through one buffer: a ``Tensor`` (its
/// row-major elements) or an `Array`. ``withUnsafePointers(_:body:)`` takes any number of them.
public protocol ContiguousReadable {
  /// The type of the elements.
  associatedtype Element

  /// Calls `body` with the elements in order; the buffer is valid only inside `body`.
  func withUnsafeBufferPointer<R>(
    _ body: (UnsafeBufferPointer<Element>) throws -> R
  ) rethrows -> R
}

extension Tensor: ContiguousReadable {}
extension Array: ContiguousReadable {}

/// Calls `body` with a pointer to the elements of each source, in order: the glue around a
/// kernel call that reads several tensors, without one closure per tensor.
///
/// ```swift
/// withUnsafePointers(q, k, v) { q, k, v in
///   Kernels.attentionForward(q: q, k: k, v: v, …)
/// }
/// ```
///
/// A strided tensor lends a contiguous copy, as ``Tensor/withUnsafeBufferPointer(_:)`` does. The
/// pointers are valid only inside `body`; an empty source lends a non-null pointer that must not
/// be read.
public func withUnsafePointers<each Source: ContiguousReadable, Result>(
  _ sources: repeat each Source,
  body: (repeat UnsafePointer<(each Source).Element>) throws -> Result
) rethrows -> Result {
  var erased: [any ContiguousReadable] = []
  for source in repeat each sources { erased.append(source) }
  return try withAddresses(of: erased[...], lent: []) { addresses in
    var index = 0
    func next<Element>(_: Element.Type) -> UnsafePointer<Element> {
      defer { index += 1 }
      return addresses[index].assumingMemoryBound(to: Element.self)
    }
    return try body(repeat next((each Source).Element.self))
  }
}

/// Opens one source's buffer after another, each inside the previous one's closure, and calls
/// `body` with all their base addresses.
private func withAddresses<Result>(
  of sources: ArraySlice<any ContiguousReadable>, lent: [UnsafeRawPointer],
  _ body: ([UnsafeRawPointer]) throws -> Result
) rethrows -> Result {
  guard let first = sources.first else { return try body(lent) }
  return try withAddress(of: first) { address in
    try withAddresses(of: sources.dropFirst(), lent: lent + [address], body)
  }
}

private func withAddress<Source: ContiguousReadable, Result>(
  of source: Source, _ body: (UnsafeRawPointer) throws -> Result
) rethrows -> Result {
  try source.withUnsafeBufferPointer { buffer in
    if let base = buffer.baseAddress { return try body(UnsafeRawPointer(base)) }
    // An empty array may have no storage: lend an aligned, non-null address that nothing reads.
    return try withUnsafeTemporaryAllocation(of: Source.Element.self, capacity: 1) { empty in
      try body(UnsafeRawPointer(empty.baseAddress!))
    }
  }
}
