import Foundation
import MiniLlama
import MiniTokenize
import TestSupport
import Testing

/// `minillm demo` end to end on its smallest budget (2 minutes of training stages, ≈ 4 minutes
/// in all), run once per test process; the tests below look at what it leaves. Skipped (failed
/// under CI) when `minillm` is not built or `fortunes-zh`/`manpages-zh` are missing.
enum DemoOutput {
  static let name = "青鸟"
  static let author = "松林实验室"

  struct Run: Sendable {
    let out: String
    let log: String
  }

  /// What the demo needs: the installed texts and the built `minillm`.
  static let requirement = Requirement.all(.installedTexts, .built("minillm"))

  /// The finished run, or why there is none (a failure of every test that asks).
  private static let outcome: Result<Run, Failure> = {
    do {
      try requirement.check()
      let minillm = try requireBuiltExecutable(named: "minillm")
      let out = try temporaryDirectory("demo-run")
      var errors = ""
      let output = runProcess(minillm, arguments(out: out), errorOutput: &errors)
      guard let output else {
        return .failure(Failure(description: "minillm demo failed: \(errors.suffix(4000))"))
      }
      return .success(Run(out: out, log: String(decoding: output, as: UTF8.self)))
    } catch {
      return .failure(Failure(description: "\(error)"))
    }
  }()

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// `minillm demo`'s arguments for output folder `out`.
  static func arguments(out: String) -> [String] {
    ["demo", "--minutes", "2", "--out", out, "--name", name, "--author", author, "--seed", "5"]
  }

  /// The demo's output; throws (failing the test) when the demo could not run or failed.
  static func finished() throws -> Run {
    try outcome.get()
  }

  /// The JSON line `minillm eval` printed for `run` in the comparison stage's record.
  static func heldOutLoss(_ out: String, run: String) throws -> Double {
    let record = try #require(FileManager.default.contents(atPath: out + "/stages/13-compare.json"))
    let object = try #require(try JSONSerialization.jsonObject(with: record) as? [String: Any])
    let commands = try #require(object["commands"] as? [[String: Any]])
    let eval = try #require(
      commands.first {
        let arguments = $0["arguments"] as? [String] ?? []
        return arguments.first == "eval" && arguments.contains(out + "/runs/\(run)/model")
      }, "no eval of \(run) in the comparison stage")
    let output = try #require(eval["output"] as? String)
    let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
    let figures = try #require(
      try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    return try #require(figures["loss"] as? Double)
  }

  /// The questions both our model and a peer answer greedily.
  static let questions = ["你是谁？", "“白日依山尽，”的下一句是什么？", "ls 命令是做什么的？"]

  /// Our chat prompt ids for `question`, the greedy reply (stopping at the generation config's
  /// end tokens) and the model.
  static func ourReply(_ model: Llama, directory: ModelDirectory, question: String, count: Int)
    throws -> (prompt: [Int32], reply: [Int32])
  {
    let tokenizer = try directory.loadTokenizer()
    let renderer = try ChatRenderer(template: directory.loadChatTemplate(), tokenizer: tokenizer)
    let prompt = try renderer.renderPrompt(
      for: Conversation(messages: [Message(role: .user, content: question)]))
    let stops = Set(try directory.loadGenerationConfig().eosTokenIDs.map(Int32.init))
    let reply = model.generate(
      prompt: prompt,
      options: GenerationOptions(maxNewTokens: count, sampling: .greedy, stopTokens: stops))
    return (prompt, reply)
  }

  /// Checks a peer's greedy reply against ours: equal, or equal up to a step where our two best
  /// logits are within `tieTolerance` (a tie the two implementations may break differently).
  static func expectSameGreedy(
    _ theirs: [Int32], _ ours: [Int32], prompt: [Int32], model: Llama, peer: String,
    tieTolerance: Float = 1e-3
  ) {
    guard let first = (0..<min(theirs.count, ours.count)).first(where: { theirs[$0] != ours[$0] })
    else {
      #expect(theirs.count == ours.count, "\(peer) replied \(theirs), we replied \(ours)")
      return
    }
    let logits = model.nextTokenLogits(prompt + ours[..<first])
    let gap = logits[Int(ours[first])] - logits[Int(theirs[first])]
    #expect(
      gap <= tieTolerance,
      "\(peer) chose \(theirs[first]) where we chose \(ours[first]) (logit gap \(gap)) at reply position \(first)"
    )
  }
}

