import ArgumentParser
import Foundation
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

  @Option(
    help:
      "Continue pretraining this model directory (its config and weights) instead of fresh weights of --preset/--config."
  )
  var model: String?

  @OptionGroup var lora: LoRAFlags

  @Option(help: "Token shard folder made by `minillm data pretrain`.")
  var data: String?

  @OptionGroup var runFlags: RunFlags

  @Option(help: "Tokens per training sequence (default: the model's max_position_embeddings).")
  var seqLen: Int?

  @OptionGroup var training: TrainingFlags<PretrainHelp>

  func validate() throws {
    if [preset, config, model].compactMap({ $0 }).count > 1 {
      throw ValidationError("give one of --preset, --config and --model")
    }
    if let seqLen, seqLen <= 0 { throw ValidationError("--seq-len: must be > 0, got \(seqLen)") }
  }

  func run() throws {
    let stage = PretrainStage(
      data: data, preset: preset, config: config, model: model, sequenceLength: seqLen,
      options: training.options, lora: lora.options)
    try runTraining(stage, label: "pretrain", runFlags: runFlags, threads: training.threads)
  }
}

/// `minillm pretrain`'s defaults and wording for the shared training flags.
enum PretrainHelp: TrainingFlagHelp {
  static let unit = PretrainStage.unit
  static let defaults = PretrainStage.defaults
  static let seedHelp = "Seed of the initial weights and of the data order (default 0)."
  static let batchSizeHelp = "Sequences per optimizer step (default: the preset's, 8)."
}
