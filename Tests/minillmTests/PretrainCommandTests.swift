import Foundation
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The `minillm` executable built beside this test bundle, or `nil` after recording why the
/// calling test cannot run.
func minillmExecutable(for test: String = #function) -> String? {
  builtExecutable(named: "minillm", for: test)
}

/// A finished or killed `minillm` process.
struct ProcessResult {
  var status: Int32
  var killedBySignal: Int32?
  var standardError: String
}

/// Runs `minillm arguments`; `killWhen` is polled every millisecond while it runs and, when it
/// returns a signal number, that signal is sent (once).
func runMinillm(
  _ executable: String, _ arguments: [String], environment: [String: String] = [:],
  killWhen: (() -> Int32?)? = nil
) throws -> ProcessResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  var env = ProcessInfo.processInfo.environment
  for (key, value) in environment { env[key] = value }
  process.environment = env
  let errorFile = try temporaryDirectory("stderr") + "/stderr.txt"
  _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
  let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorFile))
  process.standardError = errorHandle
  process.standardOutput = FileHandle.nullDevice
  try process.run()
  var sent = false
  while process.isRunning {
    if !sent, let signalNumber = killWhen?() {
      kill(process.processIdentifier, signalNumber)
      sent = true
    }
    usleep(1000)
  }
  process.waitUntilExit()
  try errorHandle.close()
  let text = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
  return ProcessResult(
    status: process.terminationStatus,
    killedBySignal: process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil,
    standardError: text)
}

/// Whole lines in a metrics file.
func metricsLineCount(_ path: String) -> Int {
  guard let data = FileManager.default.contents(atPath: path) else { return 0 }
  return data.filter { $0 == UInt8(ascii: "\n") }.count
}

/// The resume guarantees of `minillm pretrain`, end to end: runs interrupted by SIGKILL (at a
/// random moment, and inside a checkpoint write), by SIGINT/SIGTERM, or resumed past a corrupted
/// checkpoint end with the same model bytes and per-step losses as an uninterrupted run, with
/// shuffling, gradient accumulation and clipping on.
@Suite(.serialized, .requires(.all(.built("minillm"), ChineseCorpus.requirement)))
struct PretrainCommandTests {
  static let steps = 24

  struct Fixture {
    let executable: String
    let corpus: ChineseCorpus
    let configFile: String
  }

  func fixture(for test: String = #function) throws -> Fixture? {
    guard let executable = minillmExecutable(for: test),
      let corpus = ChineseCorpus.load(for: test)
    else { return nil }
    let directory = try temporaryDirectory("config")
    let config = """
      {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": \(corpus.vocabularySize),
       "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
       "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 16,
       "rms_norm_eps": 1e-5, "tie_word_embeddings": false, "eos_token_id": 2, "bos_token_id": 1}
      """
    try Data(config.utf8).write(to: URL(fileURLWithPath: directory + "/config.json"))
    return Fixture(executable: executable, corpus: corpus, configFile: directory + "/config.json")
  }

  /// The flags of every run: 24 steps of 4 sequences as 2 micro-batches of 2, clipping at 0.5,
  /// a checkpoint every 4 steps (2 kept), 1 thread.
  func arguments(_ fixture: Fixture, run: String, seed: Int, resume: Bool = false) -> [String] {
    [
      "pretrain", "--config", fixture.configFile, "--data", fixture.corpus.dataDirectory,
      "--out", run, "--steps", "\(Self.steps)", "--batch-size", "4", "--micro-batch-size", "2",
      "--seq-len", "16", "--lr", "3e-3", "--warmup-steps", "3", "--clip", "0.5",
      "--eval-every", "8", "--eval-batches", "2", "--save-every", "4", "--keep", "2",
      "--seed", "\(seed)", "--threads", "1",
    ] + (resume ? ["--resume"] : [])
  }

  /// An uninterrupted run of `seed`.
  func reference(_ fixture: Fixture, seed: Int) throws -> String {
    let run = try temporaryDirectory("reference\(seed)")
    let result = try runMinillm(fixture.executable, arguments(fixture, run: run, seed: seed))
    #expect(result.status == 0, "\(result.standardError)")
    return run
  }

  func expectSameOutcome(_ run: String, as reference: String, _ note: String) throws {
    let model = try Data(contentsOf: URL(fileURLWithPath: run + "/model/model.safetensors"))
    let expected = try Data(
      contentsOf: URL(fileURLWithPath: reference + "/model/model.safetensors"))
    #expect(model == expected, "model.safetensors differs (\(note))")
    let losses = stepLosses(run + "/metrics.jsonl")
    let expectedLosses = stepLosses(reference + "/metrics.jsonl")
    #expect(expectedLosses.count == Self.steps)
    #expect(losses == expectedLosses, "per-step losses differ (\(note))")
    // Each step was logged exactly once in the resumed run's metrics.
    let steps = MetricsLog.read(path: run + "/metrics.jsonl").filter {
      $0["loss"] != nil && $0["event"] == nil
    }.compactMap { $0["step"] as? Int }
    #expect(steps == Array(1...Self.steps), "\(note)")
  }

