import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Runs `minillm arguments` with `input` on standard input (in `directory` when given); returns
/// the status and both outputs.
func runMinillmCapturing(
  _ executable: String, _ arguments: [String], input: String? = nil, directory: String? = nil,
  environment: [String: String] = [:]
) throws -> (status: Int32, output: String, error: String) {
  let workingDirectory = directory
  let directory = try temporaryDirectory("capture")
  let (outputPath, errorPath) = (directory + "/stdout.txt", directory + "/stderr.txt")
  for path in [outputPath, errorPath] {
    _ = FileManager.default.createFile(atPath: path, contents: nil)
  }
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if !environment.isEmpty {
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  }
  if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
  let outputHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
  let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
  process.standardOutput = outputHandle
  process.standardError = errorHandle
  let pipe = Pipe()
  process.standardInput = input == nil ? FileHandle.nullDevice : pipe
  try process.run()
  if let input {
    pipe.fileHandleForWriting.write(Data(input.utf8))
    try pipe.fileHandleForWriting.close()
  }
  process.waitUntilExit()
  try outputHandle.close()
  try errorHandle.close()
  return (
    process.terminationStatus,
    (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
    (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
  )
}

/// The identity pipeline of Docs/Training.md, built once per test process through the CLI: a
/// tokenizer trained on the self-cognition texts, SFT shards of `../shared/corpora/identity.json`
/// with `--name Kestrel --author "Tern Lab"`, and a tiny base model pretrained briefly on the
/// same questions and answers with generic words in place of the name and author.
struct SFTFixture: Sendable {
  static let name = "Kestrel"
  static let author = "Tern Lab"

  let executable: String
  let directory: String
  var tokenizer: String { directory + "/tok" }
  var sftData: String { directory + "/sft" }
  var base: String { directory + "/base/model" }

  typealias Unavailable = FixtureUnavailable

  static let shared: Result<SFTFixture, Unavailable> = make()

  /// What the fixture is built from.
  static let requirement = Requirement.all(.built("minillm"), .shared("corpora/identity.json"))

  /// The fixture, or `nil` after recording why the calling test cannot run.
  static func load(for test: String = #function) -> SFTFixture? {
    fixture(shared, for: test)
  }

  static func make() -> Result<SFTFixture, Unavailable> {
    guard let executable = minillmExecutable(for: "the minillm sft tests") else {
      return .failure(Unavailable(description: "no minillm executable"))
    }
    guard let identity = sharedPath("corpora/identity.json") else {
      return .failure(
        Unavailable(description: "../shared/corpora/identity.json (self-cognition data) is absent"))
    }
    do {
      let directory = try temporaryDirectory("sft-fixture")
      let data = try Data(contentsOf: URL(fileURLWithPath: identity))
      guard let records = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
        return .failure(Unavailable(description: "\(identity): not a JSON array", isFailure: true))
      }
      func filled(_ text: String, _ name: String, _ author: String) -> String {
        text.replacingOccurrences(of: "{{name}}", with: name)
          .replacingOccurrences(of: "{{author}}", with: author)
      }
      var tokenizerText = ""
      var pretrainText = ""
      for record in records {
        let question = record["instruction"] as? String ?? ""
        let answer = record["output"] as? String ?? ""
        tokenizerText += question + "\n" + filled(answer, name, author) + "\n"
        tokenizerText += filled(answer, "助手", "团队") + "\n"
        pretrainText += question + " " + filled(answer, "助手", "团队") + "\n"
      }
      try Data(tokenizerText.utf8).write(to: URL(fileURLWithPath: directory + "/corpus.txt"))
      try Data(pretrainText.utf8).write(to: URL(fileURLWithPath: directory + "/pretrain.txt"))
      let config = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 800,
         "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
         "rms_norm_eps": 1e-5, "tie_word_embeddings": true, "eos_token_id": 2, "bos_token_id": 1}
        """
      try Data(config.utf8).write(to: URL(fileURLWithPath: directory + "/tiny.json"))
      let fixture = SFTFixture(executable: executable, directory: directory)
      let steps: [[String]] = [
        [
          "tokenizer", "train", "--input", directory + "/corpus.txt", "--vocab-size", "800",
          "--special", "<|im_start|>", "<|im_end|>", "--output", fixture.tokenizer,
        ],
        [
          "data", "pretrain", "--tokenizer", fixture.tokenizer, "--input",
          directory + "/pretrain.txt", "--output", directory + "/pretrain",
        ],
        [
          "pretrain", "--config", directory + "/tiny.json", "--data", directory + "/pretrain",
          "--out", directory + "/base", "--steps", "60", "--seq-len", "64", "--lr", "3e-3",
          "--threads", "1",
        ],
        [
          "data", "sft", "--tokenizer", fixture.tokenizer, "--input", identity, "--name", name,
          "--author", author, "--output", fixture.sftData,
        ],
      ]
      for arguments in steps {
        let result = try runMinillmCapturing(executable, arguments)
        guard result.status == 0 else {
          return .failure(
            Unavailable(
              description: "minillm \(arguments.prefix(2).joined(separator: " ")) failed: "
                + result.error, isFailure: true))
        }
      }
      return .success(fixture)
    } catch {
      return .failure(
        Unavailable(description: "cannot build the fixture: \(error)", isFailure: true))
    }
  }

  /// The greedy answer of `model` to one message.
  func answer(_ message: String, model: String) throws -> String {
    let result = try runMinillmCapturing(
      executable,
      [
        "generate", "--model", model, "--chat", "--greedy", "--prompt", message,
        "--max-new-tokens", "40", "--threads", "1",
      ])
    #expect(result.status == 0, "\(result.error)")
    return result.output
  }
}

@Suite(.serialized, .requires(SFTFixture.requirement)) struct SFTCommandTests {
  @Test func identityFineTuningTeachesTheName() throws {
    guard let fixture = SFTFixture.load() else { return }
    // The base model (no chat template yet: given explicitly) does not name itself.
    let baseReply = try runMinillmCapturing(
      fixture.executable,
      [
        "chat", "--model", fixture.base, "--template", "chatml", "--greedy",
        "--max-new-tokens", "40", "--threads", "1",
      ], input: "你是谁？\n")
    #expect(baseReply.status == 0, "\(baseReply.error)")
    print("base model: 你是谁？ → \(baseReply.output)")
    #expect(!baseReply.output.contains(SFTFixture.name))

    let run = try temporaryDirectory("identity") + "/run"
    let result = try runMinillmCapturing(
      fixture.executable,
      [
        "sft", "--model", fixture.base, "--data", fixture.sftData, "--out", run,
        "--epochs", "8", "--lr", "1e-3", "--threads", "1",
      ])
    #expect(result.status == 0, "\(result.error)")
    let summary = try #require(
      try JSONSerialization.jsonObject(
        with: Data((result.output.split(separator: "\n").last ?? "").utf8)) as? [String: Any])
    print("sft: \(summary)")
    let reply = try fixture.answer("你是谁？", model: run + "/model")
    print("after sft: 你是谁？ → \(reply)")
    #expect(reply.contains(SFTFixture.name))

    // RUN/model is a chat model directory carrying the data's template and tokenizer.
    let directory = ModelDirectory(path: run + "/model")
    #expect(try directory.loadChatTemplate() == .chatml)
    let tokenizerBytes = try Data(contentsOf: URL(fileURLWithPath: run + "/model/tokenizer.model"))
    let dataTokenizer = try Data(
      contentsOf: URL(fileURLWithPath: fixture.sftData + "/tokenizer.model"))
    #expect(tokenizerBytes == dataTokenizer)
    // Metrics: the loss fell by more than a nat, and each step logged its supervised tokens.
    let steps = MetricsLog.read(path: run + "/metrics.jsonl").filter {
      $0["loss"] != nil && $0["event"] == nil
    }
    let losses = steps.compactMap { ($0["loss"] as? NSNumber)?.doubleValue }
    #expect(losses.count == summary["steps"] as? Int)
    let first: Double = losses.prefix(5).reduce(0, +) / 5
    let last: Double = losses.suffix(5).reduce(0, +) / 5
    #expect(last < first - 1, "mean loss of the first 5 steps \(first), of the last 5 \(last)")
    #expect(steps.allSatisfy { ($0["supervised_tokens"] as? Int ?? 0) > 0 })
  }

  /// The flags of the resume runs: 20 steps of 4 samples as 2 micro-batches of 2, clipping,
  /// a checkpoint every 4 steps, 1 thread.
  func arguments(_ fixture: SFTFixture, run: String, resume: Bool = false) -> [String] {
    [
      "sft", "--model", fixture.base, "--data", fixture.sftData, "--out", run, "--steps", "20",
      "--batch-size", "4", "--micro-batch-size", "2", "--lr", "1e-3", "--warmup-steps", "3",
      "--clip", "0.5", "--eval-every", "8", "--eval-fraction", "0.05", "--save-every", "4",
      "--keep", "2", "--seed", "7", "--threads", "1",
    ] + (resume ? ["--resume"] : [])
  }

  @Test func aKilledRunResumesBitForBit() throws {
    guard let fixture = SFTFixture.load() else { return }
    let reference = try temporaryDirectory("sft-reference")
    let uninterrupted = try runMinillm(
      fixture.executable, arguments(fixture, run: reference))
    #expect(uninterrupted.status == 0, "\(uninterrupted.standardError)")

    let run = try temporaryDirectory("sft-killed")
    let killed = try runMinillm(
      fixture.executable, arguments(fixture, run: run),
      environment: ["MINILLM_TEST_FAULT": "kill-after-step:14"])
    #expect(killed.killedBySignal == SIGKILL)
    #expect(stepLosses(run + "/metrics.jsonl").keys.max() == 14)
    // A flag that would change the batches is refused on resume.
    let changed = try runMinillm(
      fixture.executable, arguments(fixture, run: run, resume: true) + ["--max-length", "64"])
    #expect(changed.status != 0)
    #expect(changed.standardError.contains("--max-length: 128 → 64"))

    // The other flags come from RUN/config.json.
    let resumed = try runMinillm(
      fixture.executable, ["sft", "--out", run, "--resume", "--threads", "1"])
    #expect(resumed.status == 0, "\(resumed.standardError)")
    #expect(resumed.standardError.contains("resuming from \(run)/checkpoints/step-000012"))
    let model = try Data(contentsOf: URL(fileURLWithPath: run + "/model/model.safetensors"))
    let expected = try Data(
      contentsOf: URL(fileURLWithPath: reference + "/model/model.safetensors"))
    #expect(model == expected, "model.safetensors differs after the resume")
    let losses = stepLosses(run + "/metrics.jsonl")
    #expect(losses.count == 20)
    #expect(losses == stepLosses(reference + "/metrics.jsonl"))
  }

  /// The Swift example of Docs/Training.md, with the fixture's folders.
  @Test func theSwiftExampleFineTunes() throws {
    guard let fixture = SFTFixture.load() else { return }
    let runPath = try temporaryDirectory("sft-swift") + "/run"
    let base = try Llama(directory: fixture.base)
    let samples = SFTSubset(dataset: try SFTDataset(directory: fixture.sftData))
    let (training, heldOut) = samples.split(heldOutFraction: 0.02, seed: 0)
    let padding = Int32(base.config.eosTokenIds.first ?? 0)
    let sft = Trainer(
      model: base, objective: SupervisedFineTuningObjective(model: base),
      optimizer: AdamW(learningRate: 2e-5),
      schedule: LearningRateSchedule(
        kind: .cosine, peakLearningRate: 2e-5, minimumLearningRate: 2e-6, warmupSteps: 5,
        totalSteps: 60),
      loader: SFTLoader(samples: training, batchSize: 8, paddingID: padding, seed: 0),
      evaluationBatches: heldOut.evaluationBatches(batchSize: 8, paddingID: padding),
      configuration: TrainingConfiguration(totalSteps: 60),
      run: RunDirectory(path: runPath))
    let before = try sft.evaluate().loss
    let result = try sft.run()
    let after = try #require(result.finalEvaluation).loss
    print("Swift example: held-out loss \(before) → \(after) over \(heldOut.count) samples")
    #expect(result.progress.step == 60 && result.progress.skippedSteps == 0)
    #expect(after < before)
    #expect(CheckpointStore(directory: runPath + "/checkpoints").newestValid()?.step == 60)
  }

  @Test func dataFromAnotherTokenizerIsRefused() throws {
    guard let fixture = SFTFixture.load() else { return }
    let directory = try temporaryDirectory("other-tokenizer")
    let other = directory + "/tok"
    var result = try runMinillmCapturing(
      fixture.executable,
      [
        "tokenizer", "train", "--input", fixture.directory + "/corpus.txt", "--vocab-size", "700",
        "--special", "<|im_start|>", "<|im_end|>", "--output", other,
      ])
    #expect(result.status == 0, "\(result.error)")
    let identity = try #require(sharedPath("corpora/identity.json"))
    result = try runMinillmCapturing(
      fixture.executable,
      ["data", "sft", "--tokenizer", other, "--input", identity, "--output", directory + "/sft"])
    #expect(result.status == 0, "\(result.error)")
    result = try runMinillmCapturing(
      fixture.executable,
      [
        "sft", "--model", fixture.base, "--data", directory + "/sft", "--out",
        directory + "/run", "--steps", "1",
      ])
    #expect(result.status != 0)
    let lines = result.error.split(separator: "\n")
    #expect(lines.count == 1, "one error line: \(result.error)")
    #expect(result.error.contains("--data: \(directory)/sft/index.json was made with a tokenizer"))
    #expect(result.error.contains(fixture.base + "/tokenizer.model"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/run"))
  }

  @Test func dataSFTTakesTheTemplateOfAModelFolderGivenAsTokenizer() throws {
    guard let fixture = SFTFixture.load() else { return }
    let directory = try temporaryDirectory("tokenizer-template")
    let folder = directory + "/tok"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: fixture.base + "/tokenizer.model", toPath: folder + "/tokenizer.model")
    let tokenizer = try SentencePieceTokenizer(contentsOf: folder)
    let humanRobot = try ChatTemplate.named("human-robot")
    try TokenizerConfig(
      renderer: ChatRenderer(template: humanRobot, tokenizer: tokenizer), modelMaxLength: 512
    ).write(toDirectory: folder)
    let identity = try #require(sharedPath("corpora/identity.json"))
    // No --template: the folder's; an explicit one wins; a bare .model file gives ChatML.
    let cases: [([String], ChatTemplate)] = [
      (["--tokenizer", folder], humanRobot),
      (["--tokenizer", folder, "--template", "chatml"], .chatml),
      (["--tokenizer", folder + "/tokenizer.model"], .chatml),
    ]
    for (index, (flags, expected)) in cases.enumerated() {
      let output = directory + "/sft-\(index)"
      let result = try runMinillmCapturing(
        fixture.executable, ["data", "sft"] + flags + ["--input", identity, "--output", output])
      #expect(result.status == 0, "\(flags): \(result.error)")
      #expect(
        try ModelDirectory(path: output).loadChatTemplate() == expected,
        "data sft \(flags.joined(separator: " "))")
    }
  }
}
