import Foundation
import Synchronization
import Testing

/// What a test needs beyond the package itself: a peer (a Python package, a browser, `mpirun`),
/// a built executable, or a file beside the package.
///
/// On a user's machine a test whose requirement is missing is reported as *skipped* with the
/// reason (``Trait/requires(_:)``); under CI (`MINILLM_CI=1`, set by `.ci/run`) it runs and
/// fails, so a check that cannot run never counts as passed.
public struct Requirement: Sendable, CustomStringConvertible {
  /// What the test needs, for the skip message.
  public let description: String
  private let probe: @Sendable () -> String?

  /// A requirement met when `probe` returns `nil`; otherwise `probe` says what is missing.
  public init(_ description: String, probe: @escaping @Sendable () -> String?) {
    self.description = description
    self.probe = probe
  }

  /// Why the requirement is not met, or `nil` when it is (probed once per process).
  public var missing: String? { RequirementCache.shared.missing(description, probe) }

  /// Whether the requirement is met.
  public var isMet: Bool { missing == nil }

  /// Throws (failing the test) when the requirement is not met.
  public func check() throws {
    if let missing { throw Unmet(reason: "\(description): \(missing)") }
  }

  /// A requirement that is not met, thrown by ``check()``.
  public struct Unmet: Error, CustomStringConvertible, Sendable {
    /// What was missing.
    public let reason: String
    public var description: String { reason }
  }

  /// True under CI (`MINILLM_CI=1`): every requirement is then compulsory.
  public static var isCI: Bool {
    let value = ProcessInfo.processInfo.environment["MINILLM_CI"] ?? ""
    return !value.isEmpty && value != "0"
  }

  /// A Python of the peers' virtual environment that imports every module of `modules`.
  public static func python(_ modules: String...) -> Requirement {
    Requirement("a Python importing \(modules.joined(separator: ", ")) (scripts/peers)") {
      switch PythonRunner.peers(importing: modules) {
      case .success: return nil
      case .failure(let skip): return skip.reason
      }
    }
  }

  /// An executable named `name` on the `PATH`.
  public static func tool(_ name: String, package: String) -> Requirement {
    Requirement("\(name) on the PATH (Debian package \(package))") {
      executableOnPath(name) == nil ? "not found" : nil
    }
  }

  /// An executable of this package built beside the test runner (`swift build --build-tests`).
  public static func built(_ name: String) -> Requirement {
    Requirement("the \(name) executable beside the test runner (swift build --build-tests)") {
      locateBuiltExecutable(named: name).path == nil ? "not built" : nil
    }
  }

  /// `../shared/<relative>` beside the package.
  public static func shared(_ relative: String) -> Requirement {
    Requirement("../shared/\(relative)") { sharedPath(relative) == nil ? "absent" : nil }
  }

  /// Every one of `requirements`.
  public static func all(_ requirements: Requirement...) -> Requirement {
    Requirement(requirements.map(\.description).joined(separator: " and ")) {
      let missing = requirements.compactMap { requirement in
        requirement.missing.map { "\(requirement.description): \($0)" }
      }
      return missing.isEmpty ? nil : missing.joined(separator: "; ")
    }
  }
}

extension Trait where Self == ConditionTrait {
  /// Runs the test when `requirement` is met, or under CI (where the test then fails on the
  /// missing requirement through ``Requirement/check()``); skips it with the reason otherwise.
  public static func requires(
    _ requirement: Requirement, sourceLocation: SourceLocation = #_sourceLocation
  ) -> Self {
    .enabled(
      Comment(rawValue: "needs \(requirement.description)"), sourceLocation: sourceLocation
    ) {
      Requirement.isCI || requirement.isMet
    }
  }
}

/// Probes each requirement once per process (importing torch takes seconds).
final class RequirementCache: Sendable {
  static let shared = RequirementCache()
  private let results = Mutex<[String: String?]>([:])

  func missing(_ key: String, _ probe: () -> String?) -> String? {
    if let known = results.withLock({ $0[key] }) { return known }
    let outcome = probe()
    results.withLock { $0[key] = outcome }
    return outcome
  }
}

/// The absolute path of `name` found on the `PATH`, or `nil`.
public func executableOnPath(_ name: String) -> String? {
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
  for folder in path.split(separator: ":") {
    let candidate = "\(folder)/\(name)"
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
  }
  return nil
}

/// The root of this package (the folder holding `Package.swift`), found from this source file.
public func packageRoot(file: String = #filePath) -> String? {
  var directory = URL(fileURLWithPath: file).deletingLastPathComponent()
  while directory.path != "/" {
    if FileManager.default.fileExists(
      atPath: directory.appendingPathComponent("Package.swift").path)
    {
      return directory.path
    }
    directory = directory.deletingLastPathComponent()
  }
  return nil
}

/// The path of `../shared/<relative>` beside the package; throws (failing the test) when it is
/// absent. Pair with `.requires(.shared(relative))` so a user's run without it skips.
public func requireShared(_ relative: String, file: String = #filePath) throws -> String {
  guard let path = sharedPath(relative, file: file) else {
    throw Requirement.Unmet(reason: "../shared/\(relative) is absent")
  }
  return path
}
