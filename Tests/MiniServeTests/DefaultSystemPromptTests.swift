import Foundation
import MiniLlama
import MiniServe
import MiniTokenize
import PipelineTestSupport
import TestSupport
import Testing

/// A model whose chat template inserts its own system prompt when a conversation has none (as
/// Qwen2's does) is served with that prompt, which requests without a system message get, as
/// llama.cpp's server and `transformers` render the template.
@Suite("Served template's default system prompt")
struct DefaultSystemPromptTests {
  static let qwenStyleTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

  @Test func aTemplatesOwnSystemPromptIsKept() throws {
    let path = try makeChatModelDirectory(tokenizer: try tinyChatTokenizer())
    let configPath = path + "/tokenizer_config.json"
    var object = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath)))
        as? [String: Any])
    object["chat_template"] = Self.qwenStyleTemplate
    object["eos_token"] = "<|im_end|>"
    try JSONSerialization.data(withJSONObject: object).write(
      to: URL(fileURLWithPath: configPath))
    #expect(
      ModelDirectory(path: path).chatTemplateDefaultSystemPrompt() == "You are a helpful assistant."
    )
    #expect(try ServedModel(directory: path).defaultSystemPrompt == "You are a helpful assistant.")
    // A template MiniLLM wrote inserts none.
    let plain = try makeChatModelDirectory(tokenizer: try tinyChatTokenizer())
    #expect(ModelDirectory(path: plain).chatTemplateDefaultSystemPrompt() == nil)
    #expect(try ServedModel(directory: plain).defaultSystemPrompt == nil)
  }
}
