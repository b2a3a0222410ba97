import Foundation
import MiniLlama
import MiniTokenize
import PipelineTestSupport
import TestSupport
import Testing

@Suite("Chat model directory")
struct ChatModelDirectoryTests {
  static func jsonObject(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  @Test(arguments: ["chatml", "human-robot"])
  func installedTokenizerAndTemplateLoadBack(templateName: String) throws {
    let tokenizer = try tinyChatTokenizer()
    let template = try #require(ChatTemplate.builtIn[templateName])
    let path = try makeChatModelDirectory(tokenizer: tokenizer, template: template)
    let directory = ModelDirectory(path: path)
    #expect(try directory.loadTokenizer().modelBytes == tokenizer.modelBytes)
    #expect(try directory.loadChatTemplate() == template)
    let config = try Self.jsonObject(directory.file("tokenizer_config.json"))
    #expect(config["chat_template"] as? String == template.jinja)

    let renderer = try ChatRenderer(template: template, tokenizer: tokenizer)
    let generation = try directory.loadGenerationConfig()
    #expect(generation.sampling == .seedDefaults)
    #expect(generation.eosTokenIDs.contains(Int(renderer.endOfTurnID)))
    #expect(Set(renderer.stopTokenIDs).isSubset(of: Set(generation.eosTokenIDs)))
    #expect(generation.bosTokenID == tokenizer.specialIDs.bos)
    let raw = try Self.jsonObject(directory.file("generation_config.json"))
    let text = try String(contentsOfFile: directory.file("generation_config.json"), encoding: .utf8)
    #expect(text.contains(#""do_sample" : true"#), "\(text)")
    #expect(raw["top_k"] as? Int == 40)
    #expect((raw["top_p"] as? Double).map { abs($0 - 0.8) < 1e-6 } == true)
    #expect((raw["repetition_penalty"] as? Double).map { abs($0 - 1.1) < 1e-6 } == true)

    // The session stops where the template and generation_config.json say.
    let session = try ChatSession(directory: path)
    #expect(session.stopTokenIDs.contains(renderer.endOfTurnID))
    #expect(session.options.sampling == .seedDefaults)
    #expect(session.renderer.template == template)
  }

  @Test func customTemplatesRoundTripThroughTokenizerConfig() throws {
    let tokenizer = try tinyChatTokenizer()
    let template = ChatTemplate(
      name: "odd 'one'\\",
      system: nil,
      user: .init(prefix: "<|im_start|>Q: «", suffix: "»\t\u{1}\n"),
      assistant: .init(prefix: "<|im_start|>A: ", suffix: " 'end' \\n"),
      tool: .init(prefix: "<|im_start|>tool\r\n", suffix: "\n"),
      eos: "<|im_end|>", afterEOS: "\n\n", specialTokens: ["<|im_start|>"], addsBOS: true)
    let path = try makeChatModelDirectory(tokenizer: tokenizer, template: template)
    let loaded = try ModelDirectory(path: path).loadChatTemplate()
    #expect(loaded == template)
    let conversation = Conversation(messages: [
      Message(role: .user, content: "你好"), Message(role: .assistant, content: "hello"),
      Message(role: .tool, content: "42"), Message(role: .user, content: "再见"),
    ])
    let a = try ChatRenderer(template: template, tokenizer: tokenizer).render(conversation)
    let b = try ChatRenderer(template: loaded, tokenizer: tokenizer).render(conversation)
    #expect(a == b)
  }

  @Test func foreignJinjaIsNotMistakenForATemplate() {
    let jinja = ChatTemplate.chatml.jinja
    #expect(ChatTemplate(jinja: jinja + " ", eosToken: "<|im_end|>", specialTokens: []) == nil)
    #expect(
      ChatTemplate(
        jinja: "{% for m in messages %}{{ m['content'] }}{% endfor %}", eosToken: "</s>",
        specialTokens: []) == nil)
    // The end-of-turn token must be where the assistant's text ends.
    #expect(ChatTemplate(jinja: jinja, eosToken: "</s>", specialTokens: []) == nil)
  }

