import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

struct PretrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pretrain",
    abstract: "Pretrain a Llama from scratch on token shards (next-token prediction).",
    discussion: """
      RUN gets metrics.jsonl (one line per step, plus evaluation lines), config.json (every
      setting), checkpoints/step-NNNNNN/ (model directory + optimizer.safetensors +
      trainer_state.json + manifest.json) and, at the end, model/: a model directory with a copy
      of the tokenizer, ready for generate, sft and transformers. Ctrl-C (SIGINT) or SIGTERM saves
      a checkpoint at the next step boundary and exits 0; --resume continues bit for bit from the
      newest checkpoint whose manifest verifies. With --resume, flags not given again keep the
      values stored in RUN/config.json. Under `mpirun -np N` the N processes train data-parallel:
      --batch-size stays the global batch, each process takes its share, rank 0 writes RUN.
      See Docs/Training.md.
      """)

  @Option(
    help: "Model size: nano (vocabulary from the data's tokenizer), tiny, stories15m, mini, …")
  var preset: String?

  @Option(help: "A model config.json (Hugging Face keys) instead of --preset.")
  var config: String?

  @Option(help: "Token shard folder made by `minillm data pretrain`.")
  var data: String?

  @OptionGroup var runFlags: RunFlags

  @Option(help: "Tokens per training sequence (default: the model's max_position_embeddings).")
  var seqLen: Int?

  @OptionGroup var training: TrainingFlags<PretrainStage>

  func validate() throws {
    if preset != nil && config != nil {
      throw ValidationError("give --preset or --config, not both")
    }
    if let seqLen, seqLen <= 0 { throw ValidationError("--seq-len: must be > 0, got \(seqLen)") }
  }

  func run() throws {
    let processes = try TrainingProcesses.join()
    // Every rank reads and resolves the same settings; rank 0 alone then prepares RUN.
    let (configuration, dataset, tokenizerPath) = try processes.agree {
      try processes.applyThreads(training.threads)
      return try resolve(processes: processes)
    }
    let run = try processes.agree {
      processes.isPrimary
        ? try runFlags.prepare(configuration, stored: nil) : runFlags.run
    }
    try processes.abortingOnError {
      try runPretraining(
        configuration, run: run, dataset: dataset, tokenizerPath: tokenizerPath,
        resume: runFlags.resume, processes: processes)
    }
  }

  /// The settings, data and tokenizer file of this session.
  func resolve(processes: TrainingProcesses) throws -> (
    RunConfiguration<PretrainSettings>, TokenDataset, String?
  ) {
    let stored = try runFlags.storedConfiguration(PretrainSettings.self)
    let dataPath = data ?? stored?.stage.data
    guard let dataPath else { throw CommandLineError("--data: missing (the token shard folder)") }
    let dataset: TokenDataset
    do {
      dataset = try TokenDataset(directory: dataPath)
    } catch {
      throw CommandLineError("--data: \(error)")
    }
    let tokenizerPath = (dataPath as NSString).appendingPathComponent(dataset.index.tokenizer.file)
    let tokenizer = try? SentencePieceTokenizer(contentsOf: tokenizerPath)
    if tokenizer == nil && processes.isPrimary {
      printError("warning: \(tokenizerPath) cannot be read; RUN/model will have no tokenizer")
    }
    let configuration = try resolveSettings(
      dataset: dataset, dataPath: dataPath, tokenizer: tokenizer, stored: stored,
      processes: processes.count)
    if let stored {
      try runFlags.checkResumable(configuration, stored: stored)
    }
    return (configuration, dataset, tokenizer == nil ? nil : tokenizerPath)
  }

  /// The settings of this run: stored values (on resume) overridden by the flags given, then
  /// defaults.
  func resolveSettings(
    dataset: TokenDataset, dataPath: String, tokenizer: SentencePieceTokenizer?,
    stored: RunConfiguration<PretrainSettings>?, processes: Int = 1
  ) throws -> RunConfiguration<PretrainSettings> {
    let vocabulary = dataset.index.tokenizer.vocabularySize
    var model: LlamaConfig
    var presetName = stored?.stage.preset
    if let config {
      do {
        model = try LlamaConfig.load(contentsOf: config)
      } catch {
        throw CommandLineError("--config: \(error)")
      }
      presetName = nil
    } else if let name = preset ?? (stored == nil ? "nano" : nil) {
      guard let value = LlamaConfig.Preset(rawValue: name) else {
        let names = LlamaConfig.Preset.allCases.map(\.rawValue).joined(separator: ", ")
        throw CommandLineError("--preset: '\(name)' is not one of \(names)")
      }
      model = LlamaConfig.preset(value, vocabSize: value == .nano ? vocabulary : nil)
      presetName = name
      if let tokenizer {
        model.bosTokenId = tokenizer.specialIDs.bos
        model.eosTokenIds = tokenizer.specialIDs.eos.map { [$0] } ?? []
      } else if let eos = dataset.index.tokenizer.eosId {
        model.eosTokenIds = [eos]
      }
    } else {
      model = stored!.stage.model
    }
    guard model.vocabSize >= vocabulary else {
      throw CommandLineError(
        "--\(config != nil ? "config" : "preset"): vocab_size \(model.vocabSize) is smaller than the "
          + "data's vocabulary \(vocabulary) (\(dataPath)/index.json)")
    }
    let presetValue = presetName.flatMap(LlamaConfig.Preset.init(rawValue:))
    let sequenceLength = seqLen ?? stored?.stage.sequenceLength ?? model.maxPositions
    guard sequenceLength <= model.maxPositions else {
      throw CommandLineError(
        "--seq-len: \(sequenceLength) exceeds the model's max_position_embeddings \(model.maxPositions)"
      )
    }
    let common = try training.resolve(
      stored: stored?.training, defaultBatchSize: presetValue?.batchSize, processes: processes
    ) { micro, fraction in
      let windows = TokenWindows(dataset: dataset, sequenceLength: sequenceLength)
      let trainingWindows = windows.split(heldOutFraction: fraction).training.count
      guard trainingWindows >= micro * processes else {
        throw CommandLineError(
          "--data: \(dataset.count) tokens make \(trainingWindows) training windows of "
            + "\(sequenceLength) + 1 tokens, fewer than one micro-batch (\(micro))"
            + (processes > 1 ? " for each of \(processes) processes" : "")
            + "; use a smaller --seq-len or --micro-batch-size, or more data")
      }
      return trainingWindows / micro
    }
    let settings = PretrainSettings(
      data: URL(fileURLWithPath: dataPath).standardizedFileURL.path, dataTokens: dataset.count,
      tokenizerSHA256: dataset.index.tokenizer.sha256, preset: presetName, model: model,
      sequenceLength: sequenceLength)
    return RunConfiguration(stage: settings, training: common)
  }
}
