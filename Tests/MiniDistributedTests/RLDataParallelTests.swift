import Foundation
import MiniLlama
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// `mpirun -np 2 minillm grpo …` and `… ppo …` deal each rollout batch's prompts over the ranks
/// without overlap (rank r takes the r-th share of the global draws), and sample every
/// completion from its global index, so the two processes together sample what one process
/// samples. GRPO's groups are never split: with one group per micro-batch a step is the
/// 1-process step up to the order of the gradient sums. PPO whitens the advantages over each
/// rank's share of the rollout batch (as TRL does per process), so only the policy loss of a
/// step differs from 1 process; the scores, the KL, the value loss (micro-batches of one
/// completion) and the adaptive KL coefficient (whose statistic is summed over ranks) agree.
@Suite(.serialized, .requires(.dataParallel)) struct RLDataParallelTests {
  struct Fixture {
    let minillm: String
    let mpirun: String
    let folder: String
  }

  func fixture(for test: String = #function) throws -> Fixture {
    try Requirement.dataParallel.check()
    let mpirun = try #require(executableOnPath("mpirun"))
    let minillm = try requireBuiltExecutable(named: "minillm")
    let folder = try scratchFolder(test)
    let tokenizer = try tinyChatTokenizer()
    let model = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 64)
    try FileManager.default.copyItem(atPath: model, toPath: folder + "/chat")
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: 64, initializerRange: 0.3)
    try RewardModel(languageModel: Llama(config: config, seed: 2), seed: 6).save(
      to: folder + "/rm")
    let prompts = [
      "你好", "hello there", "天气怎么样", "tell me more", "what is this", "再说一遍", "why", "好的",
    ].map { "{\"prompt\": \"\($0)\"}" }
    try Data((prompts.joined(separator: "\n") + "\n").utf8).write(
      to: URL(fileURLWithPath: folder + "/prompts.jsonl"))
    return Fixture(minillm: minillm, mpirun: mpirun, folder: folder)
  }

  /// Runs `stage` with `flags` as one process and as two; the step lines of each.
  func run(_ stage: String, flags: String, in fixture: Fixture) throws -> (
    one: [[String: Any]], two: [[String: Any]]
  ) {
    let words = [stage] + flags.split(separator: " ").map(String.init)
    let one = try runJob(
      [fixture.minillm] + words + ["--out", "one-\(stage)", "--threads", "1"], in: fixture.folder)
    try #require(one.status == 0, "\(one.standardError)")
    let two = try runJob(
      [fixture.mpirun, "-np", "2", "--oversubscribe", fixture.minillm] + words
        + ["--out", "two-\(stage)", "--threads", "1"],
      in: fixture.folder, environment: DataParallelTrainingTests.mpiEnvironment)
    try #require(two.status == 0, "\(two.standardError)")
    #expect(two.standardError.contains("the 2 processes hold identical weights"))
    func steps(_ run: String) -> [[String: Any]] {
      MetricsLog.read(path: fixture.folder + "/\(run)/metrics.jsonl").filter {
        $0["step"] != nil && $0["loss"] != nil
      }
    }
    return (steps("one-\(stage)"), steps("two-\(stage)"))
  }

  static func figure(_ line: [String: Any], _ key: String) -> Double {
    (line[key] as? NSNumber)?.doubleValue ?? .nan
  }

  @Test func grpoFirstStepIsTheOneProcessStep() throws {
    let fixture = try fixture()
    let (one, two) = try run(
      "grpo",
      flags: "--model chat --data prompts.jsonl --reward regex:(?s).*e.* --group-size 4 "
        + "--batch-size 8 --micro-batch-size 4 --max-new-tokens 6 --steps 2 --lr 5e-3 --seed 3",
      in: fixture)
    try #require(one.count == 2 && two.count == 2)
    for key in ["loss", "reward_mean", "kl"] {
      let (a, b) = (Self.figure(one[0], key), Self.figure(two[0], key))
      print("grpo step 1 \(key): 1 process \(a), 2 processes \(b)")
      #expect(abs(a - b) <= 1e-5 * max(1, abs(a)), "\(key): \(a) vs \(b)")
    }
    // The second step samples from weights that agree up to the order of the gradient sums.
    let (a, b) = (Self.figure(one[1], "loss"), Self.figure(two[1], "loss"))
    print("grpo step 2 loss: 1 process \(a), 2 processes \(b)")
    #expect(abs(a - b) <= 1e-4 * max(1, abs(a)), "step 2 loss: \(a) vs \(b)")
  }

  @Test func ppoAgreesWithOneProcessButForTheWhitening() throws {
    let fixture = try fixture()
    let (one, two) = try run(
      "ppo",
      flags: "--model chat --reward-model rm --data prompts.jsonl --batch-size 8 "
        + "--micro-batch-size 1 --ppo-epochs 1 --num-mini-batches 1 --max-new-tokens 6 "
        + "--temperature 1 --kl-target 1 --kl-horizon 100 --steps 3 --lr 1e-2 --seed 3",
      in: fixture)
    try #require(one.count == 3 && two.count == 3)
    for key in ["reward_mean", "kl", "response_length", "value_loss", "kl_coef"] {
      let (a, b) = (Self.figure(one[0], key), Self.figure(two[0], key))
      print("ppo step 1 \(key): 1 process \(a), 2 processes \(b)")
      #expect(abs(a - b) <= 1e-5 * max(1, abs(a)), "\(key): \(a) vs \(b)")
    }
    // The adaptive coefficient, from the KL summed over ranks: the 1-process sequence.
    let coefficients = two.map { Self.figure($0, "kl_coef") }
    print(
      "ppo kl_coef, 2 processes: \(coefficients); 1 process: \(one.map { Self.figure($0, "kl_coef") })"
    )
    let single = one.map { Self.figure($0, "kl_coef") }
    for (a, b) in zip(single, coefficients) {
      #expect(abs(a - b) <= 1e-12, "\(single) vs \(coefficients)")
    }
  }
}
