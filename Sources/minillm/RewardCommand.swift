import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

/// `minillm reward`'s defaults: AdamW 0.9/0.95 without weight decay, as TRL's trainers, lr
/// 1e-5 with warmup and cosine decay, clip 1, for one epoch of 8 pairs per step as 2
/// micro-batches of 4, with 5% of the pairs held out so the accuracy is measured on pairs the
/// model never saw.
enum RewardHelp: TrainingFlagHelp {
  static let unit = "pairs"
  static let defaults = TrainingDefaults(
    learningRate: 1e-5, epochs: 1, batchSize: 8, microBatchSize: 4, weightDecay: 0,
    evalFraction: 0.05)
  static let seedHelp =
    "Seed of the head's initial weights, the data order and the held-out split (default 0)."
  static let batchSizeHelp = "Pairs per optimizer step (default 8)."
  static let microBatchSizeHelp =
    "Pairs per forward/backward (each gives two sequences); --batch-size must be a multiple (default 4)."
}

struct RewardCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reward",
    abstract:
      "Train a reward model on preference shards: an SFT model's decoder plus a scalar head.",
    discussion: """
      MODEL is a model directory (e.g. RUN/model of sft); DIR is made by `minillm data dpo` \
      with MODEL's tokenizer. The reward of a sequence is a linear head (hidden → 1, no bias, \
      fresh from --seed) on the last hidden state of its last token (a reply's end-of-turn \
      token); the loss is −log σ(r_chosen − r_rejected), averaged over the pairs of the step. \
      Metrics: accuracy (pairs whose chosen reply scores higher) and margin (mean \
      r_chosen − r_rejected), on the training batches and, as eval_accuracy and eval_margin, \
      on the held-out pairs (--eval-fraction).

      RUN gets metrics.jsonl, config.json, checkpoints/ and, at the end, model/: a directory \
      that transformers' LlamaForSequenceClassification loads (config.json with \
      architectures LlamaForSequenceClassification and num_labels 1, model.safetensors with \
      the model.* weights and score.weight), plus tokenizer.model and tokenizer_config.json \
      for `minillm score`. Ctrl-C, --resume and --overwrite work as for pretrain and sft. See \
      Docs/Alignment.md.
      """)

  @OptionGroup var inputs: FineTuneFlags<RewardHelp>

  @OptionGroup var training: TrainingFlags<RewardHelp>

  @OptionGroup var lora: LoRAFlags

  func run() throws {
    try runTraining(self, label: "reward", runFlags: inputs.run, threads: training.threads)
  }
}

extension RewardCommand: TrainingStage {
  func prepare(stored: RunConfiguration<RewardSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<RewardSettings>,
    session: () throws -> TrainingSession<
      ModelWithFiles<FineTuneRewardModel>, RewardObjective, PreferenceLoader
    >
  ) {
    let (input, common) = try inputs.load(
      PreferenceTrainingData.self, training: training,
      stored: stored.map { ($0.stage.data, $0.training) },
      run: run)
    var settings = input.settings
    settings.lora = try lora.options.resolve(over: stored?.stage.data.lora)
    return (
      RunConfiguration(stage: RewardSettings(data: settings), training: common),
      {
        let rewardModel: RewardModel
        do {
          rewardModel = try RewardModel(languageModel: input.base.llama, seed: common.seed)
        } catch {
          throw CommandLineError("--model: \(error)")
        }
        let model = try FineTuneRewardModel(
          rewardModel, lora: settings.lora, seed: common.seed, baseModelPath: input.base.path)
        let (loader, evaluation, trainingPairs, heldOut) = input.batches(
          common, communicator: run.communicator)
        return TrainingSession(
          model: ModelWithFiles(model, files: input.base.chatFiles),
          objective: RewardObjective(model: model.reward), loader: loader,
          evaluationBatches: evaluation,
          summary:
            "\(model.parameterSummary) from \(input.base.path), \(trainingPairs) training pairs (\(heldOut) held out)",
          unit: "pairs")
      }
    )
  }
}

extension RewardHelp: PreferenceFlagHelp {
  static let modelHelp = "SFT model directory (config.json, model.safetensors, tokenizer.model)."
}
