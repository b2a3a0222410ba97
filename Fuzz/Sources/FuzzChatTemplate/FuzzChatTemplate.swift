import Foundation
import FuzzSupport
import MiniTokenize

/// Chat templates from outside: a `chat_template` Jinja string (the recogniser and
/// `JinjaTemplate`), a template
/// spec JSON and `tokenizer_config.json`. A recognised Jinja template must write exactly the
/// Jinja it was read from.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatTemplate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = fuzzBytes(data, size)
  let text = String(decoding: bytes, as: UTF8.self)
  if let template = ChatTemplate(jinja: text, eosToken: "</s>", specialTokens: ["<s>", "</s>"]) {
    precondition(template.jinja == text, "chat template: recognised, but writes other Jinja")
  }
  // Any Jinja text: parsed once, rendered over a small chat (errors are fine, crashes are not).
  if let jinja = try? JinjaTemplate(text) {
    _ = try? jinja.renderChat(
      messages: [
        .message(role: "system", content: "s"), .message(role: "user", content: "你好"),
        .message(role: "assistant", content: " ok "),
      ], addGenerationPrompt: true, specialTokens: ["bos_token": "<s>", "eos_token": "</s>"])
  }
  let json = Data(bytes)
  _ = try? JSONDecoder().decode(ChatTemplate.self, from: json)
  _ = try? JSONDecoder().decode(TokenizerConfig.self, from: json)
  let path = FuzzScratch.write(bytes, name: "template.json")
  _ = try? ChatTemplate(contentsOf: path)
  return 0
}
