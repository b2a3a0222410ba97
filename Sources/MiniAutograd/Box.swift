/// A mutable slot a backward closure can move a saved value out of, so that the value's storage
/// becomes uniquely referenced (and reusable in place) once taken.
final class Box<Value> {
  private var value: Value?

  init(_ value: Value) { self.value = value }

  /// The value, leaving the box empty.
  func take() -> Value? {
    defer { value = nil }
    return value
  }
}
