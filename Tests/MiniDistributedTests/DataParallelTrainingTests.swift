import Foundation
import MiniTensor
import MiniTokenize
import MiniTrain
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

extension Requirement {
  /// What every data-parallel test needs: `mpirun` and the built `minillm`.
  static let dataParallel = Requirement.all(
    .tool("mpirun", package: "openmpi-bin"), .built("minillm"))
}

/// `mpirun -np 2 minillm pretrain …`, through the commands of Docs/Training.md ("Several
/// processes"): two processes train the same model as one process with the same global batch
/// (up to float rounding), only rank 0 writes and prints, and a stopped job resumes bit for bit.
@Suite(.serialized, .requires(.dataParallel))
struct DataParallelTrainingTests {
  /// What every test needs: the executables, the documented commands and a folder holding
  /// `tiny.json` and `data/` (the documented commands run in it).
  struct Fixture {
    let minillm: String
    let mpirun: String
    let folder: String
    /// The `sh` block of "Several processes", one command per element, split into words.
    let commands: [[String]]

    /// The documented command `index` with `mpirun` and `minillm` replaced by the executables'
    /// paths and `--out` (when `out` is given) by `out`.
    func command(_ index: Int, out: String? = nil) -> [String] {
      var words = commands[index].map {
        $0 == "minillm" ? minillm : $0 == "mpirun" ? mpirun : $0
      }
      if let out, let flag = words.firstIndex(of: "--out") { words[flag + 1] = out }
      return words
    }

    /// The same command without `mpirun` and its options: one process.
    func singleProcess(_ index: Int, out: String) -> [String] {
      let words = command(index, out: out)
      return Array(words[words.firstIndex(of: minillm)!...])
    }
  }

  /// Open MPI refuses to start as root without these.
  static let mpiEnvironment = [
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
  ]

  func fixture(for test: String = #function) throws -> Fixture {
    try Requirement.dataParallel.check()
    let mpirun = try #require(executableOnPath("mpirun"))
    let minillm = try requireBuiltExecutable(named: "minillm")
    let folder = try scratchFolder(test)
    try writeTinyConfig(to: folder + "/tiny.json")
    try writePatternData(into: folder + "/data")
    return Fixture(
      minillm: minillm, mpirun: mpirun, folder: folder, commands: try documentedCommands())
  }

  @Test func twoProcessesTrainAsOneWithTheSameGlobalBatch() throws {
    let fixture = try fixture()
    let two = try runJob(fixture.command(0), in: fixture.folder, environment: Self.mpiEnvironment)
    #expect(two.status == 0, "\(two.standardError)")
    let one = try runJob(fixture.singleProcess(0, out: "runs/one"), in: fixture.folder)
    #expect(one.status == 0, "\(one.standardError)")
    let twoRun = fixture.folder + "/runs/dp"
    let oneRun = fixture.folder + "/runs/one"

    // Same steps, same windows: per-step and held-out losses agree up to the order of the sums.
    let twoLosses = stepLosses(twoRun + "/metrics.jsonl")
    let oneLosses = stepLosses(oneRun + "/metrics.jsonl")
    #expect(twoLosses.count == 16 && oneLosses.count == 16)
    let steps = oneLosses.keys.sorted()
    expectClose(
      steps.map { twoLosses[$0] ?? .nan }, steps.map { oneLosses[$0]! }, rtol: 1e-4, atol: 1e-5,
      "per-step losses, 2 processes vs 1")
    #expect(
      oneLosses[16]! < oneLosses[1]! - 0.3, "the loss falls: \(oneLosses[1]!) → \(oneLosses[16]!)")
    let lossDifference =
      steps.map { abs((twoLosses[$0] ?? .nan) - oneLosses[$0]!) / oneLosses[$0]! }.max() ?? 0
    let twoEval = evaluationLosses(twoRun + "/metrics.jsonl")
    let oneEval = evaluationLosses(oneRun + "/metrics.jsonl")
    #expect(twoEval.count == oneEval.count && !oneEval.isEmpty)
    expectClose(twoEval, oneEval, rtol: 1e-4, atol: 1e-5, "held-out losses")

