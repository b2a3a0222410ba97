import Foundation

/// The executable `name` of this package built beside the test runner (`swift build
/// --build-tests` builds every executable), or `nil` after printing why `test` is skipped.
public func builtExecutable(named name: String, for test: String = #function) -> String? {
  var candidates: [URL] = []
  let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
  candidates.append(runner.deletingLastPathComponent().appendingPathComponent(name))
  if let executable = Bundle.main.executableURL {
    candidates.append(executable.deletingLastPathComponent().appendingPathComponent(name))
  }
  for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
    return candidate.path
  }
  print(
    "skipping \(test): no \(name) executable beside the test runner "
      + "(\(candidates.map(\.path).joined(separator: ", "))); build it with "
      + "`swift build --build-tests`")
  return nil
}
