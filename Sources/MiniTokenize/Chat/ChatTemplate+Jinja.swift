extension ChatTemplate {
  /// The template as a Jinja `chat_template` for `tokenizer_config.json`, rendering exactly the
  /// text of `ChatRenderer.text(of:addGenerationPrompt:)`: Python's
  /// `tokenizer.apply_chat_template(messages, tokenize=False)` gives the same string.
  ///
  /// A leading `system` message is the system prompt; `add_generation_prompt` appends the
  /// assistant prefix. Roles the template lacks raise an exception, as they throw here. The
  /// template is one line with whitespace control on every tag, so it renders the same with
  /// or without `trim_blocks`/`lstrip_blocks`.
  public var jinja: String {
    var parts: [String] = []
    if addsBOS { parts.append("{{ bos_token }}") }
    parts.append(
      "{%- if messages and messages[0]['role'] == 'system' -%}"
        + "{%- set system_message = messages[0]['content'] -%}"
        + "{%- set loop_messages = messages[1:] -%}"
        + "{%- else -%}{%- set system_message = none -%}{%- set loop_messages = messages -%}"
        + "{%- endif -%}")
    parts.append("{%- if system_message is not none -%}")
    if let system {
      parts.append(
        "{{ \(Self.literal(system.prefix)) + system_message + \(Self.literal(system.suffix)) }}")
    } else {
      parts.append(raise(.system))
    }
    parts.append("{%- endif -%}")
    parts.append("{%- for message in loop_messages -%}")
    parts.append("{%- if message['role'] == 'user' -%}" + wrap(user))
    parts.append(
      "{%- elif message['role'] == 'assistant' -%}"
        + "{{ \(Self.literal(assistant.prefix)) + message['content'] + "
        + "\(Self.literal(assistant.suffix + eos + afterEOS)) }}")
    if let tool {
      parts.append("{%- elif message['role'] == 'tool' -%}" + wrap(tool))
    }
    parts.append(
      "{%- else -%}{{ raise_exception('template \(Self.escaped(name)) has no format for ' "
        + "+ message['role'] + ' messages') }}")
    parts.append("{%- endif -%}{%- endfor -%}")
    parts.append(
      "{%- if add_generation_prompt -%}{{ \(Self.literal(assistant.prefix)) }}{%- endif -%}")
    return parts.joined()
  }

  private func wrap(_ format: RoleFormat) -> String {
    "{{ \(Self.literal(format.prefix)) + message['content'] + \(Self.literal(format.suffix)) }}"
  }

  private func raise(_ role: Role) -> String {
    "{{ raise_exception('template \(Self.escaped(name)) has no format for "
      + "\(role.rawValue) messages') }}"
  }

  /// A Jinja string literal for `text`. Jinja decodes literals with Python's `unicode-escape`
  /// after escaping non-ASCII characters, so non-ASCII text passes through unchanged.
  static func literal(_ text: String) -> String { "'" + escaped(text) + "'" }

  static func escaped(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\\": result += "\\\\"
      case "'": result += "\\'"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20 || scalar.value == 0x7F:
        let hex = String(scalar.value, radix: 16)
        result += "\\x" + (hex.count < 2 ? "0" : "") + hex
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result
  }
}
