import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize

/// The starting model and the preference pairs of a `reward` or `dpo` run, checked against
/// each other.
public struct PreferenceTrainingData {
  /// The starting model, its tokenizer and template.
  public let base: FineTuneBase
  /// The preference shards.
  public let dataset: PreferenceDataset
  /// Their index.
  public let index: PreferenceShardIndex
  /// The pairs within the maximum length, padded with the base model's padding id.
  public let pairs: PreferencePairs
  /// What the run stores about the model and data.
  public let settings: FineTuneDataSettings

  /// Loads the model `model` and the preference shards `data` (else the stored run's).
  /// - Parameters:
  ///   - maxLength: pairs longer than this are left out (else the stored value, else the
  ///     model's context).
  ///   - run: where warnings go.
  /// - Throws: ``TrainingRunError`` naming the flag and file at fault.
  public static func load(
    model: String?, data: String?, maxLength: Int?, stored: FineTuneDataSettings?,
    frozenBase: Bool = false, run: TrainingRun
  ) throws -> PreferenceTrainingData {
    let (base, dataset, index, modelPath, dataPath) = try FineTuneBase.open(
      model: model, data: data, stored: stored, frozenBase: frozenBase, run: run,
      missing: (
        "the SFT model directory", "the preference shard folder made by `minillm data dpo`"
      ), dataset: PreferenceDataset.init(directory:), index: \.index)
    let directory = ModelDirectory(path: modelPath)
    if let own = try? directory.loadChatTemplate(),
      let difference = own.layoutDifference(from: index.template)
    {
      let source = directory.isGGUFFile ? modelPath : "\(modelPath)/tokenizer_config.json"
      throw TrainingRunError.setting(
        "--data",
        "\(dataPath)/index.json was rendered with another chat template (\(index.template.name)) "
          + "than --model's \(source) (\(own.name)): \(difference) differs; make the data with "
          + "the model's template (`minillm data dpo --tokenizer \(modelPath) --template …`)")
    }
    let limit = try base.maxLength(maxLength, stored: stored?.maxLength, modelPath: modelPath)
    let pairs = PreferencePairs(dataset: dataset, maxLength: limit, padID: base.paddingID)
    if pairs.excludedCount > 0 {
      run.note(
        "[\(run.label)] \(pairs.excludedCount) of \(dataset.count) pairs are longer than "
          + "--max-length \(limit) tokens and left out")
    }
    let settings = base.dataSettings(
      dataPath: dataPath, unit: .pairs, count: dataset.count,
      tokens: index.promptTokens + index.chosenTokens + index.rejectedTokens,
      tokenizerSHA256: index.tokenizer.sha256, maxLength: limit)
    return PreferenceTrainingData(
      base: base, dataset: dataset, index: index, pairs: pairs, settings: settings)
  }

  /// Micro-batches of `microBatchSize` pairs in one pass over the training pairs left after
  /// holding out `evalFraction`, for ``TrainingOptions/resolve(over:lower:defaults:processes:microBatchesPerEpoch:)``.
  /// - Throws: when not one micro-batch of training pairs is left for each process.
  public func microBatchesPerEpoch(
    _ microBatchSize: Int, _ evalFraction: Double, processes: Int = 1
  ) throws -> Int {
    let count = pairs.split(heldOutFraction: evalFraction).training.count
    guard count >= microBatchSize * processes else {
      throw TrainingRunError.setting(
        "--data",
        "\(pairs.count) pairs within --max-length leave \(count) to train on after "
          + "holding out --eval-fraction \(evalFraction), fewer than one micro-batch "
          + "(\(microBatchSize))" + (processes > 1 ? " for each of \(processes) processes" : ""))
    }
    return count / microBatchSize
  }

  /// The training loader and the evaluation batches of `training` for one process of
  /// `communicator`, and the counts of training and held-out pairs.
  public func batches(_ training: TrainingSettings, communicator: any Communicator) -> (
    loader: PreferenceLoader, evaluation: [PreferenceBatch], trainingPairs: Int, heldOutPairs: Int
  ) {
    let (trainingPairs, heldOut) = pairs.split(
      heldOutFraction: training.evalFraction, seed: training.seed)
    let loader = PreferenceLoader(
      pairs: trainingPairs, batchSize: training.microBatchSize, seed: training.seed,
      rank: communicator.rank, worldSize: communicator.worldSize)
    let evaluation = communicator.share(
      of: heldOut.sequentialBatches(
        batchSize: training.microBatchSize, limit: training.evalBatches))
    return (loader, evaluation, trainingPairs.count, heldOut.count)
  }
}

extension TrainingRun {
  /// The reference log-likelihoods of every pair of `data` for DPO: read back from the run
  /// when a resumed run stored them for the same model and data, else computed with the
  /// untouched starting model (before any checkpoint is loaded into the policy), the batches
  /// dealt over the ranks, and stored by rank 0 in `RUN/reference_logps.safetensors`. A GGUF
  /// base kept in blocks is run on `Float` activations, as the policy over it trains.
  public func referenceLogProbabilities(
    _ data: PreferenceTrainingData, batchSize: Int
  ) throws -> ReferenceLogProbabilities {
    let model = data.base.llama.computingInFloat()
    var digest = SHA256()
    model.arena.values.withUnsafeBufferPointer { digest.update(UnsafeRawBufferPointer($0)) }
    for weight in model.linearWeights {
      if case .ggml(let matrix, _) = weight {
        matrix.blockBytes.withUnsafeBytes { digest.update($0) }
      }
    }
    let identity = [
      "reference_model": data.base.path, "reference_sha256": SHA256.hex(digest.finalize()),
      "data": data.settings.data, "data_pairs": String(data.settings.dataCount),
      "tokenizer_sha256": data.settings.tokenizerSHA256,
    ]
    let path = directory.referenceLogProbabilitiesPath
    if isResuming, FileManager.default.fileExists(atPath: path) {
      if let cache = try? ReferenceLogProbabilities(contentsOf: path), cache.identity == identity,
        cache.pairCount == data.dataset.count,
        data.pairs.indices.allSatisfy({ cache[$0] != nil })
      {
        note("[\(label)] reference log-probabilities read from \(path)")
        return cache
      }
      note("[\(label)] \(path) does not match this model and data; computing it again")
    }
    let start = DispatchTime.now().uptimeNanoseconds
    var lastShown = 0.0
    let cache = try ReferenceLogProbabilities.compute(
      model: model, pairs: data.pairs, batchSize: batchSize, identity: identity,
      communicator: communicator
    ) { done, total in
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
      guard seconds - lastShown >= 5 || done == total else { return }
      lastShown = seconds
      note(
        String(
          format: "[\(label)] reference log-probabilities: %d/%d pairs (%.1f s)", done, total,
          seconds))
    }
    if communicator.isPrimary { try cache.write(to: path) }
    return cache
  }
}
