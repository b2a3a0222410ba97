import Foundation

/// The before/after table: the same prompts answered greedily by each model, and each model's
/// loss on the held-out corpus.
struct DemoComparison {
  struct Prompt {
    var kind: String
    var prompt: String
    /// The reference answer, placeholders filled.
    var reference: String
    /// Whether the SFT data holds this question.
    var trained: Bool
  }

  var prompts: [Prompt] = []
  /// Model label → one answer per prompt (nil: the model was not asked).
  var answers: [String: [String]] = [:]
  /// Model label → mean next-token loss on the held-out shards.
  var heldOutLoss: [String: Double] = [:]
  /// Model label → tokens the loss was measured on.
  var heldOutTokens: [String: Int] = [:]
}

extension DemoPipeline {
  /// The prompt of a base (not chat-tuned) model: the ChatML rendering a chat model sees, so
  /// both are asked the same thing.
  static func chatMLPrompt(_ message: String) -> String {
    "<|im_start|>user\n\(message)<|im_end|>\n<|im_start|>assistant\n"
  }

  func evaluationPrompts() throws -> [DemoComparison.Prompt] {
    let data = try Data(
      contentsOf: URL(fileURLWithPath: layout.path("sft-data", "eval_prompts.json")))
    guard let entries = try JSONSerialization.jsonObject(with: data) as? [[String: String]] else {
      throw DemoError("demo: \(layout.path("sft-data", "eval_prompts.json")) is not a list")
    }
    return entries.map { entry in
      let reference = (entry["reference"] ?? "")
        .replacingOccurrences(of: "{{name}}", with: settings.name)
        .replacingOccurrences(of: "{{author}}", with: settings.author)
      return DemoComparison.Prompt(
        kind: entry["kind"] ?? "", prompt: entry["prompt"] ?? "", reference: reference,
        trained: entry["trained"] != "no")
    }
  }

  /// Whether a model directory has a chat template (then it answers through `generate --chat`).
  func isChatModel(_ run: String) -> Bool {
    // A pretrained model's tokenizer_config.json has no chat_template.
    let path = (layout.model(run) as NSString).appendingPathComponent("tokenizer_config.json")
    guard let data = FileManager.default.contents(atPath: path),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return false }
    return object["chat_template"] is String
  }

  mutating func compare() throws -> DemoComparison {
    var comparison = DemoComparison()
    comparison.prompts = try evaluationPrompts()
    let prompts = comparison.prompts
    let models = self.models
    let record = try runner.stage(
      "13-compare", "Compare: held-out loss and greedy answers of every model", produces: []
    ) {
      var commands: [[String]] = []
      for model in models {
        commands.append([
          "eval", "--model", layout.model(model.run), "--data", layout.heldOutShards,
          "--max-windows", "64",
        ])
      }
      for model in models where model.run != "init" {
        for prompt in prompts {
          if isChatModel(model.run) {
            commands.append([
              "generate", "--model", layout.model(model.run), "--chat", "--prompt", prompt.prompt,
              "--greedy", "--max-new-tokens", "64", "--format", "json",
            ])
          } else {
            commands.append([
              "generate", "--model", layout.model(model.run), "--prompt",
              Self.chatMLPrompt(prompt.prompt), "--greedy", "--max-new-tokens", "48",
            ])
          }
        }
      }
      return commands
    }
    for command in record.commands {
      guard let model = command.value(after: "--model"),
        let label = models.first(where: { layout.model($0.run) == model })?.label
      else { continue }
      if command.arguments.first == "eval", let figures = command.jsonFigures {
        comparison.heldOutLoss[label] = figures["loss"] as? Double
        comparison.heldOutTokens[label] = figures["tokens"] as? Int
      } else if command.arguments.first == "generate" {
        let answer: String
        if command.arguments.contains("--chat") {
          answer = command.jsonFigures?["text"] as? String ?? command.output
        } else {
          answer = Self.firstTurn(command.output)
        }
        comparison.answers[label, default: []].append(answer)
      }
    }
    printTable(comparison)
    return comparison
  }

  /// A base model's continuation up to where the assistant's turn would end.
  static func firstTurn(_ text: String) -> String {
    var answer = Substring(text)
    for marker in ["<|im_end|>", "<|im_start|>"] {
      if let range = answer.range(of: marker) { answer = answer[..<range.lowerBound] }
    }
    return answer.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func printTable(_ comparison: DemoComparison) {
    say("\nHeld-out loss (nats/token, \(layout.heldOutShards)):")
    for model in models {
      guard let loss = comparison.heldOutLoss[model.label] else { continue }
      say(
        "  \(model.label.padding(toLength: 11, withPad: " ", startingAt: 0)) \(String(format: "%.3f", loss))  (perplexity \(String(format: "%.1f", exp(loss))))"
      )
    }
    say("\nGreedy answers:")
    for (index, prompt) in comparison.prompts.enumerated() {
      let unseen = prompt.trained ? "" : "  [not in the SFT data]"
      let reference = prompt.reference.replacingOccurrences(of: "\n", with: " / ")
      say("  Q: \(prompt.prompt)\(unseen)    (reference: \(reference))")
      for model in models where model.run != "init" {
        guard let answers = comparison.answers[model.label], index < answers.count else { continue }
        let answer = answers[index].replacingOccurrences(of: "\n", with: " / ")
        say("    \(model.label): \(answer.prefix(80))")
      }
    }
  }
}

extension DemoCommandRecord {
  /// The argument after `flag`.
  func value(after flag: String) -> String? {
    guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else {
      return nil
    }
    return arguments[index + 1]
  }
}
