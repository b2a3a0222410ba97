import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

/// `minillm sft`'s defaults and wording for the shared training flags: the seeds' SFT settings
/// (AdamW 0.9/0.95, lr 2e-5 with warmup and cosine decay, clip 1) and 3 epochs, the usual SFT
/// length (transformers' and LLaMA-Factory's default), enough for a small data set such as a
/// self-cognition one to be learnt without many passes over it.
enum SFTStage: TrainingStage {
  static let name = "sft"
  static let unit = "samples"
  static let defaults = TrainingDefaults(
    learningRate: 2e-5, epochs: 3, batchSize: 8, evalFraction: 0.02)
  static let seedHelp = "Seed of the data order and of the held-out split (default 0)."
  static let batchSizeHelp = "Samples per optimizer step (default 8)."
}

/// What an SFT run stores in `RUN/config.json` besides the training settings.
struct SFTSettings: StageSettings {
  static let stage = "sft"
  /// `--model`, absolute.
  var baseModel: String
  /// The base model's architecture (checked on resume).
  var model: LlamaConfig
  /// `--data`, absolute.
  var data: String
  /// Samples and tokens in the data (checked on resume).
  var dataSamples: Int
  var dataTokens: Int
  /// SHA-256 of the data's tokenizer (checked on resume).
  var tokenizerSHA256: String
  /// Samples are cut to this many tokens.
  var maxLength: Int

  enum CodingKeys: String, CodingKey {
    case model, data
    case baseModel = "base_model"
    case dataSamples = "data_samples"
    case dataTokens = "data_tokens"
    case tokenizerSHA256 = "tokenizer_sha256"
    case maxLength = "max_length"
  }

  func structuralDifferences(from stored: SFTSettings) -> [String] {
    var result: [String] = []
    func compare<T: Equatable>(_ flag: String, _ mine: T, _ theirs: T) {
      if mine != theirs { result.append("\(flag): \(theirs) → \(mine)") }
    }
    compare("--model (config.json)", model, stored.model)
    compare("--data (samples)", dataSamples, stored.dataSamples)
    compare("--data (tokens)", dataTokens, stored.dataTokens)
    compare("--data (tokenizer)", tokenizerSHA256, stored.tokenizerSHA256)
    compare("--max-length", maxLength, stored.maxLength)
    return result
  }
}

