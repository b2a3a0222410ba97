import Foundation
import MiniTensor
import MiniTrain
import TestSupport
import Testing

/// `mpirun -np 2 minillm reward …` and `mpirun -np 2 minillm dpo …` train as one process with
/// the same global batch: the same micro-batches of pairs (each process takes its share of every
/// batch and of the held-out batches), so the per-step losses agree up to the order of the
/// gradient sums; only rank 0 writes and prints. The held-out pairs make one micro-batch, so the
/// second process has none to evaluate and still reports the same figures.
@Suite(.serialized) struct PreferenceDataParallelTests {
  /// Open MPI refuses to start as root without these.
  static let mpiEnvironment = [
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
  ]

  struct Fixture {
    let minillm: String
    let mpirun: String
    let folder: String
  }

  /// A tokenizer with ChatML's tokens, a base model of 2 pretraining steps and preference
  /// shards of 100 arithmetic questions, each with a right and a wrong answer.
  func fixture(for test: String = #function) throws -> Fixture? {
    guard let mpirun = executableOnPath("mpirun") else {
      print("skipping \(test): mpirun is not on the PATH (install openmpi-bin)")
      return nil
    }
    guard let minillm = builtExecutable(named: "minillm", for: test) else { return nil }
    let folder = try scratchFolder(test)
    var rng = PhiloxRNG(seed: 11)
    var pairs: [String] = []
    var text: [String] = []
    let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    for _ in 0..<100 {
      let (a, b) = (Int(rng.nextUInt32() % 10), Int(rng.nextUInt32() % 10))
      let wrong = (a + b + 1 + Int(rng.nextUInt32() % 5)) % 19
      let prompt = "What is \(words[a]) plus \(words[b])?"
      let chosen = "\(words[a].capitalized) plus \(words[b]) is \(a + b)."
      let rejected = "I believe it is \(wrong), but I am not sure."
      text += [prompt, chosen, rejected]
      let record = ["prompt": prompt, "chosen": chosen, "rejected": rejected]
      pairs.append(
        String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self))
    }
    try Data(text.joined(separator: "\n").utf8).write(
      to: URL(fileURLWithPath: folder + "/corpus.txt"))
    try Data(pairs.joined(separator: "\n").utf8).write(
      to: URL(fileURLWithPath: folder + "/pairs.jsonl"))
    let config = """
      {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 400,
       "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
       "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
       "rms_norm_eps": 1e-5, "tie_word_embeddings": false}
      """
    try Data(config.utf8).write(to: URL(fileURLWithPath: folder + "/base.json"))
    let preparation = [
      "tokenizer train --input corpus.txt --vocab-size 400 --special <|im_start|> <|im_end|> --output tok",
      "data pretrain --tokenizer tok --input corpus.txt --output text",
      "pretrain --config base.json --data text --out base --steps 2 --seq-len 64 --threads 1",
      "data dpo --tokenizer base/model --input pairs.jsonl --output pairs",
    ]
    for line in preparation {
      let result = try runJob(
        [minillm] + line.split(separator: " ").map(String.init), in: folder)
      try #require(result.status == 0, "minillm \(line): \(result.standardError)")
    }
    return Fixture(minillm: minillm, mpirun: mpirun, folder: folder)
  }

  /// Runs `stage` with `flags` as one process (`one`) and as two (`two`), and compares them.
  func compare(_ stage: String, flags: String, in fixture: Fixture) throws {
    let words = [stage] + flags.split(separator: " ").map(String.init)
    let one = try runJob(
      [fixture.minillm] + words + ["--out", "one-\(stage)", "--threads", "1"], in: fixture.folder)
    try #require(one.status == 0, "\(one.standardError)")
    let two = try runJob(
      [fixture.mpirun, "-np", "2", "--oversubscribe", fixture.minillm] + words
        + ["--out", "two-\(stage)"],
      in: fixture.folder, environment: Self.mpiEnvironment)
    try #require(two.status == 0, "\(two.standardError)")
    #expect(two.standardError.contains("2 processes × 1 × 4"), "\(two.standardError)")
    #expect(two.standardError.contains("the 2 processes hold identical weights"))
    #expect(jsonLines(two.standardOutput).count == 1, "stdout: \(two.standardOutput)")
    #expect(occurrences(of: "training from step 0", in: two.standardError) == 1)

    let oneLosses = stepLosses(fixture.folder + "/one-\(stage)/metrics.jsonl")
    let twoLosses = stepLosses(fixture.folder + "/two-\(stage)/metrics.jsonl")
    #expect(oneLosses.keys.sorted() == Array(1...16) && twoLosses.keys.sorted() == Array(1...16))
    let differences = (1...16).map {
      abs(Double(twoLosses[$0] ?? .nan) - Double(oneLosses[$0] ?? .nan))
        / Double(abs(oneLosses[$0] ?? .nan))
    }
    let largest = differences.max() ?? .nan
    print("\(stage), 2 processes vs 1: largest relative step-loss difference \(largest)")
    #expect(largest <= 1e-6, "\(stage): per-step losses \(oneLosses) vs \(twoLosses)")

    // The held-out figures: computed by rank 0 alone in the job, the same names and values.
    let oneEvaluations = MetricsLog.read(path: fixture.folder + "/one-\(stage)/metrics.jsonl")
      .filter { $0["eval_loss"] != nil }
    let twoEvaluations = MetricsLog.read(path: fixture.folder + "/two-\(stage)/metrics.jsonl")
      .filter { $0["eval_loss"] != nil }
    #expect(!oneEvaluations.isEmpty && oneEvaluations.count == twoEvaluations.count)
    for (a, b) in zip(oneEvaluations, twoEvaluations) {
      #expect(Set(a.keys) == Set(b.keys))
      let (x, y) = (
        (a["eval_loss"] as? NSNumber)?.doubleValue, (b["eval_loss"] as? NSNumber)?.doubleValue
      )
      #expect(x != nil && y != nil && abs(x! - y!) <= 1e-5 * max(1, abs(x!)))
    }
    // Final weights agree up to rounding.
    let oneWeights = try SafeTensorsFile(
      path: fixture.folder + "/one-\(stage)/model/model.safetensors"
    ).loadAll()
    let twoWeights = try SafeTensorsFile(
      path: fixture.folder + "/two-\(stage)/model/model.safetensors"
    ).loadAll()
    #expect(Set(oneWeights.keys) == Set(twoWeights.keys))
    for (name, expected) in oneWeights {
      guard let actual = twoWeights[name] else { continue }
      expectClose(actual, expected, rtol: 1e-4, atol: 1e-5, "\(stage): \(name)")
    }
  }

  @Test func rewardTrainsAsOneProcess() throws {
    guard let fixture = try fixture() else { return }
    try compare(
      "reward",
      flags: "--model base/model --data pairs --steps 16 --batch-size 8 --lr 1e-3 "
        + "--eval-fraction 0.04 --eval-every 8", in: fixture)
  }

  @Test func dpoTrainsAsOneProcess() throws {
    guard let fixture = try fixture() else { return }
    try compare(
      "dpo",
      flags: "--model base/model --data pairs --steps 16 --batch-size 8 --lr 1e-3 "
        + "--micro-batch-size 4 --eval-fraction 0.04 --eval-every 8", in: fixture)
    // The reference log-likelihoods were shared out and stored once, by rank 0.
    #expect(
      FileManager.default.fileExists(
        atPath: fixture.folder + "/two-dpo/reference_logps.safetensors"))
  }
}