  @Test(arguments: [11, 23, 37])
  func sigkillAtARandomStepThenResumeIsBitwiseIdentical(seed: Int) throws {
    guard let fixture = try fixture() else { return }
    let reference = try reference(fixture, seed: seed)
    // Clipping was on: the threshold is below the norms seen.
    let norms = MetricsLog.read(path: reference + "/metrics.jsonl").compactMap {
      ($0["grad_norm"] as? NSNumber)?.floatValue
    }
    #expect(norms.contains { $0 > 0.5 })
    var rng = PhiloxRNG(seed: UInt64(seed))
    // A random step after the first checkpoint (step 4), so the resume uses one.
    let target = 6 + Int(rng.nextUInt32() % UInt32(Self.steps - 8))
    let run = try temporaryDirectory("killed\(seed)")
    let metrics = run + "/metrics.jsonl"
    let killed = try runMinillm(fixture.executable, arguments(fixture, run: run, seed: seed)) {
      metricsLineCount(metrics) >= target ? SIGKILL : nil
    }
    #expect(killed.killedBySignal == SIGKILL, "the run ended before step \(target)")
    print(
      "seed \(seed): killed after \(metricsLineCount(metrics)) metrics lines (target \(target))")
    let resumed = try runMinillm(
      fixture.executable, arguments(fixture, run: run, seed: seed, resume: true))
    #expect(resumed.status == 0, "\(resumed.standardError)")
    #expect(resumed.standardError.contains("resuming from \(run)/checkpoints/step-"))
    try expectSameOutcome(run, as: reference, "seed \(seed), killed near step \(target)")
  }

  @Test func sigkillDuringACheckpointWriteThenResumePastACorruptedCheckpoint() throws {
    guard let fixture = try fixture() else { return }
    let seed = 5
    let reference = try reference(fixture, seed: seed)
    let run = try temporaryDirectory("killed-in-save")
    let killed = try runMinillm(
      fixture.executable, arguments(fixture, run: run, seed: seed),
      environment: ["MINILLM_TEST_FAULT": "kill-during-save:12"])
    #expect(killed.killedBySignal == SIGKILL)
    let checkpoints = run + "/checkpoints"
    let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints).sorted()
    // Died with step 12's model written but no manifest: only the temporary directory exists.
    #expect(names == ["step-000004", "step-000008", "step-000012.tmp"])
    // Corrupt the newest complete checkpoint too: one flipped bit in its optimizer state.
    let optimizer = URL(fileURLWithPath: checkpoints + "/step-000008/optimizer.safetensors")
    var bytes = try Data(contentsOf: optimizer)
    bytes[bytes.count / 2] ^= 0x04
    try bytes.write(to: optimizer)
    let resumed = try runMinillm(
      fixture.executable, arguments(fixture, run: run, seed: seed, resume: true))
    #expect(resumed.status == 0, "\(resumed.standardError)")
    #expect(resumed.standardError.contains("rejected checkpoint"))
    #expect(resumed.standardError.contains("step-000008/optimizer.safetensors"))
    #expect(resumed.standardError.contains("resuming from \(checkpoints)/step-000004"))
    try expectSameOutcome(run, as: reference, "killed while saving step 12, step 8 corrupted")
    #expect(!FileManager.default.fileExists(atPath: checkpoints + "/step-000012.tmp"))
  }

  @Test(arguments: [SIGINT, SIGTERM])
  func aSignalSavesAtTheNextStepAndExitsZero(signalNumber: Int32) throws {
    guard let fixture = try fixture() else { return }
    let seed = 3
    let reference = try reference(fixture, seed: seed)
    let run = try temporaryDirectory("signal")
    let metrics = run + "/metrics.jsonl"
    let stopped = try runMinillm(fixture.executable, arguments(fixture, run: run, seed: seed)) {
      metricsLineCount(metrics) >= 6 ? signalNumber : nil
    }
    #expect(stopped.status == 0 && stopped.killedBySignal == nil, "\(stopped.standardError)")
    #expect(stopped.standardError.contains("stopped at step"))
    let store = CheckpointStore(directory: run + "/checkpoints")
    let newest = try #require(store.newestValid())
    let lastLogged = stepLosses(metrics).keys.max()
    #expect(newest.step == lastLogged, "the checkpoint is the last step taken")
    #expect(newest.step < Self.steps)
    #expect(!FileManager.default.fileExists(atPath: run + "/model"))
    let resumed = try runMinillm(
      fixture.executable, arguments(fixture, run: run, seed: seed, resume: true))
    #expect(resumed.status == 0, "\(resumed.standardError)")
    try expectSameOutcome(run, as: reference, "stopped by signal \(signalNumber)")
  }

  @Test func refusesANonEmptyRunWithoutResumeOrOverwriteThenEvalAndReportWork() throws {
    guard let fixture = try fixture() else { return }
    let run = try reference(fixture, seed: 1)
    let again = try runMinillm(fixture.executable, arguments(fixture, run: run, seed: 1))
    #expect(again.status != 0)
    #expect(again.standardError.contains("--resume"))
    #expect(again.standardError.contains("--overwrite"))
    // The final model loads and evaluates; the tokenizer was copied beside it.
    #expect(FileManager.default.fileExists(atPath: run + "/model/tokenizer.model"))
    let output = try temporaryDirectory("eval") + "/out.txt"
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: fixture.executable)
    process.arguments = [
      "eval", "--model", run + "/model", "--data", fixture.corpus.dataDirectory, "--seq-len",
      "16", "--max-windows", "64", "--threads", "1",
    ]
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
    let json = try #require(
      try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any])
    let loss = try #require(json["loss"] as? Double)
    #expect(json["tokens"] as? Int == 64 * 16)
    #expect(abs((json["perplexity"] as? Double ?? 0) - exp(loss)) < 1e-6 * exp(loss))
    #expect(lines.contains { $0.hasPrefix("perplexity ") })
    // The report: plots as inline SVG, no script.
    let report = try runMinillm(
      fixture.executable, ["report", "--run", run, "--max-new-tokens", "8", "--threads", "1"])
    #expect(report.status == 0, "\(report.standardError)")
    let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
    #expect(html.contains("<svg"))
    #expect(html.contains("held-out loss"))
    #expect(!html.lowercased().contains("<script"))
  }
}
