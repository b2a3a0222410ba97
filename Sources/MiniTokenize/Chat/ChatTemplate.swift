import Foundation

/// How a conversation is laid out as text and tokens: the prefix and suffix around each role's
/// message, and the end-of-turn token that closes every assistant reply.
///
/// A message renders as `prefix + content + suffix`; an assistant message is followed by `eos`
/// and then `afterEOS`. The assistant's content, its suffix and `eos` are what the model learns
/// to produce (loss mask 1); everything else is context (loss mask 0). Strings in
/// `specialTokens` (and `eos`) must be single pieces of the tokenizer and are never split.
///
/// Use the built-in `chatml` or `humanRobot`, or decode a custom spec from JSON with
/// `ChatTemplate(contentsOf:)`:
/// ```json
/// {"name": "zephyr",
///  "system": {"prefix": "<|system|>\n", "suffix": "</s>\n"},
///  "user": {"prefix": "<|user|>\n", "suffix": "</s>\n"},
///  "assistant": {"prefix": "<|assistant|>\n", "suffix": ""},
///  "eos": "</s>", "after_eos": "\n",
///  "special_tokens": ["<|system|>", "<|user|>", "<|assistant|>"]}
/// ```
/// Bind a template to a tokenizer with `ChatRenderer` to get ids and loss masks.
public struct ChatTemplate: Sendable, Equatable {
  /// The text around one role's messages.
  public struct RoleFormat: Sendable, Equatable, Codable {
    /// Text before the content.
    public var prefix: String
    /// Text after the content (for the assistant: before `eos`, and supervised).
    public var suffix: String

    /// Creates a role format.
    public init(prefix: String, suffix: String = "") {
      self.prefix = prefix
      self.suffix = suffix
    }
  }

  /// The template's name (`chatml`, `human-robot`, or the spec's own).
  public var name: String
  /// The system prompt's format; `nil` when the template has no system role.
  public var system: RoleFormat?
  /// The user's format.
  public var user: RoleFormat
  /// The assistant's format.
  public var assistant: RoleFormat
  /// A tool answer's format; `nil` when the template has no tool role.
  public var tool: RoleFormat?
  /// The token that ends every assistant reply (supervised; generation stops at it).
  public var eos: String
  /// Unsupervised text after `eos` (ChatML's newline between turns).
  public var afterEOS: String
  /// Strings that must be single pieces of the tokenizer and are never split.
  public var specialTokens: [String]
  /// Start the conversation with the tokenizer's BOS token.
  public var addsBOS: Bool

  /// Creates a template.
  public init(
    name: String, system: RoleFormat?, user: RoleFormat, assistant: RoleFormat,
    tool: RoleFormat? = nil, eos: String, afterEOS: String = "", specialTokens: [String] = [],
    addsBOS: Bool = false
  ) {
    self.name = name
    self.system = system
    self.user = user
    self.assistant = assistant
    self.tool = tool
    self.eos = eos
    self.afterEOS = afterEOS
    self.specialTokens = specialTokens
    self.addsBOS = addsBOS
  }

  /// The format of `role`'s messages, or `nil` when the template has none.
  public func format(of role: Role) -> RoleFormat? {
    switch role {
    case .system: system
    case .user: user
    case .assistant: assistant
    case .tool: tool
    }
  }

  /// How `other` renders conversations differently from this template, or `nil` when both
  /// render every conversation of system, user and assistant messages as the same text,
  /// whatever their names and however they were read (a built-in, a Jinja template MiniLLM
  /// wrote, or one probed from a GGUF file, which may put the user's suffix into the
  /// assistant's prefix).
  public func layoutDifference(from other: ChatTemplate) -> String? {
    if addsBOS != other.addsBOS { return "the BOS token at the start" }
    if eos != other.eos { return "the end-of-turn token (\(eos) against \(other.eos))" }
    let (system, user, reply) = ("\u{E000}S", "\u{E001}U", "\u{E002}A")
    let conversations: [(String, [(Role, String)])] = [
      ("a user message and a reply", [(.user, user), (.assistant, reply)]),
      (
        "a system prompt and two exchanges",
        [(.system, system), (.user, user), (.assistant, reply), (.user, user), (.assistant, reply)]
      ),
    ]
    for (name, messages) in conversations {
      let texts = [self, other].map { template in
        messages.map { role, content -> String in
          guard let format = template.format(of: role) else { return "\u{E00F}" }
          return format.prefix + content + format.suffix
            + (role == .assistant ? template.eos + template.afterEOS : "")
        }.joined()
      }
      if texts[0] != texts[1] { return "the rendering of \(name)" }
    }
    return nil
  }

  /// Every string the renderer keeps whole: `specialTokens` and `eos`, longest first (so a
  /// token that contains another is matched first).
  var wholeTokens: [String] {
    var tokens = specialTokens
    if !tokens.contains(eos) { tokens.append(eos) }
    return tokens.sorted { $0.utf8.count > $1.utf8.count }
  }
}

extension ChatTemplate {
  /// ChatML: `<|im_start|>role\n…<|im_end|>\n`, as Qwen and minimind use it. The tokenizer needs
  /// `<|im_start|>` and `<|im_end|>` as pieces (`minillm tokenizer train --special …`).
  public static let chatml = ChatTemplate(
    name: "chatml",
    system: RoleFormat(prefix: "<|im_start|>system\n", suffix: "<|im_end|>\n"),
    user: RoleFormat(prefix: "<|im_start|>user\n", suffix: "<|im_end|>\n"),
    assistant: RoleFormat(prefix: "<|im_start|>assistant\n"),
    tool: RoleFormat(prefix: "<|im_start|>tool\n", suffix: "<|im_end|>\n"),
    eos: "<|im_end|>", afterEOS: "\n", specialTokens: ["<|im_start|>", "<|im_end|>"])

  /// build_MiniLLM_from_scratch's `<human>{user}<robot>{assistant}</s>`, with no space or
  /// newline between the parts.
  ///
  /// build_MiniLLM_from_scratch puts `</s>` only in the labels; here it is in the sequence too,
  /// so a multi-turn history at chat time holds exactly the tokens the model was trained on. It
  /// has no system prompt: one renders as its text and a newline before the first `<human>`.
  public static let humanRobot = ChatTemplate(
    name: "human-robot",
    system: RoleFormat(prefix: "", suffix: "\n"),
    user: RoleFormat(prefix: "<human>"),
    assistant: RoleFormat(prefix: "<robot>"),
    eos: "</s>")

  /// The built-in templates, by name.
  public static let builtIn: [String: ChatTemplate] = [
    chatml.name: chatml, humanRobot.name: humanRobot,
  ]
}
