import Foundation
import MiniTokenize
import MiniTrain

/// The demo's stages, each a real `minillm` command run as a child process.
struct DemoPipeline {
  let settings: DemoSettings
  let layout: DemoLayout
  let runner: DemoStageRunner

  /// The models that exist after the training stages, in pipeline order.
  var models: [(label: String, run: String)] = []
  var plan: DemoPlan?

  init(settings: DemoSettings, supports: @escaping ([String], String?) -> Bool) throws {
    self.settings = settings
    layout = DemoLayout(out: settings.out)
    runner = try DemoStageRunner(folder: layout.stages, fresh: settings.fresh, supports: supports)
  }

  static let specials = ["<|im_start|>", "<|im_end|>"]

  mutating func run() throws -> DemoSummary {
    try prepareData()
    try pretrain()
    try fineTune()
    let examScores = try exam()
    let comparison = try compare()
    let summary = DemoSummary(
      settings: settings, layout: layout, plan: plan, stages: runner.records,
      models: models, comparison: comparison, exam: examScores, elapsed: runner.elapsed)
    return try finish(summary)
  }

  // MARK: Data

  mutating func prepareData() throws {
    try runner.stage(
      "01-corpus", "Corpus: fortunes-zh poems and sayings, manpages-zh pages → JSONL",
      produces: [layout.corpusTrain, layout.corpusHeldOut]
    ) { [["demo", "corpus", "--output", layout.corpus]] }
    try runner.stage(
      "02-tokenizer", "Tokenizer: sentencepiece BPE, byte fallback, ChatML specials",
      produces: [layout.path("tokenizer", "tokenizer.model")]
    ) {
      [
        [
          "tokenizer", "train", "--input", layout.corpusTrain, "--vocab-size",
          "\(settings.vocabularySize)", "--special",
        ] + Self.specials + ["--output", layout.tokenizer, "--overwrite"]
      ]
    }
    try runner.stage(
      "03-shards", "Token shards: training and held-out",
      produces: [
        layout.path("data", "pretrain", "index.json"), layout.path("data", "heldout", "index.json"),
      ]
    ) {
      [
        [
          "data", "pretrain", "--tokenizer", layout.tokenizer, "--input", layout.corpusTrain,
          "--output", layout.pretrainShards, "--overwrite",
        ],
        [
          "data", "pretrain", "--tokenizer", layout.tokenizer, "--input", layout.corpusHeldOut,
          "--output", layout.heldOutShards, "--overwrite",
        ],
      ]
    }
    try runner.stage(
      "04-sft-data", "SFT data: self-cognition, poem and man-page questions",
      produces: [
        layout.path("sft-data", "train.jsonl"), layout.path("sft-data", "eval_prompts.json"),
        layout.examTask, layout.examData,
      ]
    ) { [["demo", "sft-data", "--output", layout.sftData, "--seed", "\(settings.seed)"]] }
  }

  // MARK: Pretraining

  mutating func pretrain() throws {
    let probe = try runner.stage(
      "05-probe", "Throughput probe: a few nano training steps on this machine", produces: []
    ) {
      [
        [
          "bench", "train", "--preset", "nano", "--steps", "8", "--warmup", "3", "--batch-size",
          "8", "--gemm-seconds", "0.2",
        ]
      ]
    }
    let tokensPerSecond = probe.commands.last?.jsonFigures?["tokens_per_s"] as? Double ?? 1000
    let plan = DemoPlan(minutes: settings.minutes, tokensPerSecond: tokensPerSecond)
    self.plan = plan
    say(
      "plan: probe \(Int(tokensPerSecond)) tok/s; pretrain \(plan.pretrainSteps) steps "
        + "(~\(Int(plan.pretrainSeconds)) s of a \(settings.minutes)-minute budget); "
        + "SFT and DPO are sized from the time left when they start"
    )
    try runner.stage(
      "06-init", "Untrained model (step 0) for the baseline loss",
      produces: [layout.model("init")]
    ) {
      [
        [
          "pretrain", "--preset", "nano", "--data", layout.pretrainShards, "--out",
          layout.run("init"),
          "--steps", "0", "--seed", "\(settings.seed)", "--overwrite",
        ]
      ]
    }
    models.append(("untrained", "init"))
    try runner.stage(
      "07-pretrain", "Pretraining: nano preset", produces: [layout.model("pretrain")]
    ) {
      let steps = plan.pretrainSteps
      return [
        [
          "pretrain", "--preset", "nano", "--data", layout.pretrainShards, "--out",
          layout.run("pretrain"), "--steps", "\(steps)", "--batch-size", "\(plan.pretrainBatch)",
          "--lr", "1e-3", "--min-lr", "1e-4", "--warmup-steps", "\(max(5, steps / 20))",
          "--eval-every", "\(max(1, steps / 5))", "--eval-batches", "4",
          "--save-every", "\(max(1, steps / 4))", "--seed", "\(settings.seed)",
        ] + trainingResumption(layout.run("pretrain"))
      ]
    }
    models.append(("pretrained", "pretrain"))
  }

