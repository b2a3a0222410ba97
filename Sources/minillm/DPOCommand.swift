import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

/// `minillm dpo`'s defaults: the seeds' DPO settings (AdamW 0.9/0.95 without weight decay, as
/// TRL's trainers, lr 5e-6 with warmup and cosine decay, clip 1) for one epoch of 8 pairs per
/// step as 4 micro-batches of 2, with 5% of the pairs held out.
enum DPOStage: TrainingStage {
  static let name = "dpo"
  static let unit = "pairs"
  static let defaults = TrainingDefaults(
    learningRate: 5e-6, epochs: 1, batchSize: 8, microBatchSize: 2, weightDecay: 0,
    evalFraction: 0.05)
  static let seedHelp = "Seed of the data order and of the held-out split (default 0)."
  static let batchSizeHelp = "Pairs per optimizer step (default 8)."
  static let microBatchSizeHelp =
    "Pairs per forward/backward (each gives two sequences); --batch-size must be a multiple (default 2)."
}

/// What a DPO run stores in `RUN/config.json` besides the training settings.
struct DPOSettings: StageSettings {
  static let stage = "dpo"
  var data: PreferenceDataSettings
  var loss: DPOLoss
  /// Whether the reference log-likelihoods were computed once (`reference_logps.safetensors`)
  /// rather than by a forward of the reference model at every step.
  var precomputeReference: Bool

  enum CodingKeys: String, CodingKey {
    case precomputeReference = "precompute_reference"
  }

  init(data: PreferenceDataSettings, loss: DPOLoss, precomputeReference: Bool) {
    self.data = data
    self.loss = loss
    self.precomputeReference = precomputeReference
  }

  init(from decoder: any Decoder) throws {
    data = try PreferenceDataSettings(from: decoder)
    loss = try DPOLoss(from: decoder)
    precomputeReference = try decoder.container(keyedBy: CodingKeys.self)
      .decode(Bool.self, forKey: .precomputeReference)
  }

  func encode(to encoder: any Encoder) throws {
    try data.encode(to: encoder)
    try loss.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(precomputeReference, forKey: .precomputeReference)
  }

  func structuralDifferences(from stored: DPOSettings) -> [String] {
    var result = data.structuralDifferences(from: stored.data)
    if precomputeReference != stored.precomputeReference {
      result.append(
        "--\(stored.precomputeReference ? "" : "no-")precompute-reference → "
          + "--\(precomputeReference ? "" : "no-")precompute-reference")
    }
    return result
  }
}

extension DPOLoss.Kind: ExpressibleByArgument {}

