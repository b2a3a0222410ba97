import Foundation
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

@Suite struct CheckpointTests {
  /// Writes a checkpoint of `step` holding three small files.
  @discardableResult
  func writeCheckpoint(_ store: CheckpointStore, step: Int) throws -> CheckpointStore.Entry {
    try store.write(step: step) { directory in
      try Data("{\"step\": \(step)}\n".utf8).write(
        to: URL(fileURLWithPath: directory + "/trainer_state.json"))
      try SafeTensors.write(
        ["w": Tensor((0..<24).map { Float($0 + step) }, shape: [4, 6])],
        to: directory + "/model.safetensors")
      try Data((0..<200).map { UInt8(($0 * 7 + step) % 256) }).write(
        to: URL(fileURLWithPath: directory + "/optimizer.safetensors"))
    }
  }

  @Test func writeRenamesIntoPlaceAndVerifies() throws {
    let store = CheckpointStore(directory: try temporaryDirectory() + "/checkpoints")
    let entry = try writeCheckpoint(store, step: 7)
    #expect(entry.path.hasSuffix("/step-000007"))
    let names = try FileManager.default.contentsOfDirectory(atPath: store.directory)
    #expect(names == ["step-000007"])
    let manifest = try CheckpointManifest.verify(directory: entry.path)
    #expect(manifest.step == 7)
    #expect(
      manifest.files.map(\.name) == [
        "model.safetensors", "optimizer.safetensors", "trainer_state.json",
      ])
    // Writing the same step again replaces it.
    try writeCheckpoint(store, step: 7)
    #expect(store.entries().map(\.step) == [7])
  }

  @Test func aFlippedBitAnywhereIsDetected() throws {
    let store = CheckpointStore(directory: try temporaryDirectory() + "/checkpoints")
    let entry = try writeCheckpoint(store, step: 3)
    let files = try FileManager.default.contentsOfDirectory(atPath: entry.path).sorted()
    #expect(files.contains("manifest.json"))
    var checked = 0
    for name in files {
      let url = URL(fileURLWithPath: entry.path + "/" + name)
      let original = try Data(contentsOf: url)
      // Every byte of every file, the manifest included, with the bit varying by position.
      for offset in 0..<original.count {
        var corrupted = original
        corrupted[offset] ^= UInt8(1 << (offset % 8))
        try corrupted.write(to: url)
        #expect(
          throws: CheckpointError.self, "bit \(offset % 8) of byte \(offset) of \(name)"
        ) {
          try CheckpointManifest.verify(directory: entry.path)
        }
        checked += 1
      }
      try original.write(to: url)
    }
    #expect(checked > 600)
    #expect(try CheckpointManifest.verify(directory: entry.path).step == 3)
  }

  @Test func truncationAndMissingOrExtraFilesAreDetected() throws {
    let store = CheckpointStore(directory: try temporaryDirectory() + "/checkpoints")
    let entry = try writeCheckpoint(store, step: 3)
    for name in try FileManager.default.contentsOfDirectory(atPath: entry.path) {
      let url = URL(fileURLWithPath: entry.path + "/" + name)
      let original = try Data(contentsOf: url)
      for length in [0, 1, original.count / 2, original.count - 1] {
        try original.prefix(length).write(to: url)
        #expect(throws: CheckpointError.self, "\(name) cut to \(length) bytes") {
          try CheckpointManifest.verify(directory: entry.path)
        }
      }
      try original.write(to: url)
    }
    try Data("x".utf8).write(to: URL(fileURLWithPath: entry.path + "/stray.txt"))
    #expect(throws: CheckpointError.self) { try CheckpointManifest.verify(directory: entry.path) }
    try FileManager.default.removeItem(atPath: entry.path + "/stray.txt")
    try FileManager.default.removeItem(atPath: entry.path + "/optimizer.safetensors")
    #expect(throws: CheckpointError.self) { try CheckpointManifest.verify(directory: entry.path) }
  }

  @Test func newestValidSkipsCorruptedAndUnfinishedCheckpoints() throws {
    let store = CheckpointStore(directory: try temporaryDirectory() + "/checkpoints")
    for step in [2, 4, 6] { try writeCheckpoint(store, step: step) }
    // An unfinished write of step 8 and a step-6 whose model was corrupted.
    try FileManager.default.createDirectory(
      atPath: store.directory + "/step-000008.tmp", withIntermediateDirectories: true)
    let model = URL(fileURLWithPath: store.directory + "/step-000006/model.safetensors")
    var bytes = try Data(contentsOf: model)
    bytes[bytes.count - 3] ^= 0x10
    try bytes.write(to: model)
    var rejected: [(Int, String)] = []
    let chosen = store.newestValid { entry, error in rejected.append((entry.step, error.message)) }
    #expect(chosen?.step == 4)
    #expect(rejected.map(\.0) == [6])
    #expect(rejected.first?.1.contains("SHA-256") == true)
    // A manifest with the wrong step for its directory is rejected too.
    try FileManager.default.moveItem(
      atPath: store.directory + "/step-000004", toPath: store.directory + "/step-000009")
    #expect(store.newestValid()?.step == 2)
    try store.removeLeftovers()
    #expect(!FileManager.default.fileExists(atPath: store.directory + "/step-000008.tmp"))
  }

  @Test func pruneKeepsTheLastKAndEveryMth() throws {
    let store = CheckpointStore(directory: try temporaryDirectory() + "/checkpoints")
    for step in stride(from: 5, through: 50, by: 5) { try writeCheckpoint(store, step: step) }
    let removed = try store.prune(keepLast: 2, keepEvery: 20)
    #expect(store.entries().map(\.step) == [20, 40, 45, 50])
    #expect(removed.map(\.step) == [5, 10, 15, 25, 30, 35])
  }
}
