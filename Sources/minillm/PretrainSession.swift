import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

/// A Llama whose saved model directory also carries the data's tokenizer, so checkpoints and
/// the final model work with `generate --prompt`.
final class PretrainModel: TrainableModel {
  let llama: Llama
  let tokenizerPath: String?

  init(llama: Llama, tokenizerPath: String?) {
    self.llama = llama
    self.tokenizerPath = tokenizerPath
  }

  var arena: ParameterArena { llama.arena }

  func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try llama.visitParameters(visitor)
  }

  func save(to directory: String) throws {
    try llama.save(to: directory)
    if let tokenizerPath {
      let file = try MappedFile(path: tokenizerPath)
      try writeFileAtomically(to: directory + "/tokenizer.model") { sink in
        try file.withUnsafeBytes { try sink.write($0) }
      }
    }
  }
}

/// Builds the model, windows and loader of a `minillm pretrain` session from its settings and
/// runs them in a ``TrainingSession``; each of several `processes` takes its share of every
/// batch and of the held-out batches.
func runPretraining(
  _ configuration: RunConfiguration<PretrainSettings>, run: RunDirectory, dataset: TokenDataset,
  tokenizerPath: String?, resume: Bool, processes: TrainingProcesses? = nil
) throws {
  let communicator = processes?.communicator ?? SingleProcessCommunicator()
  let (settings, common) = (configuration.stage, configuration.training)
  let llama = Llama(config: settings.model, seed: common.seed)
  let (training, heldOut) = TokenWindows(
    dataset: dataset, sequenceLength: settings.sequenceLength
  ).split(heldOutFraction: common.evalFraction)
  let loader = TokenWindowLoader(
    windows: training, batchSize: common.microBatchSize, shuffle: true, seed: common.seed,
    rank: communicator.rank, worldSize: communicator.worldSize)
  let evaluation = communicator.share(
    of: try heldOut.sequentialBatches(batchSize: common.microBatchSize, limit: common.evalBatches))
  let session = TrainingSession(
    label: PretrainStage.name, settings: common, run: run, resume: resume,
    model: PretrainModel(llama: llama, tokenizerPath: tokenizerPath),
    objective: CausalLanguageModelObjective(model: llama), loader: loader,
    evaluationBatches: evaluation, communicator: communicator)
  try session.train(
    summary: "\(llama.parameterCount) parameters, \(training.count) training windows of "
      + "\(settings.sequenceLength) tokens (\(heldOut.count) held out)")
}
