import Foundation
import MiniTensor

extension Trainer {
  /// Name of the optimizer state file in a checkpoint.
  public static var optimizerFileName: String { "optimizer.safetensors" }

  /// Writes the checkpoint of the current step into the run's `checkpoints/` (rank 0; the
  /// others wait): the model directory, `optimizer.safetensors`, `trainer_state.json`, then
  /// `manifest.json`; older checkpoints beyond `keepLast` (and not multiples of `keepEvery`)
  /// are deleted.
  ///
  /// Free disk space is checked first: when it is short, a periodic checkpoint (`required`
  /// false) is skipped with a ``TrainingEvent/checkpointSkipped(step:reason:)`` event, a
  /// required one throws.
  /// - Returns: the checkpoint, or `nil` when none was written.
  @discardableResult
  public func saveCheckpoint(required: Bool = true) throws -> CheckpointStore.Entry? {
    guard let run = runDirectory else { return nil }
    defer { lastSavedStep = progress.step }
    guard communicator.isPrimary else {
      try communicator.barrier()
      return nil
    }
    let store = run.checkpoints
    let needed = estimatedCheckpointBytes()
    if let available = store.availableBytes(), available < needed {
      let error = TrainerError.insufficientDiskSpace(
        path: store.directory, needed: needed, available: available)
      if required { throw error }
      onEvent(.checkpointSkipped(step: progress.step, reason: error.description))
      try communicator.barrier()
      return nil
    }
    let start = DispatchTime.now().uptimeNanoseconds
    let step = progress.step
    let state = TrainerStateFile(
      progress: progress, learningRate: optimizer.learningRate, schedule: schedule,
      dataCursor: loader.cursor, configuration: configuration, optimizer: optimizer.name)
    let entry = try store.write(step: step) { directory in
      try model.save(to: directory)
      onEvent(.checkpointFileWritten(step: step, file: "model"))
      try SafeTensors.write(
        optimizer.stateEntries(for: arena),
        metadata: ["optimizer": optimizer.name, "format": "minillm-optimizer"],
        to: directory + "/" + Self.optimizerFileName)
      onEvent(.checkpointFileWritten(step: step, file: Self.optimizerFileName))
      try FileSystem.write(
        try state.encoded(), to: directory + "/" + TrainerStateFile<Loader.Cursor>.fileName)
      onEvent(.checkpointFileWritten(step: step, file: TrainerStateFile<Loader.Cursor>.fileName))
    }
    try store.prune(keepLast: configuration.keepLast, keepEvery: configuration.keepEvery)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    onEvent(.checkpointSaved(entry, seconds: seconds))
    try communicator.barrier()
    return entry
  }

  /// Bytes a checkpoint needs: the last one's size, or the weights and two moment buffers,
  /// with a margin.
  func estimatedCheckpointBytes() -> Int {
    let previous = runDirectory?.checkpoints.entries().last.flatMap { entry in
      FileSystem.contents(of: entry.path).compactMap { FileSystem.fileSize(entry.path + "/" + $0) }
        .reduce(0, +)
    }
    let base = previous ?? (arena.count * MemoryLayout<Float>.size * 3)
    return base + base / 10 + (16 << 20)
  }

  /// Continues from the newest checkpoint of the run whose manifest verifies; newer ones that
  /// do not are reported with ``TrainingEvent/checkpointRejected(_:reason:)`` and left alone.
  /// Metrics logged after that checkpoint (by the interrupted session) are dropped. With no
  /// valid checkpoint the run starts from the beginning.
  /// - Returns: the checkpoint used, or `nil`.
  /// - Throws: ``CheckpointError`` when the chosen checkpoint cannot be applied (e.g. it was
  ///   written for another model or data), and file errors.
  @discardableResult
  public func resume() throws -> CheckpointStore.Entry? {
    guard let run = runDirectory else { return nil }
    let store = run.checkpoints
    let entry = store.newestValid(rejected: reject)
    if let entry {
      try restore(from: entry, restoringData: true)
      onEvent(.resumed(from: entry))
    } else {
      onEvent(.resumedFromScratch)
    }
    if communicator.isPrimary {
      try store.removeLeftovers()
      try MetricsLog.truncate(path: run.metricsPath, throughStep: entry?.step ?? 0)
    }
    return entry
  }

  /// Loads the model weights, optimizer state and counters of `entry` (and, with
  /// `restoringData`, the data position). The checkpoint is assumed verified.
  public func restore(from entry: CheckpointStore.Entry, restoringData: Bool) throws {
    let directory = entry.path
    let state = try TrainerStateFile<Loader.Cursor>.read(
      directory + "/" + TrainerStateFile<Loader.Cursor>.fileName)
    let statePath = directory + "/" + TrainerStateFile<Loader.Cursor>.fileName
    guard state.progress.step == entry.step else {
      throw CheckpointError(
        path: statePath,
        "progress.step \(state.progress.step) contradicts the checkpoint's step \(entry.step)")
    }
    guard state.optimizer == optimizer.name else {
      throw CheckpointError(
        path: directory,
        "was written with optimizer '\(state.optimizer)', this run uses '\(optimizer.name)'")
    }
    if restoringData {
      do {
        try loader.restore(state.dataCursor)
      } catch {
        throw CheckpointError(path: directory, "\(error)")
      }
    }
    try model.loadWeights(fromDirectory: directory)
    let optimizerFile = try SafeTensorsFile(path: directory + "/" + Self.optimizerFileName)
    try optimizer.restoreState(from: optimizerFile, for: arena)
    guard optimizer.step <= state.progress.step else {
      throw CheckpointError(
        path: optimizerFile.path,
        "tensor 'step' says \(optimizer.step) updates, more than the \(state.progress.step) steps "
          + "of \(statePath)")
    }
    progress = state.progress
    lastSavedStep = entry.step
  }
}
