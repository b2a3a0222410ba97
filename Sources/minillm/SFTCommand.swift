import ArgumentParser
import Foundation
import MiniTrain

/// `minillm sft`'s defaults (``SFTStage/defaults``) and wording for the shared training flags.
enum SFTHelp: TrainingFlagHelp {
  static let unit = SFTStage.unit
  static let defaults = SFTStage.defaults
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

  func run() throws {
    try runTraining(
      SFTStage(inputs.inputs(training)), label: "sft", runFlags: inputs.run,
      threads: training.threads)
  }
}

extension SFTHelp: FineTuneFlagHelp {
  static let modelHelp = "Base model directory (config.json, model.safetensors, tokenizer.model)."
  static let dataHelp =
    "SFT shard folder made by `minillm data sft` with the base model's tokenizer."
  static let maxLengthHelp =
    "Most tokens taken from a sample; longer ones lose their end (default and maximum: the model's max_position_embeddings)."
}
