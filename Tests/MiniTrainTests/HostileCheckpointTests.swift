import Foundation
import MiniLlama
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Checkpoints whose manifest is consistent but whose contents are extreme, and checkpoints
/// written to a full or read-only file system: each is one clear error, and the previous
/// checkpoint stays whole.
@Suite struct HostileCheckpointTests {
  typealias LMTrainer = Trainer<Llama, CausalLanguageModelObjective, TokenWindowLoader>

  func trainer(_ run: RunDirectory) throws -> LMTrainer {
    let dataset = try writeDataset(
      patternDocuments(count: 40, vocabulary: 64), vocabulary: 64, into: try temporaryDirectory())
    let windows = TokenWindows(dataset: dataset, sequenceLength: 16)
    let llama = Llama(config: tinyConfig(), seed: 1)
    return Trainer(
      model: llama, objective: CausalLanguageModelObjective(model: llama),
      optimizer: AdamW(learningRate: 1e-3),
      schedule: LearningRateSchedule(
        kind: .cosine, peakLearningRate: 1e-3, warmupSteps: 1, totalSteps: 6),
      loader: TokenWindowLoader(windows: windows, batchSize: 2, seed: 1),
      configuration: TrainingConfiguration(totalSteps: 3, checkpointEvery: 3), run: run)
  }

  /// A run with one good checkpoint after step 3.
  func goodCheckpoint() throws -> CheckpointStore.Entry {
    let run = RunDirectory(path: try temporaryDirectory())
    try trainer(run).run()
    let entry = try #require(run.checkpoints.newestValid())
    #expect(entry.step == 3)
    return entry
  }

  /// A new run whose only checkpoint is `entry`'s files as `change` leaves them, with a
  /// manifest that matches them; resuming it must fail naming `expected`.
  func expectResumeRejected(
    _ entry: CheckpointStore.Entry, step: Int = 3, naming expected: String,
    sourceLocation: SourceLocation = #_sourceLocation, change: (String) throws -> Void
  ) throws {
    let run = RunDirectory(path: try temporaryDirectory())
    try run.checkpoints.write(step: step) { directory in
      for name in try FileManager.default.contentsOfDirectory(atPath: entry.path)
      where name != CheckpointManifest.fileName {
        try FileManager.default.copyItem(
          atPath: entry.path + "/" + name, toPath: directory + "/" + name)
      }
      try change(directory)
    }
    #expect(run.checkpoints.newestValid()?.step == step, sourceLocation: sourceLocation)
    do {
      try trainer(run).resume()
      Issue.record("resumed from a hostile checkpoint", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
      #expect("\(error)".contains(expected), "\(error)", sourceLocation: sourceLocation)
    }
  }

  /// Rewrites `trainer_state.json` in `directory` through `edit`.
  func editState(_ directory: String, _ edit: (inout [String: Any]) -> Void) throws {
    let path = directory + "/trainer_state.json"
    var object =
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
      as! [String: Any]
    edit(&object)
    try FileManager.default.removeItem(atPath: path)
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
  }

  func nested(_ object: inout [String: Any], _ key: String, _ field: String, _ value: Any) {
    var inner = object[key] as! [String: Any]
    inner[field] = value
    object[key] = inner
  }

  @Test func optimizerStepAtInt64MaxIsRejected() throws {
    let entry = try goodCheckpoint()
    try expectResumeRejected(entry, naming: "tensor 'step'") { directory in
      let path = directory + "/" + LMTrainer.optimizerFileName
      let file = try SafeTensorsFile(path: path)
      var entries = try file.names.filter { $0 != "step" }.map {
        SafeTensorsEntry($0, try file.tensor(named: $0))
      }
      entries.append(SafeTensorsEntry("step", int64: [Int64.max], shape: []))
      let metadata = file.metadata
      try FileManager.default.removeItem(atPath: path)
      try SafeTensors.write(entries, metadata: metadata, to: path)
    }
  }

  @Test func tokensSeenAtInt64MaxIsRejected() throws {
    let entry = try goodCheckpoint()
    try expectResumeRejected(entry, naming: "tokens_seen") { directory in
      try editState(directory) { nested(&$0, "progress", "tokens_seen", Int64.max) }
    }
  }

  @Test func aNegativeRNGWordIsRejected() throws {
    let entry = try goodCheckpoint()
    try expectResumeRejected(entry, naming: "word") { directory in
      try editState(directory) { object in
        var cursor = object["data_cursor"] as! [String: Any]
        var rng = cursor["shuffle_rng"] as! [String: Any]
        rng["word"] = -1
        cursor["shuffle_rng"] = rng
        object["data_cursor"] = cursor
      }
    }
  }

  @Test func aNegativeWarmupIsRejected() throws {
    let entry = try goodCheckpoint()
    try expectResumeRejected(entry, naming: "warmup_steps") { directory in
      try editState(directory) { nested(&$0, "schedule", "warmup_steps", -1) }
    }
  }

  @Test func aStepContradictingTheManifestIsRejected() throws {
    let entry = try goodCheckpoint()
    try expectResumeRejected(entry, naming: "progress.step 5 contradicts") { directory in
      try editState(directory) { nested(&$0, "progress", "step", 5) }
    }
    // Used to be accepted: "training from step 4611686018427387904 to 3".
    try expectResumeRejected(entry, naming: "4611686018427387904") { directory in
      try editState(directory) { nested(&$0, "progress", "step", 1 << 62) }
    }
  }

  @Test func decodingAScheduleChecksEveryValue() throws {
    let good = LearningRateSchedule(kind: .wsd, peakLearningRate: 1e-3, totalSteps: 10)
    let data = try JSONEncoder().encode(good)
    #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: data) == good)
    var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    object["peak_learning_rate"] = -1
    #expect(throws: DecodingError.self) {
      _ = try JSONDecoder().decode(
        LearningRateSchedule.self, from: try JSONSerialization.data(withJSONObject: object))
    }
  }