struct DPOCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dpo",
    abstract: "Align an SFT model with direct preference optimisation on preference shards.",
    discussion: """
      MODEL is a chat model directory (e.g. RUN/model of sft); DIR is made by `minillm data \
      dpo` with MODEL's tokenizer. The policy starts from MODEL and is trained; MODEL also \
      serves as the frozen reference. A reply's log-likelihood is the sum over its tokens and \
      its end-of-turn token; with d = (policy chosen − policy rejected) − (reference chosen − \
      reference rejected), the losses are sigmoid −log σ(β·d) (with --label-smoothing ε: \
      −(1−ε)·log σ(β·d) − ε·log σ(−β·d)), ipo (d − 1/(2β))² on per-token mean \
      log-likelihoods, and hinge max(0, 1 − β·d), as TRL defines them. By default the \
      reference's log-likelihoods are computed once for every pair before training and kept \
      in RUN/reference_logps.safetensors (a resumed run reads them back).

      metrics.jsonl gets, per step, loss, chosen_reward and rejected_reward (β·(policy − \
      reference) log-likelihood), reward_accuracy (pairs whose chosen reward is higher), \
      margin (chosen − rejected reward), chosen_logp and rejected_logp, and the same with an \
      eval_ prefix on the held-out pairs. RUN/model is a chat-ready model directory with \
      MODEL's tokenizer, template and sampling defaults. Ctrl-C, --resume and --overwrite work \
      as for pretrain and sft. See Docs/Alignment.md.
      """)

  @Option(help: "SFT model directory: the starting policy and the frozen reference.")
  var model: String?

  @Option(help: "Preference shard folder made by `minillm data dpo` with the model's tokenizer.")
  var data: String?

  @OptionGroup var runFlags: RunFlags

  @Option(
    help:
      "Pairs whose prompt and longer reply exceed this many tokens are left out (default and maximum: the model's max_position_embeddings)."
  )
  var maxLength: Int?

  @Option(help: "Strength of the tie to the reference, β (default 0.1).")
  var beta: Double?

  @Option(help: "Loss: sigmoid (DPO), ipo or hinge (default sigmoid).")
  var loss: DPOLoss.Kind?

  @Option(help: "Label smoothing ε of the sigmoid loss, in [0, 0.5) (default 0).")
  var labelSmoothing: Double?

  @Flag(
    inversion: .prefixedNo,
    help:
      "Compute the reference's log-likelihoods once before training (default) rather than at every step."
  )
  var precomputeReference: Bool?

  @OptionGroup var training: TrainingFlags<DPOStage>

  func validate() throws {
    if let maxLength, maxLength < 2 {
      throw ValidationError("--max-length: must be ≥ 2, got \(maxLength)")
    }
    if let beta, !(beta > 0 && beta.isFinite) {
      throw ValidationError("--beta: must be > 0, got \(beta)")
    }
    if let labelSmoothing, !(labelSmoothing >= 0 && labelSmoothing < 0.5) {
      throw ValidationError("--label-smoothing: must be in [0, 0.5), got \(labelSmoothing)")
    }
  }

  func run() throws {
    try training.threads.apply()
    let stored = try runFlags.storedConfiguration(DPOSettings.self)
    let input = try PreferenceTrainingData.load(
      model: model, data: data, maxLength: maxLength, stored: stored?.stage.data,
      label: DPOStage.name)
    let common = try training.resolve(
      stored: stored?.training, microBatchesPerEpoch: input.microBatchesPerEpoch)
    let storedLoss = stored?.stage.loss
    let criterion = DPOLoss(
      kind: loss ?? storedLoss?.kind ?? .sigmoid, beta: beta ?? storedLoss?.beta ?? 0.1,
      labelSmoothing: labelSmoothing ?? (loss == nil ? storedLoss?.labelSmoothing : nil) ?? 0)
    if criterion.labelSmoothing != 0 && criterion.kind != .sigmoid {
      throw CommandLineError(
        "--label-smoothing: applies to --loss sigmoid only, not \(criterion.kind.rawValue)")
    }
    let precompute = precomputeReference ?? stored?.stage.precomputeReference ?? true
    let configuration = RunConfiguration(
      stage: DPOSettings(data: input.settings, loss: criterion, precomputeReference: precompute),
      training: common)
    let run = try runFlags.prepare(configuration, stored: stored)

    let policy = input.base.llama
    let reference: DPOObjective.Reference
    if precompute {
      reference = .cached(try referenceCache(input: input, run: run, microBatch: common))
    } else {
      reference = .model(try loadModel(input.base.path))
    }
    let (loader, evaluation, trainingPairs, heldOut) = input.batches(common)
    let session = TrainingSession(
      label: DPOStage.name, settings: common, run: run, resume: runFlags.resume,
      model: ChatReadyModel(policy, files: input.base.chatFiles),
      objective: DPOObjective(policy: policy, reference: reference, criterion: criterion),
      loader: loader, evaluationBatches: evaluation, unit: "pairs")
    try session.train(
      summary: "\(policy.parameterCount) parameters from \(input.base.path) (policy and frozen "
        + "reference), \(criterion.kind.rawValue) loss with β \(criterion.beta), "
        + "\(trainingPairs) training pairs (\(heldOut) held out)")
  }

  /// The reference log-likelihoods of every pair in use: read back from the run when a resumed
  /// run stored them for the same model and data, else computed with the untouched SFT model
  /// (before any checkpoint is loaded into the policy) and stored.
  func referenceCache(
    input: PreferenceTrainingData, run: RunDirectory, microBatch: TrainingSettings
  ) throws -> ReferenceLogProbabilities {
    let model = input.base.llama
    var digest = SHA256()
    model.arena.values.withUnsafeBufferPointer { digest.update(UnsafeRawBufferPointer($0)) }
    let identity = [
      "reference_model": input.base.path, "reference_sha256": SHA256.hex(digest.finalize()),
      "data": input.settings.data, "data_pairs": String(input.settings.dataPairs),
      "tokenizer_sha256": input.settings.tokenizerSHA256,
    ]
    let path = run.referenceLogProbabilitiesPath
    if runFlags.resume, FileManager.default.fileExists(atPath: path) {
      if let cache = try? ReferenceLogProbabilities(contentsOf: path), cache.identity == identity,
        cache.pairCount == input.dataset.count,
        input.pairs.indices.allSatisfy({ cache[$0] != nil })
      {
        printError("[dpo] reference log-probabilities read from \(path)")
        return cache
      }
      printError("[dpo] \(path) does not match this model and data; computing it again")
    }
    let start = DispatchTime.now().uptimeNanoseconds
    var lastShown = 0.0
    let cache = ReferenceLogProbabilities.compute(
      model: model, pairs: input.pairs, batchSize: max(1, microBatch.microBatchSize * 2),
      identity: identity
    ) { done, total in
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
      guard seconds - lastShown >= 5 || done == total else { return }
      lastShown = seconds
      printError(
        String(
          format: "[dpo] reference log-probabilities: %d/%d pairs (%.1f s)", done, total, seconds))
    }
    try cache.write(to: path)
    return cache
  }
}
