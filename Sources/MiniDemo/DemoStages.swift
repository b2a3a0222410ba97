import Foundation

/// One command the demo ran: its arguments (after `minillm`), how long it took, what it printed.
struct DemoCommandRecord: Codable, Sendable {
  var arguments: [String]
  var seconds: Double
  /// Standard output (progress goes to standard error, shown live and not kept).
  var output: String

  /// The command line as a user would type it.
  var commandLine: String { (["minillm"] + arguments).map(shellQuoted).joined(separator: " ") }

  /// The last line of the output that parses as a JSON object.
  var jsonFigures: [String: Any]? {
    for line in output.split(separator: "\n").reversed() where line.hasPrefix("{") {
      if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
        return object
      }
    }
    return nil
  }
}

/// A finished stage, stored as `OUT/stages/NAME.json` so a later run can reuse it.
struct DemoStageRecord: Codable, Sendable {
  var name: String
  var commands: [DemoCommandRecord]
  var seconds: Double
  /// Whether this run reused the stage instead of running it (not stored).
  var reused = false

  enum CodingKeys: String, CodingKey { case name, commands, seconds }
}

/// Runs the demo's stages as child processes of this executable and keeps their records.
///
/// A stage is reused when its record exists, the files it makes exist, and no earlier stage
/// ran in this session (a stage that runs invalidates everything after it).
final class DemoStageRunner {
  let folder: String
  let executable: String
  private(set) var records: [DemoStageRecord] = []
  private var invalidated: Bool
  private let started = Date()

  init(folder: String, fresh: Bool, supports: @escaping ([String], String?) -> Bool) throws {
    self.folder = folder
    self.supports = supports
    invalidated = fresh
    executable = Self.ownExecutable()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  /// Seconds since the runner was made.
  var elapsed: Double { Date().timeIntervalSince(started) }

  /// Seconds of every stage so far, reused ones at the time they took when they ran.
  var stageSeconds: Double { records.map(\.seconds).reduce(0, +) }

  /// Seconds the reused stages took when they ran.
  var reusedSeconds: Double { records.filter(\.reused).map(\.seconds).reduce(0, +) }

  /// The record of a stage that already ran or was reused in this session.
  func record(_ name: String) -> DemoStageRecord? { records.first { $0.name == name } }

  /// Runs `commands` in order as stage `name` unless a finished run of it can be reused.
  ///
  /// - Parameters:
  ///   - name: The stage's name (also its record's file name).
  ///   - title: What the stage does, printed in its header line.
  ///   - produces: Files or folders the stage makes; it is rerun when one is missing.
  ///   - commands: Each command's arguments after `minillm`; a closure so arguments can be
  ///     worked out only when the stage really runs.
  /// - Returns: The stage's record.
  @discardableResult
  func stage(
    _ name: String, _ title: String, produces: [String],
    commands: () throws -> [[String]]
  ) throws -> DemoStageRecord {
    let path = (folder as NSString).appendingPathComponent("\(name).json")
    let number = records.count + 1
    if !invalidated,
      let data = FileManager.default.contents(atPath: path),
      var record = try? JSONDecoder().decode(DemoStageRecord.self, from: data),
      produces.allSatisfy({ FileManager.default.fileExists(atPath: $0) })
    {
      record.reused = true
      records.append(record)
      say(
        "\n== [\(number)] \(title): reusing the run of \(String(format: "%.1f", record.seconds)) s (\(path); --fresh to redo)"
      )
      return record
    }
    invalidated = true
    try? FileManager.default.removeItem(atPath: path)
    say("\n== [\(number)] \(title)")
    let start = Date()
    var results: [DemoCommandRecord] = []
    for arguments in try commands() {
      results.append(try run(arguments))
    }
    let record = DemoStageRecord(
      name: name, commands: results, seconds: Date().timeIntervalSince(start))
    for file in produces where !FileManager.default.fileExists(atPath: file) {
      throw DemoError("demo: stage \(name) finished but did not make \(file)")
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try encoder.encode(record).write(to: URL(fileURLWithPath: path), options: .atomic)
    records.append(record)
    say("-- \(title): \(String(format: "%.1f", record.seconds)) s")
    return record
  }

  /// Runs `minillm ARGUMENTS` as a child process: prints the command line, passes standard
  /// error through, and echoes and keeps standard output.
  ///
  /// - Throws: When the command cannot start or exits with a non-zero status.
  func run(_ arguments: [String], echo: Bool = true) throws -> DemoCommandRecord {
    let line = (["minillm"] + arguments).map(shellQuoted).joined(separator: " ")
    say("$ \(line)")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.standardError
    let start = Date()
    try process.run()
    var output = Data()
    let reader = pipe.fileHandleForReading
    while true {
      let chunk = reader.availableData
      if chunk.isEmpty { break }
      output.append(chunk)
      if echo { FileHandle.standardOutput.write(chunk) }
    }
    process.waitUntilExit()
    let seconds = Date().timeIntervalSince(start)
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
      throw DemoError(
        "demo: `\(line)` failed (status \(process.terminationStatus)); fix the cause and run the demo again: finished stages are reused"
      )
    }
    return DemoCommandRecord(
      arguments: arguments, seconds: seconds, output: String(decoding: output, as: UTF8.self))
  }

  /// Whether this build has the subcommand `path` (e.g. `["data", "dpo"]`) and, when `needle`
  /// is given, whether its help mentions it (e.g. a flag).
  let supports: ([String], String?) -> Bool

  /// This executable's path (`/proc/self/exe` resolved, so the children are this same build).
  static func ownExecutable() -> String {
    if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      return resolved
    }
    return CommandLine.arguments[0]
  }
}

/// `text` quoted for a POSIX shell when it needs quoting.
func shellQuoted(_ text: String) -> String {
  let plain = text.unicodeScalars.allSatisfy {
    CharacterSet.alphanumerics.contains($0) || "-_./=:,+@%".unicodeScalars.contains($0)
  }
  if plain && !text.isEmpty { return text }
  if text.contains("\n") {
    let escaped = text.replacingOccurrences(of: "\\", with: "\\\\")
      .replacingOccurrences(of: "'", with: "\\'").replacingOccurrences(of: "\n", with: "\\n")
    return "$'" + escaped + "'"
  }
  return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Writes a line to standard output unbuffered, so it stays in order with the output of the
/// child processes that the demo echoes.
func say(_ text: String) {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
