/// A settings struct of optional fields that stack as layers: a value given in an upper layer
/// (command-line flags) wins over the one of a lower layer (the settings stored by an earlier
/// session of a run), which wins over the next (a stage's defaults).
///
/// Conforming types list their fields once, in ``fields``; ``overlaid(on:applyingTies:)`` merges every
/// field the same way. ``ties`` name the fields whose lower value only holds together with the
/// lower value of another field (a stored minimum learning rate is dropped when a new peak is
/// given).
public protocol LayeredSettings {
  /// Every optional field of the struct.
  static var fields: [SettingField<Self>] { get }
  /// `(dependent, trigger)`: when an upper layer sets `trigger`, the lower layer's `dependent`
  /// is ignored.
  static var ties: [(dependent: SettingField<Self>, trigger: SettingField<Self>)] { get }
}

extension LayeredSettings {
  public static var ties: [(dependent: SettingField<Self>, trigger: SettingField<Self>)] { [] }

  /// This layer over `lower`: every field this layer leaves `nil` takes `lower`'s value.
  /// - Parameter applyingTies: whether ``ties`` drop values of `lower` (not for a layer of
  ///   defaults that must fill every field left empty).
  public func overlaid(on lower: Self, applyingTies: Bool = true) -> Self {
    var lower = lower
    for (dependent, trigger) in Self.ties where applyingTies && trigger.isSet(self) {
      dependent.clear(&lower)
    }
    var result = self
    for field in Self.fields { field.fill(&result, lower) }
    return result
  }
}

/// One optional field of a ``LayeredSettings`` struct, named by its key path.
public struct SettingField<Root> {
  let fill: (inout Root, Root) -> Void
  let clear: (inout Root) -> Void
  let isSet: (Root) -> Bool

  /// The field at `keyPath`.
  public init<Value>(_ keyPath: WritableKeyPath<Root, Value?>) {
    fill = { upper, lower in
      if upper[keyPath: keyPath] == nil { upper[keyPath: keyPath] = lower[keyPath: keyPath] }
    }
    clear = { $0[keyPath: keyPath] = nil }
    isSet = { $0[keyPath: keyPath] != nil }
  }
}

/// The settings that differ between a session and the run it continues, as
/// `flag: stored → given` lines.
public struct SettingDifferences {
  /// The lines so far.
  public private(set) var lines: [String] = []

  /// No differences yet.
  public init() {}

  /// Adds `flag: theirs → mine` when the two differ.
  public mutating func compare<T: Equatable>(_ flag: String, _ mine: T, _ theirs: T) {
    if mine != theirs { lines.append("\(flag): \(theirs) → \(mine)") }
  }
}
