import Foundation

/// A Python interpreter that can import every module in `modules`: `$MINILLM_TEST_PYTHON` when
/// set, else `python3` from the `PATH`; `nil` (the caller skips with a printed reason) otherwise.
public func pythonInterpreter(importing modules: [String]) -> String? {
  var candidates: [String] = []
  if let configured = ProcessInfo.processInfo.environment["MINILLM_TEST_PYTHON"] {
    candidates.append(configured)
  }
  candidates.append("python3")
  for candidate in candidates {
    let check = "import " + modules.joined(separator: ", ")
    if runProcess(candidate, ["-c", check]) != nil { return candidate }
  }
  return nil
}

/// Runs `executable` (a path, or a name looked up in the `PATH`) with `arguments`; its standard
/// output when it exits with status 0, else `nil`. Standard error is discarded unless
/// `errorOutput` is given.
public func runProcess(
  _ executable: String, _ arguments: [String], errorOutput: UnsafeMutablePointer<String>? = nil
) -> Data? {
  let process = Process()
  if executable.contains("/") {
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
  } else {
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
  }
  let output = Pipe()
  let error = Pipe()
  process.standardOutput = output
  process.standardError = error
  do { try process.run() } catch { return nil }
  let data = output.fileHandleForReading.readDataToEndOfFile()
  let errorData = error.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  errorOutput?.pointee = String(decoding: errorData, as: UTF8.self)
  return process.terminationStatus == 0 ? data : nil
}

/// Runs a Python interpreter on a script; gives its standard output, or the reason it could not.
public struct PythonRunner: Sendable {
  /// The interpreter (an absolute path or a name looked up on `PATH`).
  public let executable: String

  /// A runner for `executable`.
  public init(executable: String) { self.executable = executable }

  /// The interpreter of the peers' virtual environment that `scripts/peers` installs:
  /// `$MINILLM_TEST_PYTHON` when set, else `.build/peers-venv/bin/python` in this package.
  public static var peersInterpreter: String {
    if let named = ProcessInfo.processInfo.environment["MINILLM_TEST_PYTHON"], !named.isEmpty {
      return named
    }
    let venv = ProcessInfo.processInfo.environment["PEERS_VENV"].flatMap { $0.isEmpty ? nil : $0 }
    let root = packageRoot() ?? FileManager.default.currentDirectoryPath
    let folder =
      venv.map { $0.hasPrefix("/") ? $0 : root + "/" + $0 } ?? root + "/.build/peers-venv"
    return folder + "/bin/python"
  }

  /// The peers' interpreter (``peersInterpreter``) if it imports every module of `modules`;
  /// otherwise the reason.
  public static func peers(importing modules: [String]) -> Result<PythonRunner, Skip> {
    let runner = PythonRunner(executable: peersInterpreter)
    if runner.executable.contains("/")
      && !FileManager.default.isExecutableFile(atPath: runner.executable)
    {
      return .failure(
        Skip(reason: "\(runner.executable) is absent: run scripts/peers (make test does)"))
    }
    switch runner.run(["-c", "import " + modules.joined(separator: ", ")]) {
    case .success: return .success(runner)
    case .failure(let failure):
      return .failure(Skip(reason: "\(runner.executable) cannot import them: \(failure.reason)"))
    }
  }

  /// The peers' interpreter importing every module of `modules`; throws (failing the test) when
  /// there is none. Pair with `.requires(.python(...))` so a user's run skips instead.
  public static func requirePeers(importing modules: [String]) throws -> PythonRunner {
    switch peers(importing: modules) {
    case .success(let runner): return runner
    case .failure(let skip): throw Requirement.Unmet(reason: skip.reason)
    }
  }

  /// The interpreter named by the environment variable `variable`, else `python3`, if it can
  /// import every module of `modules`; otherwise the reason, to print when skipping.
  public static func find(importing modules: [String], variable: String) -> Result<
    PythonRunner, Skip
  > {
    var candidates: [String] = []
    if let named = ProcessInfo.processInfo.environment[variable], !named.isEmpty {
      candidates.append(named)
    }
    candidates.append("python3")
    var reasons: [String] = []
    for candidate in candidates {
      let runner = PythonRunner(executable: candidate)
      switch runner.run(["-c", "import " + modules.joined(separator: ", ")]) {
      case .success: return .success(runner)
      case .failure(let failure): reasons.append("\(candidate): \(failure.reason)")
      }
    }
    return .failure(
      Skip(
        reason: "no Python that imports \(modules.joined(separator: ", ")) (set \(variable)); "
          + reasons.joined(separator: "; ")))
  }

  /// Why a check was skipped.
  public struct Skip: Error, Sendable {
    /// What was missing or failed.
    public let reason: String
  }

  /// Runs the interpreter with `arguments`; its standard output when it exits with 0.
  public func run(_ arguments: [String]) -> Result<Data, Skip> {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    let output = Pipe()
    process.standardOutput = output
    let errorPath = NSTemporaryDirectory() + "/python-stderr-\(UUID().uuidString).txt"
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errorPath) }
    process.standardError = FileHandle(forWritingAtPath: errorPath)
    do { try process.run() } catch { return .failure(Skip(reason: "cannot start: \(error)")) }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let errors = FileManager.default.contents(atPath: errorPath) ?? Data()
      let text = String(decoding: errors.suffix(3000), as: UTF8.self)
      return .failure(Skip(reason: "exit \(process.terminationStatus): \(text)"))
    }
    return .success(data)
  }
}