  /// Tokens/s that pretraining reached (from its metrics), nil before it ran.
  var pretrainingRate: Double? {
    let records = MetricsLog.read(
      path: (layout.run("pretrain") as NSString).appendingPathComponent("metrics.jsonl")
    ).filter { $0["event"] == nil && $0["loss"] != nil }
    let tokens = records.compactMap { $0["tokens"] as? Int }.reduce(0, +)
    guard let seconds = (records.last?["elapsed"] as? NSNumber)?.doubleValue, seconds > 0,
      tokens > 0
    else { return nil }
    return Double(tokens) / seconds
  }

  /// `--resume` when an interrupted run left checkpoints, else `--overwrite`.
  func trainingResumption(_ run: String) -> [String] {
    let checkpoints = (run as NSString).appendingPathComponent("checkpoints")
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints)) ?? []
    return entries.contains { $0.hasPrefix("step-") && !$0.hasSuffix(".tmp") }
      ? ["--resume"] : ["--overwrite"]
  }

  // MARK: SFT and DPO

  mutating func fineTune() throws {
    guard let plan else { return }
    try runner.stage(
      "08-sft-shards", "SFT shards: ChatML, name and author filled in",
      produces: [layout.path("data", "sft", "index.json")]
    ) {
      [
        [
          "data", "sft", "--tokenizer", layout.tokenizer, "--input",
          layout.path("sft-data", "train.jsonl"), "--template", "chatml", "--max-length", "256",
          "--name", settings.name, "--author", settings.author, "--output", layout.sftShards,
          "--overwrite",
        ]
      ]
    }
    guard runner.supports(["sft"], nil) else {
      say("\n== SFT: `minillm sft` is not in this build; skipping SFT and DPO")
      return
    }
    let sftBatch = 16
    let withDPO =
      runner.supports(["data", "dpo"], "--generate-rejected")
      && runner.supports(["dpo"], nil)
    try runner.stage(
      "09-sft", "SFT: fine-tune the pretrained model", produces: [layout.model("sft")]
    ) {
      let index = try SFTShardIndex.read(directory: layout.sftShards)
      let seconds = plan.sftSeconds(elapsed: runner.stageSeconds, withDPO: withDPO)
      let rate = pretrainingRate ?? plan.tokensPerSecond
      let steps = DemoPlan.sftSteps(
        seconds: seconds, rate: rate, samples: index.kept,
        meanTokens: Double(index.tokens) / Double(max(1, index.kept)), batch: sftBatch)
      say("plan: SFT \(steps) steps in ~\(Int(seconds)) s at \(Int(rate)) tok/s")
      return [
        [
          "sft", "--model", layout.model("pretrain"), "--data", layout.sftShards, "--out",
          layout.run("sft"), "--steps", "\(steps)", "--batch-size", "\(sftBatch)", "--lr", "5e-4",
          "--min-lr", "1e-4", "--warmup-steps", "\(max(3, steps / 20))",
          "--eval-every", "\(max(1, steps / 5))", "--eval-batches", "4",
          "--save-every", "\(max(1, steps / 2))", "--seed", "\(settings.seed)",
        ] + trainingResumption(layout.run("sft"))
      ]
    }
    models.append(("SFT", "sft"))
    guard withDPO else {
      say(
        "\n== DPO: `minillm dpo` or `data dpo --generate-rejected` is not in this build; skipping DPO"
      )
      return
    }
    try runner.stage(
      "10-dpo-pairs", "DPO pairs: reference answer = chosen, the SFT model's own answer = rejected",
      produces: [layout.path("data", "dpo", "index.json")]
    ) {
      [
        [
          "data", "dpo", "--tokenizer", layout.tokenizer, "--input",
          layout.path("sft-data", "dpo_prompts.jsonl"), "--template", "chatml", "--max-length",
          "256",
          "--name", settings.name, "--author", settings.author, "--generate-rejected", "--model",
          layout.model("sft"), "--seed", "\(settings.seed)", "--max-new-tokens", "64", "--output",
          layout.dpoShards,
          "--overwrite",
        ]
      ]
    }
    let dpoBatch = 8
    try runner.stage("11-dpo", "DPO: align the SFT model", produces: [layout.model("dpo")]) {
      let data = try String(
        contentsOfFile: layout.path("data", "dpo", "index.json"), encoding: .utf8)
      let index = try JSONDecoder().decode(PreferenceShardIndex.self, from: Data(data.utf8))
      let pairs = max(1, index.kept)
      let meanTokens =
        Double(2 * index.promptTokens + index.chosenTokens + index.rejectedTokens)
        / Double(2 * pairs)
      let seconds = plan.dpoSeconds(elapsed: runner.stageSeconds)
      let rate = pretrainingRate ?? plan.tokensPerSecond
      let steps = DemoPlan.dpoSteps(
        seconds: seconds, rate: rate, pairs: pairs, meanTokens: meanTokens, batch: dpoBatch)
      say("plan: DPO \(steps) steps in ~\(Int(seconds)) s at \(Int(rate)) tok/s")
      return [
        [
          "dpo", "--model", layout.model("sft"), "--data", layout.dpoShards, "--out",
          layout.run("dpo"), "--steps", "\(steps)", "--batch-size", "\(dpoBatch)", "--lr", "2e-5",
          "--warmup-steps", "\(max(2, steps / 10))", "--beta", "0.1",
          "--eval-every", "\(max(1, steps / 4))", "--save-every", "\(max(1, steps / 2))",
          "--seed", "\(settings.seed)",
        ] + trainingResumption(layout.run("dpo"))
      ]
    }
    models.append(("DPO", "dpo"))
  }
}