  @Test func hasChatTemplateTellsAFolderWithATemplateKeyFromOneWithout() throws {
    let path = try makeChatModelDirectory(tokenizer: try tinyChatTokenizer())
    let directory = ModelDirectory(path: path)
    #expect(directory.hasChatTemplate)
    let configPath = directory.file("tokenizer_config.json")
    var config = try Self.jsonObject(configPath)
    config["chat_template"] = "{{ messages }}"
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
    #expect(directory.hasChatTemplate, "a template MiniLLM cannot read still counts")
    #expect(throws: ModelDirectoryError.self) { try directory.loadChatTemplate() }
    config["chat_template"] = nil
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
    #expect(!directory.hasChatTemplate)
    try FileManager.default.removeItem(atPath: configPath)
    #expect(!directory.hasChatTemplate)
  }

  @Test func generationConfigReadsWritesAndValidates() throws {
    let path = try temporaryDirectory("generation")
    let file = (path as NSString).appendingPathComponent("generation_config.json")
    let written = GenerationConfig(
      sampling: SamplingOptions(greedy: true, temperature: 0.7, topK: 5, topP: 0.5),
      eosTokenIDs: [3, 9], bosTokenID: 1, maxNewTokens: 77)
    try written.write(to: file)
    #expect(try GenerationConfig(contentsOf: file) == written)

    // Keys the file lacks keep the seed's values.
    try Data(#"{"eos_token_id": 2, "temperature": 0.5}"#.utf8).write(
      to: URL(fileURLWithPath: file))
    let partial = try GenerationConfig(contentsOf: file)
    var expected = SamplingOptions.seedDefaults
    expected.temperature = 0.5
    #expect(partial.sampling == expected)
    #expect(partial.eosTokenIDs == [2])
    // Writing keeps the keys it does not own.
    try Data(#"{"eos_token_id": 2, "transformers_version": "4.46.0"}"#.utf8).write(
      to: URL(fileURLWithPath: file))
    try GenerationConfig(eosTokenIDs: [2]).write(to: file)
    #expect(try Self.jsonObject(file)["transformers_version"] as? String == "4.46.0")

    for (json, key) in [
      (#"{"top_p": 1.5}"#, "top_p"), (#"{"temperature": 0}"#, "temperature"),
      (#"{"top_k": "many"}"#, "top_k"), (#"{"do_sample": 1}"#, "do_sample"),
      (#"{"eos_token_id": [1, -2]}"#, "eos_token_id"),
    ] {
      try Data(json.utf8).write(to: URL(fileURLWithPath: file))
      let error = #expect(throws: ModelDirectoryError.self) {
        try GenerationConfig(contentsOf: file)
      }
      let message = error.map { "\($0)" } ?? ""
      #expect(message.contains("generation_config.json") && message.contains(key), "\(message)")
    }
    #expect(
      try ModelDirectory(path: path + "-missing").loadGenerationConfig() == GenerationConfig())
  }

  @Test func replyLengthComesFromGenerationConfigWithinHalfTheContext() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 128)
    let directory = ModelDirectory(path: path)
    for (written, expected) in [(20, 20), (1000, 64)] {
      try directory.installTokenizer(tokenizer, template: .chatml, maxNewTokens: written)
      #expect(try directory.loadGenerationConfig().maxNewTokens == written)
      #expect(try ChatSession(directory: path).options.maxNewTokens == expected)
    }
  }

  @Test func missingChatFilesAreNamed() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer)
    let directory = ModelDirectory(path: path)

    try FileManager.default.removeItem(atPath: directory.file("tokenizer_config.json"))
    var message = Self.failure { try ChatSession(directory: path) }
    #expect(message.contains("tokenizer_config.json"), "\(message)")
    // An explicit template needs no tokenizer_config.json.
    #expect(
      try ChatSession(directory: path, template: .humanRobot).renderer.template == .humanRobot)

    try Data(#"{"chat_template": "{{ messages }}", "eos_token": "</s>"}"#.utf8).write(
      to: URL(fileURLWithPath: directory.file("tokenizer_config.json")))
    message = Self.failure { try ChatSession(directory: path) }
    #expect(message.contains("tokenizer_config.json") && message.contains("chat_template"))

    try FileManager.default.removeItem(atPath: directory.file("tokenizer.model"))
    message = Self.failure { try ChatSession(directory: path, template: .chatml) }
    #expect(message.contains("tokenizer.model"), "\(message)")
  }

  /// The description of the error `body` throws ("" and a recorded issue when none).
  static func failure(_ body: () throws -> Any) -> String {
    do {
      _ = try body()
      Issue.record("expected an error")
      return ""
    } catch {
      return "\(error)"
    }
  }
}
