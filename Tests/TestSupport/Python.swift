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
