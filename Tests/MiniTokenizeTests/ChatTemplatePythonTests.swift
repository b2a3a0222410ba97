import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Checks `tokenizer_config.json` against Hugging Face `transformers`: Python's
/// `AutoTokenizer.from_pretrained(dir).apply_chat_template(messages, tokenize=False)` must
/// render the same text as `ChatRenderer.text(of:addGenerationPrompt:)`.
@Suite("ChatTemplate against transformers")
struct ChatTemplatePythonTests {
  /// Runs a program (looked up on the PATH unless absolute); returns its status and stdout.
  /// Its stderr goes to `errors` when given, else nowhere.
  static func run(_ program: String, _ arguments: [String], errors: String? = nil) throws -> (
    Int32, Data
  ) {
    let process = Process()
    if program.hasPrefix("/") {
      process.executableURL = URL(fileURLWithPath: program)
      process.arguments = arguments
    } else {
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = [program] + arguments
    }
    let output = Pipe()
    process.standardOutput = output
    if let errors {
      _ = FileManager.default.createFile(atPath: errors, contents: nil)
      process.standardError = FileHandle(forWritingAtPath: errors)
    } else {
      process.standardError = FileHandle.nullDevice
    }
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data)
  }

  static let script = #"""
    import json, sys
    from transformers import AutoTokenizer
    cases = json.load(open(sys.argv[1], encoding="utf-8"))
    results = []
    for case in cases:
        try:
            tokenizer = AutoTokenizer.from_pretrained(case["dir"])
        except Exception:
            # transformers reads tokenizer.model through protobuf; without it the load fails
            # for reasons that are not ours.
            try:
                import google.protobuf
            except ImportError:
                print(json.dumps({"skip": "transformers needs protobuf to read tokenizer.model"}))
                sys.exit(0)
            raise
        texts = []
        for conversation in case["conversations"]:
            try:
                texts.append(tokenizer.apply_chat_template(
                    conversation["messages"], tokenize=False,
                    add_generation_prompt=conversation["generation"]))
            except Exception as error:
                texts.append({"error": str(error)})
        results.append({
            "texts": texts,
            "special": {token: tokenizer.convert_tokens_to_ids(token) for token in case["special"]},
            "eos": tokenizer.eos_token, "bos": tokenizer.bos_token,
            "class": type(tokenizer).__name__,
        })
    print(json.dumps({"results": results}, ensure_ascii=False))
    """#

  static let conversations: [(Conversation, generation: Bool)] = [
    (Conversation(messages: [Message(role: .user, content: "你好")]), true),
    (
      Conversation(messages: [
        Message(role: .user, content: "你好"), Message(role: .assistant, content: "hello 世界"),
      ]), false
    ),
    (ChatTemplateTests.conversation, false),
    (
      Conversation(
        system: "Quote ' and \" and \\ back\\slash, {{ braces }} {% raw %}",
        messages: [
          Message(role: .user, content: "line one\nline two\ttab"),
          Message(role: .assistant, content: "it's 'quoted'\n"),
          Message(role: .user, content: "表情 😀 and \u{1}"),
        ]), true
    ),
    (
      Conversation(messages: [
        Message(role: .user, content: "1+1"), Message(role: .tool, content: "2"),
        Message(role: .assistant, content: "2"),
      ]), false
    ),
  ]

  static func messages(_ conversation: Conversation) -> [[String: String]] {
    var list: [[String: String]] = []
    if let system = conversation.system { list.append(["role": "system", "content": system]) }
    for message in conversation.messages {
      list.append(["role": message.role.rawValue, "content": message.content])
    }
    return list
  }

  @Test(.requires(.python("transformers", "sentencepiece", "google.protobuf")))
  func applyChatTemplateRendersOurText() throws {
    let python = try PythonRunner.requirePeers(
      importing: ["transformers", "sentencepiece", "google.protobuf"]
    ).executable
    let directory = try temporaryDirectory()
    let imTokenizer = try trainTinyModel()
    let zephyr = ChatTemplate(
      name: "zephyr's", system: .init(prefix: "<|system|>\n", suffix: "</s>\n"),
      user: .init(prefix: "<|user|>\n", suffix: "</s>\n"),
      assistant: .init(prefix: "<|assistant|>\n", suffix: " \\ '"), eos: "</s>", afterEOS: "\n",
      specialTokens: ["<|system|>", "<|user|>", "<|assistant|>"], addsBOS: true)
    let zephyrTokenizer = try trainTinyModel(specials: ["<|system|>", "<|user|>", "<|assistant|>"])
    let pairs = [
      (ChatTemplate.chatml, imTokenizer), (.humanRobot, imTokenizer), (zephyr, zephyrTokenizer),
    ]
    let renderers = try pairs.map { try ChatRenderer(template: $0.0, tokenizer: $0.1) }
    var cases: [[String: Any]] = []
    for (index, renderer) in renderers.enumerated() {
      let folder = (directory as NSString).appendingPathComponent("case\(index)")
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      try pairs[index].1.write(to: (folder as NSString).appendingPathComponent("tokenizer.model"))
      try TokenizerConfig(renderer: renderer, modelMaxLength: 256).write(toDirectory: folder)
      cases.append([
        "dir": folder,
        "conversations": Self.conversations.map {
          ["messages": Self.messages($0.0), "generation": $0.generation] as [String: Any]
        },
        "special": renderer.template.specialTokens + [renderer.template.eos],
      ])
    }
    let casesPath = (directory as NSString).appendingPathComponent("cases.json")
    try JSONSerialization.data(withJSONObject: cases).write(to: URL(fileURLWithPath: casesPath))
    let scriptPath = try writeFile(Self.script, named: "check.py", in: directory)
    let errors = (directory as NSString).appendingPathComponent("stderr.txt")
    let (status, data) = try Self.run(python, [scriptPath, casesPath], errors: errors)
    let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
    try #require(
      status == 0, "\(python) \(scriptPath) exited with \(status): \(stderr.suffix(2000))")
    let answer = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    if let reason = answer["skip"] as? String {
      Issue.record("transformers could not run the check: \(reason)")
      return
    }
    let results = try #require(answer["results"] as? [[String: Any]])
    try #require(results.count == renderers.count)
    for (renderer, result) in zip(renderers, results) {
      let name = renderer.template.name
      #expect(result["class"] as? String != nil)
      let texts = try #require(result["texts"] as? [Any])
      for ((conversation, generation), python) in zip(Self.conversations, texts) {
        switch Result(catching: {
          try renderer.text(of: conversation, addGenerationPrompt: generation)
        }) {
        case .success(let ours):
          #expect(python as? String == ours, "template \(name): \(python) vs \(ours)")
        case .failure(let error):
          // Roles the template lacks fail in both.
          let message = (python as? [String: String])?["error"]
          #expect(
            message?.contains("has no format for tool messages") == true,
            "template \(name): Swift threw \(error), Python gave \(python)")
        }
      }
      let special = try #require(result["special"] as? [String: Int])
      for (token, id) in zip(renderer.template.specialTokens, renderer.specialTokenIDs) {
        #expect(special[token] == id, "template \(name): \(token)")
      }
      #expect(special[renderer.template.eos] == Int(renderer.endOfTurnID))
      #expect(result["eos"] as? String == renderer.template.eos)
    }
  }
}