  /// A tmpfs of `kilobytes` mounted on a fresh folder (root only), or `nil` after printing why
  /// the caller is skipped.
  func smallFileSystem(kilobytes: Int, for test: String = #function) throws -> String? {
    let folder = try temporaryDirectory()
    let status = try runTool(
      "/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", folder])
    guard status == 0 else {
      print("skipping \(test): cannot mount a tmpfs (needs root)")
      return nil
    }
    return folder
  }

  func runTool(_ path: String, _ arguments: [String]) throws -> Int32 {
    guard FileManager.default.isExecutableFile(atPath: path) else { return -1 }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
  }

  /// Writes a checkpoint of `step` with one weight file of `floats` values.
  func writeCheckpoint(_ store: CheckpointStore, step: Int, floats: Int) throws {
    try store.write(step: step) { directory in
      try SafeTensors.write(
        ["w": Tensor([Float](repeating: Float(step), count: floats), shape: [floats])],
        to: directory + "/model.safetensors")
    }
  }

  @Test func aFullDiskFailsOnceAndKeepsThePreviousCheckpoint() throws {
    guard let mount = try smallFileSystem(kilobytes: 512) else { return }
    defer { _ = try? runTool("/bin/umount", [mount]) }
    let store = CheckpointStore(directory: mount + "/checkpoints")
    try writeCheckpoint(store, step: 1, floats: 1024)
    #expect(throws: (any Error).self) {
      try writeCheckpoint(store, step: 2, floats: 1 << 18)  // 1 MiB: does not fit
    }
    #expect(store.entries().map(\.step) == [1])
    #expect(store.newestValid()?.step == 1)
    #expect(!FileManager.default.fileExists(atPath: store.directory + "/step-000002.tmp"))
    _ = try CheckpointManifest.verify(directory: store.directory + "/step-000001")
  }

  @Test func aReadOnlyFolderFailsOnceAndKeepsThePreviousCheckpoint() throws {
    guard let mount = try smallFileSystem(kilobytes: 1024) else { return }
    defer { _ = try? runTool("/bin/umount", [mount]) }
    let store = CheckpointStore(directory: mount + "/checkpoints")
    try writeCheckpoint(store, step: 1, floats: 1024)
    guard try runTool("/bin/mount", ["-o", "remount,ro", mount]) == 0 else {
      Issue.record("cannot remount \(mount) read-only")
      return
    }
    do {
      try writeCheckpoint(store, step: 2, floats: 1024)
      Issue.record("wrote a checkpoint into a read-only folder")
    } catch let error as CheckpointError {
      #expect(error.path.hasPrefix(store.directory), "\(error)")
    }
    #expect(store.entries().map(\.step) == [1])
    _ = try CheckpointManifest.verify(directory: store.directory + "/step-000001")
  }
}
