import Foundation
import Testing

/// Where the executable `name` of this package would be beside the test runner, and the path
/// when it is there (`swift build --build-tests` builds every executable).
public func locateBuiltExecutable(named name: String) -> (path: String?, candidates: [String]) {
  var candidates: [URL] = []
  let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
  candidates.append(runner.deletingLastPathComponent().appendingPathComponent(name))
  if let executable = Bundle.main.executableURL {
    candidates.append(executable.deletingLastPathComponent().appendingPathComponent(name))
  }
  let found = candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
  return (found?.path, candidates.map(\.path))
}

/// The executable `name` of this package built beside the test runner; throws (failing the
/// test) when it is not there. Pair with `.requires(.built(name))` so a user's run skips.
public func requireBuiltExecutable(named name: String) throws -> String {
  let (path, candidates) = locateBuiltExecutable(named: name)
  guard let path else {
    throw Requirement.Unmet(
      reason:
        "no \(name) executable beside the test runner (\(candidates.joined(separator: ", "))); "
        + "build it with `swift build --build-tests`")
  }
  return path
}

/// The executable `name` of this package built beside the test runner (`swift build
/// --build-tests` builds every executable), or `nil` after recording an issue naming `test`
/// (a test that cannot run fails; `.requires(.built(name))` makes a user's run skip it instead).
public func builtExecutable(named name: String, for test: String = #function) -> String? {
  let (path, candidates) = locateBuiltExecutable(named: name)
  if let path { return path }
  Issue.record(
    Comment(
      rawValue: "\(test): no \(name) executable beside the test runner "
        + "(\(candidates.joined(separator: ", "))); build it with `swift build --build-tests`"))
  return nil
}