struct SFTCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sft",
    abstract: "Fine-tune a model on SFT shards: next-token loss on the assistant's replies only.",
    discussion: """
      BASE is a model directory (e.g. RUN/model of pretrain); DIR is made by `minillm data sft` \
      with BASE's tokenizer. The loss is the cross-entropy of the tokens whose loss mask is 1 \
      (each assistant reply and its end-of-turn token), averaged over every such token of the \
      step. Samples are right-padded into batches of similar length (length-grouped \
      shuffling); a few are held out for evaluation (--eval-fraction).

      RUN gets metrics.jsonl, config.json, checkpoints/ and, at the end, model/: a chat-ready \
      model directory (tokenizer.model, tokenizer_config.json with DIR's chat template, \
      generation_config.json) for `minillm chat` and `generate --chat`. Ctrl-C (SIGINT) or \
      SIGTERM saves a checkpoint at the next step boundary and exits 0; --resume continues bit \
      for bit, flags not given again keeping the values stored in RUN/config.json. Under \
      `mpirun -np N` the N processes train data-parallel: --batch-size stays the global batch, \
      each process takes its share, rank 0 writes RUN. See Docs/Training.md.
      """)

  @Option(help: "Base model directory (config.json, model.safetensors, tokenizer.model).")
  var model: String?

  @Option(help: "SFT shard folder made by `minillm data sft` with the base model's tokenizer.")
  var data: String?

  @OptionGroup var runFlags: RunFlags

  @Option(
    help:
      "Most tokens taken from a sample; longer ones lose their end (default and maximum: the model's max_position_embeddings)."
  )
  var maxLength: Int?

  @OptionGroup var training: TrainingFlags<SFTStage>

  func validate() throws {
    if let maxLength, maxLength < 2 {
      throw ValidationError("--max-length: must be ≥ 2, got \(maxLength)")
    }
  }

  func run() throws {
    let processes = try TrainingProcesses.join()
    // Every rank reads and resolves the same settings; rank 0 alone then prepares RUN.
    let session = try processes.agree {
      try processes.applyThreads(training.threads)
      return try makeSession(processes: processes)
    }
    let run = try processes.agree {
      processes.isPrimary
        ? try runFlags.prepare(session.configuration, stored: nil) : runFlags.run
    }
    try processes.abortingOnError { try session.start(run) }
  }

  /// What `run()` trains once RUN is prepared: the settings, and the session starting in RUN.
  struct Prepared {
    let configuration: RunConfiguration<SFTSettings>
    let start: (RunDirectory) throws -> Void
  }

  /// Reads the base model and the data, resolves the settings and builds this rank's loader.
  func makeSession(processes: TrainingProcesses) throws -> Prepared {
    let stored = try runFlags.storedConfiguration(SFTSettings.self)
    guard let modelPath = model ?? stored?.stage.baseModel else {
      throw CommandLineError("--model: missing (the base model directory)")
    }
    guard let dataPath = data ?? stored?.stage.data else {
      throw CommandLineError("--data: missing (the SFT shard folder made by `minillm data sft`)")
    }
    let dataset: SFTDataset
    do {
      dataset = try SFTDataset(directory: dataPath)
    } catch {
      throw CommandLineError("--data: \(error)")
    }
    guard let index = dataset.index else {
      throw CommandLineError("--data: \(dataPath) has no index.json")
    }
    let base = try FineTuneBase.load(
      modelPath: modelPath, dataPath: dataPath, tokenizer: index.tokenizer,
      template: index.template, label: SFTStage.name)
    let maxPositions = base.llama.config.maxPositions
    let maxLength = self.maxLength ?? stored?.stage.maxLength ?? maxPositions
    guard maxLength <= maxPositions else {
      throw CommandLineError(
        "--max-length: \(maxLength) exceeds the model's max_position_embeddings \(maxPositions) "
          + "(\(modelPath)/config.json)")
    }
    let all = SFTSubset(dataset: dataset)
    let common = try training.resolve(stored: stored?.training, processes: processes.count) {
      micro, fraction in
      let count = all.split(heldOutFraction: fraction, seed: 0).training.count
      guard count >= processes.count else {
        throw CommandLineError(
          "--data: \(dataset.count) sample\(dataset.count == 1 ? "" : "s") leave "
            + (processes.count > 1
              ? "\(count) to train on, fewer than the \(processes.count) processes, "
              : "none to train on ")
            + "after holding out --eval-fraction \(fraction)")
      }
      return (count + micro - 1) / micro
    }
    let settings = SFTSettings(
      baseModel: base.path, model: base.llama.config,
      data: URL(fileURLWithPath: dataPath).standardizedFileURL.path, dataSamples: dataset.count,
      dataTokens: dataset.tokenCount, tokenizerSHA256: index.tokenizer.sha256,
      maxLength: maxLength)
    let configuration = RunConfiguration(stage: settings, training: common)
    if let stored { try runFlags.checkResumable(configuration, stored: stored) }
    let communicator = processes.communicator

    let (trainingSamples, heldOut) = all.split(
      heldOutFraction: common.evalFraction, seed: common.seed)
    let loader = SFTLoader(
      samples: trainingSamples, batchSize: common.microBatchSize, paddingID: base.paddingID,
      maxLength: maxLength, seed: common.seed, rank: communicator.rank,
      worldSize: communicator.worldSize)
    let evaluation = communicator.share(
      of: heldOut.evaluationBatches(
        batchSize: common.microBatchSize, paddingID: base.paddingID, maxLength: maxLength,
        limit: common.evalBatches))
    let cut = (0..<dataset.count).filter { dataset.length(of: $0) > maxLength }.count
    if cut > 0 && processes.isPrimary {
      printError(
        "[sft] \(cut) sample\(cut == 1 ? " is" : "s are") longer than --max-length "
          + "\(maxLength) tokens; their ends are cut")
    }
    let summary =
      "\(base.llama.parameterCount) parameters from \(base.path), "
      + "\(trainingSamples.count) training samples (\(heldOut.count) held out), "
      + "\(index.supervisedTokens) of \(index.tokens) tokens supervised"
    let resume = runFlags.resume
    return Prepared(configuration: configuration) { run in
      let session = TrainingSession(
        label: SFTStage.name, settings: common, run: run, resume: resume,
        model: ChatReadyModel(base.llama, files: base.chatFiles),
        objective: SupervisedFineTuningObjective(model: base.llama), loader: loader,
        evaluationBatches: evaluation, communicator: communicator)
      try session.train(summary: summary)
    }
  }
}
