import Foundation
import MiniLlama
import MiniTokenize

/// The starting model and the SFT samples of an `sft` run, checked against each other.
public struct SFTTrainingData {
  /// The starting model, its tokenizer and template.
  public let base: FineTuneBase
  /// The SFT shards.
  public let dataset: SFTDataset
  /// Their index.
  public let index: SFTShardIndex
  /// Every sample, before the held-out split.
  public let samples: SFTSubset
  /// What the run stores about the model and data.
  public let settings: FineTuneDataSettings

  /// Loads the model `model` and the SFT shards `data` (else the stored run's).
  /// - Parameters:
  ///   - maxLength: samples are cut to this many tokens (else the stored value, else the
  ///     model's context).
  ///   - run: where warnings go.
  /// - Throws: ``TrainingRunError`` naming the flag and file at fault.
  public static func load(
    model: String?, data: String?, maxLength: Int?, stored: FineTuneDataSettings?,
    frozenBase: Bool = false, run: TrainingRun
  ) throws -> SFTTrainingData {
    let (base, dataset, index, modelPath, dataPath) = try FineTuneBase.open(
      model: model, data: data, stored: stored, frozenBase: frozenBase, run: run,
      missing: ("the base model directory", "the SFT shard folder made by `minillm data sft`"),
      dataset: SFTDataset.init(directory:), index: \.index)
    let limit = try base.maxLength(maxLength, stored: stored?.maxLength, modelPath: modelPath)
    let cut = (0..<dataset.count).filter { dataset.length(of: $0) > limit }.count
    if cut > 0 {
      run.note(
        "[\(run.label)] \(cut) sample\(cut == 1 ? " is" : "s are") longer than --max-length "
          + "\(limit) tokens; their ends are cut")
    }
    let settings = base.dataSettings(
      dataPath: dataPath, unit: .samples, count: dataset.count, tokens: dataset.tokenCount,
      tokenizerSHA256: index.tokenizer.sha256, maxLength: limit)
    return SFTTrainingData(
      base: base, dataset: dataset, index: index, samples: SFTSubset(dataset: dataset),
      settings: settings)
  }

  /// Micro-batches of `microBatchSize` samples in one pass over the training samples left
  /// after holding out `evalFraction`.
  /// - Throws: when fewer training samples are left than there are processes.
  public func microBatchesPerEpoch(
    _ microBatchSize: Int, _ evalFraction: Double, processes: Int = 1
  ) throws -> Int {
    let count = samples.split(heldOutFraction: evalFraction, seed: 0).training.count
    guard count >= processes else {
      let total = dataset.count
      throw TrainingRunError.setting(
        "--data",
        "\(total) sample\(total == 1 ? "" : "s") leave "
          + (processes > 1
            ? "\(count) to train on, fewer than the \(processes) processes, "
            : "none to train on ")
          + "after holding out --eval-fraction \(evalFraction)")
    }
    return (count + microBatchSize - 1) / microBatchSize
  }

  /// The training loader and the evaluation batches of `training` for one process of
  /// `communicator`, and the counts of training and held-out samples.
  public func batches(_ training: TrainingSettings, communicator: any Communicator) -> (
    loader: SFTLoader, evaluation: [SFTBatch], trainingSamples: Int, heldOutSamples: Int
  ) {
    let (trainingSamples, heldOut) = samples.split(
      heldOutFraction: training.evalFraction, seed: training.seed)
    let loader = SFTLoader(
      samples: trainingSamples, batchSize: training.microBatchSize, paddingID: base.paddingID,
      maxLength: settings.maxLength, seed: training.seed, rank: communicator.rank,
      worldSize: communicator.worldSize)
    let evaluation = communicator.share(
      of: heldOut.evaluationBatches(
        batchSize: training.microBatchSize, paddingID: base.paddingID,
        maxLength: settings.maxLength, limit: training.evalBatches))
    return (loader, evaluation, trainingSamples.count, heldOut.count)
  }
}