@Suite(
  "minillm demo, end to end on a 2-minute budget", .serialized, .requires(DemoOutput.requirement))
struct DemoRunTests {
  @Test func writesTheReportModelAndGGUFAndLearns() throws {
    let run = try DemoOutput.finished()
    let manager = FileManager.default
    for file in [
      "report.html", "minillm-demo.gguf", "model/config.json", "model/model.safetensors",
      "model/tokenizer.model", "model/tokenizer_config.json", "runs/pretrain/metrics.jsonl",
      "runs/sft/metrics.jsonl", "runs/dpo/metrics.jsonl",
    ] {
      #expect(manager.fileExists(atPath: run.out + "/" + file), "the demo wrote no \(file)")
    }
    // Even a minute of pretraining takes the held-out loss well below the untrained ≈ ln(6400).
    let untrained = try DemoOutput.heldOutLoss(run.out, run: "init")
    let pretrained = try DemoOutput.heldOutLoss(run.out, run: "pretrain")
    #expect(untrained > 8)
    #expect(pretrained < untrained - 1.5, "held-out loss \(untrained) → \(pretrained)")

    let report = try String(contentsOfFile: run.out + "/report.html", encoding: .utf8)
    #expect(report.components(separatedBy: "<svg").count - 1 >= 3, "plots in report.html")
    #expect(report.contains("<polyline"))
    for question in ["你是谁？", "“白日依山尽，”的下一句是什么？"] {
      #expect(report.contains(question), "the table asks \(question)")
    }
    #expect(run.log.contains("report:") && run.log.contains("GGUF:"))
  }

