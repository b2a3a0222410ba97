import ArgumentParser
import Foundation
import MiniTrain

/// `minillm reward`'s defaults (``RewardStage/defaults``) and wording for the shared training
/// flags.
enum RewardHelp: TrainingFlagHelp {
  static let unit = RewardStage.unit
  static let defaults = RewardStage.defaults
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

  func run() throws {
    try runTraining(
      RewardStage(inputs.inputs(training)), label: "reward", runFlags: inputs.run,
      threads: training.threads)
  }
}

extension RewardHelp: PreferenceFlagHelp {
  static let modelHelp = "SFT model directory (config.json, model.safetensors, tokenizer.model)."
}
