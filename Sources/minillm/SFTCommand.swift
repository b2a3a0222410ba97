import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

/// `minillm sft`'s defaults and wording for the shared training flags: AdamW 0.9/0.95, lr 2e-5
/// with warmup and cosine decay, clip 1 (baby-llama2-chinese's SFT settings) and 3 epochs, the
/// usual SFT length (transformers' and LLaMA-Factory's default), enough for a small data set
/// such as a self-cognition one to be learnt without many passes over it.
enum SFTHelp: TrainingFlagHelp {
  static let unit = "samples"
  static let defaults = TrainingDefaults(
    learningRate: 2e-5, epochs: 3, batchSize: 8, evalFraction: 0.02)
  static let seedHelp = "Seed of the data order and of the held-out split (default 0)."
  static let batchSizeHelp = "Samples per optimizer step (default 8)."
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

  @OptionGroup var inputs: FineTuneFlags<SFTHelp>

  @OptionGroup var training: TrainingFlags<SFTHelp>

  @OptionGroup var lora: LoRAFlags

  func run() throws {
    try runTraining(self, label: "sft", runFlags: inputs.run, threads: training.threads)
  }
}

extension SFTCommand: TrainingStage {
  func prepare(stored: RunConfiguration<SFTSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<SFTSettings>,
    session: () throws -> TrainingSession<
      ModelWithFiles<FineTuneModel>, SupervisedFineTuningObjective, SFTLoader
    >
  ) {
    let (input, common) = try inputs.load(
      SFTTrainingData.self, training: training, stored: stored.map { ($0.stage.data, $0.training) },
      run: run)
    var settings = input.settings
    settings.lora = try lora.options.resolve(over: stored?.stage.data.lora)
    return (
      RunConfiguration(stage: SFTSettings(data: settings), training: common),
      {
        let (loader, evaluation, trainingSamples, heldOut) = input.batches(
          common, communicator: run.communicator)
        let model = try FineTuneModel(
          base: input.base.llama, lora: settings.lora, seed: common.seed,
          baseModelPath: input.base.path)
        return TrainingSession(
          model: ModelWithFiles(model, files: input.base.chatFiles),
          objective: SupervisedFineTuningObjective(model: model.llama), loader: loader,
          evaluationBatches: evaluation,
          summary: "\(model.parameterSummary) from \(input.base.path), "
            + "\(trainingSamples) training samples (\(heldOut) held out), "
            + "\(input.index.supervisedTokens) of \(input.index.tokens) tokens supervised")
      }
    )
  }
}

extension SFTHelp: FineTuneFlagHelp {
  static let modelHelp = "Base model directory (config.json, model.safetensors, tokenizer.model)."
  static let dataHelp =
    "SFT shard folder made by `minillm data sft` with the base model's tokenizer."
  static let maxLengthHelp =
    "Most tokens taken from a sample; longer ones lose their end (default and maximum: the model's max_position_embeddings)."
}