    // Final weights after 16 AdamW steps: compared tensor by tensor in norm, 1e-4 relative.
    // Element by element the comparison is ill conditioned (AdamW divides by |g|, so a weight
    // whose gradient is within rounding of zero moves by the rounding of the kernel at hand);
    // the losses above are the well-conditioned check. The largest element difference is
    // printed.
    let twoWeights = try SafeTensorsFile(path: twoRun + "/model/model.safetensors").loadAll()
    let oneWeights = try SafeTensorsFile(path: oneRun + "/model/model.safetensors").loadAll()
    #expect(Set(twoWeights.keys) == Set(oneWeights.keys))
    var largest: Float = 0
    for (name, expected) in oneWeights {
      guard let actual = twoWeights[name] else { continue }
      expectCloseInNorm(actual.scalars, expected.scalars, rtol: 1e-4, "\(name)")
      for (a, b) in zip(actual.scalars, expected.scalars) { largest = max(largest, abs(a - b)) }
    }
    print(
      "2 processes vs 1: largest relative loss difference \(lossDifference), largest weight "
        + "difference \(largest) after 16 steps")
    #expect(largest > 0 || twoLosses == oneLosses, "the runs must not be the same process twice")

    // Rank 0 alone printed and wrote: one result line, one set of progress lines, each step
    // logged once, the checkpoints of one writer.
    #expect(jsonLines(two.standardOutput).count == 1, "stdout: \(two.standardOutput)")
    #expect(occurrences(of: "training from step 0", in: two.standardError) == 1)
    #expect(occurrences(of: "model written to", in: two.standardError) == 1)
    #expect(two.standardError.contains("2 processes × 1 × 4"), "\(two.standardError)")
    #expect(two.standardError.contains("the 2 processes hold identical weights"))
    let logged = MetricsLog.read(path: twoRun + "/metrics.jsonl").filter {
      $0["loss"] != nil && $0["event"] == nil
    }.compactMap { $0["step"] as? Int }
    #expect(logged == Array(1...16))
    let checkpoints = try FileManager.default.contentsOfDirectory(atPath: twoRun + "/checkpoints")
    #expect(checkpoints.sorted() == ["step-000008", "step-000012", "step-000016"])
    let written = try FileManager.default.contentsOfDirectory(atPath: twoRun).sorted()
    #expect(written == ["checkpoints", "config.json", "metrics.jsonl", "model"])
  }

  @Test func aStoppedJobResumesBitForBit() throws {
    let fixture = try fixture()
    let full = try runJob(
      fixture.command(0, out: "runs/full"), in: fixture.folder, environment: Self.mpiEnvironment)
    #expect(full.status == 0, "\(full.standardError)")
    // Rank 1 alone receives SIGTERM after step 6 (as from `kill`); its stop request travels
    // with the next step's sums, so both ranks stop after the same step, rank 0 saves a
    // checkpoint, and all exit 0.
    let stopped = try runJob(
      fixture.command(0), in: fixture.folder,
      environment: Self.mpiEnvironment.merging(["MINILLM_TEST_FAULT": "term-after-step:6:1"]) {
        $1
      })
    #expect(stopped.status == 0, "\(stopped.standardError)")
    #expect(stopped.standardError.contains("stopped at step 7;"), "\(stopped.standardError)")
    #expect(!FileManager.default.fileExists(atPath: fixture.folder + "/runs/dp/model"))
    let resumed = try runJob(
      fixture.command(1), in: fixture.folder, environment: Self.mpiEnvironment)
    #expect(resumed.status == 0, "\(resumed.standardError)")
    #expect(occurrences(of: "resuming from", in: resumed.standardError) == 1)

    let run = fixture.folder + "/runs/dp"
    let reference = fixture.folder + "/runs/full"
    let model = try Data(contentsOf: URL(fileURLWithPath: run + "/model/model.safetensors"))
    let expected = try Data(
      contentsOf: URL(fileURLWithPath: reference + "/model/model.safetensors"))
    #expect(model == expected, "model.safetensors of the resumed job differs")
    #expect(stepLosses(run + "/metrics.jsonl") == stepLosses(reference + "/metrics.jsonl"))
  }

  @Test(.requires(.shared("corpora/identity.json")))
  func fineTuningTrainsAsOneProcess() throws {
    let fixture = try fixture()
    try Requirement.shared("corpora/identity.json").check()
    let identity = try #require(sharedPath("corpora/identity.json"))
    // A tokenizer with the chat template's tokens, a base model of 2 steps, SFT shards.
    let folder = fixture.folder
    let records = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: identity)))
        as? [[String: Any]])
    let text = records.map {
      ($0["instruction"] as? String ?? "") + "\n" + ($0["output"] as? String ?? "")
    }.joined(separator: "\n").replacingOccurrences(of: "{{name}}", with: "Kestrel")
      .replacingOccurrences(of: "{{author}}", with: "Tern Lab")
    try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/corpus.txt"))
    let config = try String(contentsOfFile: folder + "/tiny.json", encoding: .utf8)
      .replacingOccurrences(of: "\"vocab_size\": 64", with: "\"vocab_size\": 800")
      .replacingOccurrences(
        of: "\"max_position_embeddings\": 16", with: "\"max_position_embeddings\": 48")
    try Data(config.utf8).write(to: URL(fileURLWithPath: folder + "/base.json"))
    let preparation = [
      "tokenizer train --input corpus.txt --vocab-size 800 --special <|im_start|> <|im_end|> --output tok",
      "data pretrain --tokenizer tok --input corpus.txt --output text",
      "pretrain --config base.json --data text --out base --steps 2 --seq-len 48 --threads 1",
      "data sft --tokenizer base/model --input \(identity) --name Kestrel --author Tern --output sft",
    ]
    for line in preparation {
      let words = [fixture.minillm] + line.split(separator: " ").map(String.init)
      let result = try runJob(words, in: folder)
      try #require(result.status == 0, "minillm \(line): \(result.standardError)")
    }
    // Length-grouped batches are planned per micro-batch of all ranks together: 2 processes
    // with micro-batches of 2 see the batches of 1 process with micro-batches of 4, except a
    // last batch of 1 sample, which 2 processes skip. A held-out fraction that leaves no such
    // batch (SFTSubset.split holds out round(count × fraction) samples, at least 1):
    let index = try #require(
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: folder + "/sft/index.json")))
        as? [String: Any])
    let count = try #require(index["kept"] as? Int)
    let fraction = try #require(
      [0.02, 0.03, 0.05, 0.08].first {
        (count - max(1, Int((Double(count) * $0).rounded()))) % 4 != 1
      })
    let flags =
      "sft --model base/model --data sft --steps 6 --batch-size 8 --lr 1e-3 --eval-fraction \(fraction)"
      .split(separator: " ").map(String.init)
    let one = try runJob(
      [fixture.minillm] + flags + ["--micro-batch-size", "4", "--out", "one", "--threads", "1"],
      in: folder)
    #expect(one.status == 0, "\(one.standardError)")
    let two = try runJob(
      [fixture.mpirun, "-np", "2", "--oversubscribe", fixture.minillm] + flags
        + ["--micro-batch-size", "2", "--out", "two"],
      in: folder, environment: Self.mpiEnvironment)
    #expect(two.status == 0, "\(two.standardError)")
    #expect(two.standardError.contains("2 processes × 2 × 2"), "\(two.standardError)")

    // Same global batches of samples (length-grouped, padded per rank): the losses weighted by
    // supervised tokens agree up to rounding, and the weights in norm (see above).
    let oneLosses = stepLosses(folder + "/one/metrics.jsonl")
    let twoLosses = stepLosses(folder + "/two/metrics.jsonl")
    let steps = oneLosses.keys.sorted()
    #expect(steps == Array(1...6) && twoLosses.keys.sorted() == steps)
    expectClose(
      steps.map { twoLosses[$0] ?? .nan }, steps.map { oneLosses[$0]! }, rtol: 1e-4, atol: 1e-5,
      "per-step SFT losses, 2 processes vs 1")
    let oneWeights = try SafeTensorsFile(path: folder + "/one/model/model.safetensors").loadAll()
    let twoWeights = try SafeTensorsFile(path: folder + "/two/model/model.safetensors").loadAll()
    for (name, expected) in oneWeights {
      guard let actual = twoWeights[name] else {
        Issue.record("\(name) missing from the 2-process model")
        continue
      }
      expectCloseInNorm(actual.scalars, expected.scalars, rtol: 1e-4, "\(name)")
    }
    // Rank 0 wrote the chat-ready model directory.
    #expect(FileManager.default.fileExists(atPath: folder + "/two/model/tokenizer_config.json"))
    #expect(jsonLines(two.standardOutput).count == 1)
  }

  @Test func aBadFlagIsReportedOnceAndEveryRankExits() throws {
    let fixture = try fixture()
    // 7 sequences cannot be shared by 2 processes.
    var words = fixture.command(0, out: "runs/bad")
    words[words.firstIndex(of: "--batch-size")! + 1] = "7"
    let job = try runJob(words, in: fixture.folder, environment: Self.mpiEnvironment)
    #expect(job.status != 0)
    #expect(occurrences(of: "--batch-size: 7", in: job.standardError) == 1, "\(job.standardError)")
    #expect(!FileManager.default.fileExists(atPath: fixture.folder + "/runs/bad"))
  }
}
