/// What the ``Trainer`` reports while it runs, for logs, progress displays and tests.
public enum TrainingEvent {
  /// The loop starts at `step` of `totalSteps`.
  case started(step: Int, totalSteps: Int)
  /// Training continues from this checkpoint.
  case resumed(from: CheckpointStore.Entry)
  /// No valid checkpoint was found; the run starts from the beginning.
  case resumedFromScratch
  /// A checkpoint failed verification and was not used.
  case checkpointRejected(CheckpointStore.Entry, reason: String)
  /// A step ended (skipped or not).
  case stepFinished(StepReport)
  /// An evaluation ended.
  case evaluated(EvaluationReport)
  /// One file of the checkpoint of `step` is written in its temporary directory.
  case checkpointFileWritten(step: Int, file: String)
  /// A checkpoint is complete.
  case checkpointSaved(CheckpointStore.Entry, seconds: Double)
  /// A periodic checkpoint was not written (e.g. too little disk space).
  case checkpointSkipped(step: Int, reason: String)
  /// Too many non-finite steps in a row: the model and optimizer went back to this checkpoint.
  case rolledBack(fromStep: Int, to: CheckpointStore.Entry)
  /// A stop was requested; the loop ends after saving.
  case stopping(step: Int)
  /// The loop ended.
  case finished(TrainingSummary)
}