  @Test func rerunningReusesEveryStage() throws {
    let run = try DemoOutput.finished()
    let minillm = try requireBuiltExecutable(named: "minillm")
    var errors = ""
    let output = try #require(
      runProcess(
        minillm,
        DemoOutput.arguments(out: run.out), errorOutput: &errors),
      "second demo run failed: \(errors.suffix(3000))")
    let text = String(decoding: output, as: UTF8.self)
    let stageLines = text.split(separator: "\n").filter {
      $0.hasPrefix("  ") && $0.hasSuffix(" s  (reused)")
    }
    #expect(stageLines.count == 15, "reused stages in the rerun:\n\(text.suffix(3000))")
  }

  @Test func examIsHeldOutAndScoredForEveryModel() throws {
    let run = try DemoOutput.finished()
    let folder = run.out + "/sft-data/exam"
    let yaml = try String(contentsOfFile: folder + "/demo_exam.yaml", encoding: .utf8)
    #expect(yaml.contains("task: demo_exam") && yaml.contains("\(folder)/demo_exam.jsonl"))
    let lines = try String(contentsOfFile: folder + "/demo_exam.jsonl", encoding: .utf8)
      .split(separator: "\n")
    #expect((45...60).contains(lines.count), "\(lines.count) exam questions")
    var trained = Set<String>()
    for file in ["train.jsonl", "dpo_prompts.jsonl"] {
      for line in try String(contentsOfFile: run.out + "/sft-data/" + file, encoding: .utf8)
        .split(separator: "\n")
      {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        trained.insert(try #require(object?["instruction"] as? String))
      }
    }
    var kinds = Set<String>()
    for line in lines {
      let item = try #require(
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      let question = try #require(item["question"] as? String)
      let choices = try #require(item["choices"] as? [String])
      let answer = try #require(item["answer"] as? Int)
      #expect(!trained.contains(question), "exam question \(question) is in the SFT data")
      #expect(choices.count == 4 && Set(choices).count == 4, "\(question): \(choices)")
      #expect((0..<4).contains(answer))
      kinds.insert(try #require(item["kind"] as? String))
    }
    #expect(kinds == ["poem_author", "poem_continuation", "man_page"])

    // Every model's scores, from its results JSON, are in the printed table and report.html.
    let report = try String(contentsOfFile: run.out + "/report.html", encoding: .utf8)
    #expect(report.contains("<h2>Exam</h2>") && report.contains("<i>chance</i>"))
    #expect(run.log.contains("Exam (demo_exam: \(lines.count) held-out questions"))
    #expect(run.log.contains("  chance      0.250"))
    for (label, name) in [
      ("untrained", "init"), ("pretrained", "pretrain"), ("SFT", "sft"), ("DPO", "dpo"),
    ] {
      let data = try #require(FileManager.default.contents(atPath: run.out + "/exam/\(name).json"))
      let results = try #require(
        (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["results"]
          as? [String: Any])
      let scores = try #require(results["demo_exam"] as? [String: Any])
      #expect(scores["sample_len"] as? Int == lines.count)
      for metric in ["acc", "acc_norm"] {
        let value = try #require(scores["\(metric),none"] as? Double)
        let error = try #require(scores["\(metric)_stderr,none"] as? Double)
        let text = String(format: "%.3f ± %.3f", value, error)
        #expect(report.contains(text), "report.html: \(label) \(metric) \(text)")
        #expect(
          run.log.split(separator: "\n").contains {
            $0.hasPrefix("  \(label) ") && $0.contains(text)
          }, "printed: \(label) \(metric) \(text)")
      }
    }
    // Each training run keeps its model's exam results and shows them in its own report.
    for name in ["pretrain", "sft", "dpo"] {
      let folder = run.out + "/runs/\(name)"
      #expect(FileManager.default.fileExists(atPath: folder + "/eval/demo_exam.json"), "\(name)")
      let page = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)
      #expect(
        page.contains("<h2>Benchmarks</h2>") && page.contains("<td>demo_exam</td><td>acc</td>"),
        "\(name)/report.html")
    }
  }

  /// Runs `lm_eval` offline on a model directory and one task folder, then prints the task's
  /// results and each document's log-likelihoods and scores as one JSON object.
  static let harnessScript = #"""
    import glob, json, os, sys
    for key in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[key] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    model, tasks, task, out = sys.argv[1:5]
    sys.argv = ["lm_eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
                "--device", "cpu", "--include_path", tasks, "--tasks", task, "--log_samples",
                "--output_path", out]
    from lm_eval.__main__ import cli_evaluate
    cli_evaluate()
    results = json.load(open(sorted(glob.glob(out + "/**/results_*.json", recursive=True))[-1]))
    path = sorted(glob.glob(out + f"/**/samples_{task}_*.jsonl", recursive=True))[-1]
    samples = []
    for line in open(path, encoding="utf-8"):
        s = json.loads(line)
        samples.append({"doc_id": s["doc_id"], "ll": [r[0] for r in s["filtered_resps"]],
                        "acc": s["acc"], "acc_norm": s["acc_norm"]})
    samples.sort(key=lambda r: r["doc_id"])
    print(json.dumps({"results": results["results"][task], "samples": samples}))
    """#

  @Test(.requires(.python("lm_eval", "transformers", "torch")))
  func examScoresEqualTheHarnessOnTheExportedModel() throws {
    let python = try PythonRunner.requirePeers(importing: ["lm_eval", "transformers", "torch"])
    let run = try DemoOutput.finished()
    let output = try python.run([
      "-c", Self.harnessScript, run.out + "/model", run.out + "/sft-data/exam", "demo_exam",
      try temporaryDirectory("demo-harness"),
    ]).get()
    let line = try #require(
      String(decoding: output, as: UTF8.self).split(separator: "\n").last { $0.hasPrefix("{") })
    let theirs = try #require(
      try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    // OUT/model is a copy of the DPO model, which the exam stage scored with --log-samples.
    let data = try #require(FileManager.default.contents(atPath: run.out + "/exam/dpo.json"))
    let ours = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let ourSamples = try #require(
      (ours["samples"] as? [String: Any])?["demo_exam"] as? [[String: Any]])
    let theirSamples = try #require(theirs["samples"] as? [[String: Any]])
    #expect(ourSamples.count == theirSamples.count && !ourSamples.isEmpty)
    var worst = 0.0
    for (mine, their) in zip(ourSamples, theirSamples) {
      let id = try #require(mine["doc_id"] as? Int)
      #expect(their["doc_id"] as? Int == id)
      let myLL = try #require(mine["filtered_resps"] as? [[Any]]).compactMap { $0.first as? Double }
      // lm_eval writes the log-likelihoods of its samples as text.
      let theirLL = try #require(their["ll"] as? [Any]).compactMap {
        ($0 as? String).flatMap(Double.init) ?? ($0 as? Double)
      }
      #expect(myLL.count == theirLL.count, "doc \(id): choices")
      for (a, b) in zip(myLL, theirLL) {
        let relative = abs(a - b) / max(abs(a), abs(b), 1e-12)
        worst = max(worst, relative)
        #expect(relative <= 1e-4, "doc \(id): log-likelihood \(a) vs lm_eval's \(b)")
      }
      for metric in ["acc", "acc_norm"] {
        #expect(
          (mine[metric] as? Double) == (their[metric] as? Double), "doc \(id): \(metric)")
      }
    }
    let results = try #require(theirs["results"] as? [String: Any])
    let ourResults = try #require(
      (ours["results"] as? [String: Any])?["demo_exam"] as? [String: Any])
    for key in ["acc,none", "acc_norm,none"] {
      #expect(ourResults[key] as? Double == results[key] as? Double, "\(key)")
    }
    print("demo exam: largest relative log-likelihood difference from lm_eval \(worst)")
  }

  static let transformersScript = """
    import json, sys
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path, request = sys.argv[1], json.loads(sys.argv[2])
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").float().eval()
    runs = []
    for question in request["questions"]:
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                             tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].tolist()
            out = model.generate(torch.tensor([ids]), max_new_tokens=request["count"],
                                 do_sample=False, repetition_penalty=1.0)
        runs.append({"ids": ids, "reply": out[0][len(ids):].tolist(), "logits": logits})
    print(json.dumps({"class": type(model).__name__, "runs": runs}))
    """

  @Test(.requires(.python("torch", "transformers")))
  func transformersLoadsTheExportedModel() throws {
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers"])
    let run = try DemoOutput.finished()
    let path = run.out + "/model"
    let count = 16
    let request = try JSONSerialization.data(withJSONObject: [
      "questions": DemoOutput.questions, "count": count,
    ])
    let output = try python.run([
      "-c", Self.transformersScript, path, String(decoding: request, as: UTF8.self),
    ]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    #expect(json["class"] as? String == "LlamaForCausalLM")
    let runs = try #require(json["runs"] as? [[String: Any]])
    try #require(runs.count == DemoOutput.questions.count)
    let directory = ModelDirectory(path: path)
    let model = try Llama(directory: path)
    for (question, theirs) in zip(DemoOutput.questions, runs) {
      let (prompt, reply) = try DemoOutput.ourReply(
        model, directory: directory, question: question, count: count)
      #expect(theirs["ids"] as? [Int] == prompt.map(Int.init), "chat prompt ids of \(question)")
      let logits = try #require(theirs["logits"] as? [Double]).map(Float.init)
      expectClose(model.nextTokenLogits(prompt), logits, rtol: 0, atol: 1e-3)
      let theirReply = try #require(theirs["reply"] as? [Int]).map(Int32.init)
      DemoOutput.expectSameGreedy(
        theirReply, reply, prompt: prompt, model: model, peer: "transformers")
    }
  }

  /// Loads the GGUF (f32 KV cache, one thread), tokenizes each chat prompt text with llama.cpp's
  /// tokenizer and continues each id prompt greedily until one of the stop tokens.
  static let llamaCppScript = """
    import json, sys
    import llama_cpp
    path, request = sys.argv[1], json.loads(sys.argv[2])
    model = llama_cpp.Llama(model_path=path, n_ctx=512, n_batch=64, n_threads=1,
                            verbose=False, type_k=0, type_v=0, seed=0)
    runs = []
    for text, prompt in zip(request["texts"], request["prompts"]):
        ids = model.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        model.reset()
        reply = []
        for token in model.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                    repeat_penalty=1.0, reset=True):
            reply.append(int(token))
            if token in request["stops"] or len(reply) == request["count"]:
                break
        runs.append({"ids": ids, "reply": reply})
    print(json.dumps({"runs": runs}))
    """

  @Test(.requires(.python("llama_cpp")))
  func llamaCppRunsTheExportedGGUF() throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let run = try DemoOutput.finished()
    let path = run.out + "/model"
    let directory = ModelDirectory(path: path)
    let model = try Llama(directory: path)
    let renderer = try ChatRenderer(
      template: directory.loadChatTemplate(), tokenizer: directory.loadTokenizer())
    let count = 16
    var prompts: [[Int32]] = []
    var replies: [[Int32]] = []
    var texts: [String] = []
    for question in DemoOutput.questions {
      let conversation = Conversation(messages: [Message(role: .user, content: question)])
      let (prompt, reply) = try DemoOutput.ourReply(
        model, directory: directory, question: question, count: count)
      prompts.append(prompt)
      replies.append(reply)
      texts.append(try renderer.text(of: conversation, addGenerationPrompt: true))
    }
    let request = try JSONSerialization.data(withJSONObject: [
      "texts": texts, "prompts": prompts.map { $0.map(Int.init) }, "count": count,
      "stops": try directory.loadGenerationConfig().eosTokenIDs,
    ])
    let output = try python.run([
      "-c", Self.llamaCppScript, run.out + "/minillm-demo.gguf",
      String(decoding: request, as: UTF8.self),
    ]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let runs = try #require(json["runs"] as? [[String: Any]])
    try #require(runs.count == prompts.count)
    for (index, theirs) in runs.enumerated() {
      #expect(
        theirs["ids"] as? [Int] == prompts[index].map(Int.init),
        "llama.cpp tokenizes the chat prompt \(texts[index].debugDescription)")
      let theirReply = try #require(theirs["reply"] as? [Int]).map(Int32.init)
      DemoOutput.expectSameGreedy(
        theirReply, replies[index], prompt: prompts[index], model: model, peer: "llama.cpp")
    }
  }

  @Test(.requires(.tool("chromium", package: "chromium")))
  func reportRendersInAHeadlessBrowserWithItsPlots() throws {
    try Requirement.tool("chromium", package: "chromium").check()
    let browser = try #require(executableOnPath("chromium"))
    let run = try DemoOutput.finished()
    let shot = run.out + "/report.png"
    var log = ""
    let output = runProcess(
      browser,
      [
        "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--window-size=1000,3000", "--screenshot=\(shot)", "--enable-logging=stderr", "--v=0",
        "file://" + run.out + "/report.html",
      ], errorOutput: &log)
    try #require(output != nil, "\(browser) failed: \(log.suffix(3000))")
    // Script errors and failed loads reach the log as console messages; the report has none.
    let console = log.split(separator: "\n").filter { $0.contains(":CONSOLE") }
    #expect(console.isEmpty, "console messages: \(console)")
    let image = try PNGImage(path: shot)
    #expect(image.width == 1000 && image.height == 3000)
    // The loss curves are drawn in the plot palette's blue, orange and green.
    for colour in ["#1f77b4", "#ff7f0e", "#2ca02c"] {
      #expect(image.count(near: colour) > 300, "pixels of the curve colour \(colour) in \(shot)")
    }
    let white = image.count(near: "#ffffff", tolerance: 8)
    #expect(white < image.width * image.height * 97 / 100, "the page is not blank")
  }
}
