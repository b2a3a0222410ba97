import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Chat templates as published with models, rendered by `JinjaTemplate` and by `transformers`'
/// own compiled template (what `apply_chat_template` renders with): the texts must be equal.
@Suite("JinjaTemplate against transformers")
struct JinjaTemplatePythonTests {
  static let templates: [String: String] = [
    "chatml":
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "qwen2":
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "llama3":
      "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
    "zephyr": """
    {% for message in messages %}
    {% if message['role'] == 'user' %}
    {{ '<|user|>
    ' + message['content'] + eos_token }}
    {% elif message['role'] == 'system' %}
    {{ '<|system|>
    ' + message['content'] + eos_token }}
    {% elif message['role'] == 'assistant' %}
    {{ '<|assistant|>
    '  + message['content'] + eos_token }}
    {% endif %}
    {% if loop.last and add_generation_prompt %}
    {{ '<|assistant|>' }}
    {% endif %}
    {% endfor %}
    """,
    "smollm": """
    {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
    ' + message['content'] + '<|im_end|>' + '
    '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
    ' }}{% endif %}
    """,
    // Llama 3.1/3.2's system block: today's date from `strftime_now` when the caller has none.
    "llama3.1-date": #"""
    {{- bos_token }}
    {%- if not date_string is defined %}
        {%- if strftime_now is defined %}
            {%- set date_string = strftime_now("%d %b %Y") %}
        {%- else %}
            {%- set date_string = "26 Jul 2024" %}
        {%- endif %}
    {%- endif %}
    {%- if messages[0]['role'] == 'system' %}
        {%- set system_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {%- set system_message = "" %}
    {%- endif %}
    {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
    {{- "Cutting Knowledge Date: December 2023\n" }}
    {{- "Today Date: " + date_string + "\n\n" }}
    {{- system_message }}
    {{- "<|eot_id|>" }}
    {%- for message in messages %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- endfor %}
    {%- if add_generation_prompt %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
    {%- endif %}
    """#,
    "qwen2.5-tools": #"""
    {%- if tools %}
        {{- '<|im_start|>system\n' }}
        {%- if messages[0]['role'] == 'system' %}
            {{- messages[0]['content'] }}
        {%- else %}
            {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
        {%- endif %}
        {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
        {%- for tool in tools %}
            {{- "\n" }}
            {{- tool | tojson }}
        {%- endfor %}
        {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
    {%- else %}
        {%- if messages[0]['role'] == 'system' %}
            {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
        {%- else %}
            {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
    {%- for message in messages %}
        {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
            {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
        {%- elif message.role == "assistant" %}
            {{- '<|im_start|>' + message.role }}
            {%- if message.content %}
                {{- '\n' + message.content }}
            {%- endif %}
            {%- for tool_call in message.tool_calls %}
                {%- if tool_call.function is defined %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '\n<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {{- tool_call.arguments | tojson }}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
            {{- '<|im_end|>\n' }}
        {%- elif message.role == "tool" %}
            {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
                {{- '<|im_start|>user' }}
            {%- endif %}
            {{- '\n<tool_response>\n' }}
            {{- message.content }}
            {{- '\n</tool_response>' }}
            {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
                {{- '<|im_end|>\n' }}
            {%- endif %}
        {%- endif %}
    {%- endfor %}
    {%- if add_generation_prompt %}
        {{- '<|im_start|>assistant\n' }}
    {%- endif %}
    """#,
  ]

  /// Conversations: with and without a system prompt, multi-turn, text that needs trimming,
  /// non-ASCII, and (for the tools template) a tool call and its answer.
  static let conversations: [[JinjaValue]] = [
    [.message(role: "user", content: "你好！")],
    [
      .message(role: "system", content: "Be brief."), .message(role: "user", content: "  2+2?  \n"),
      .message(role: "assistant", content: "4 🙂"),
      .message(role: "user", content: "and 'x' \"y\"?"),
    ],
    [
      .message(role: "user", content: "weather in Paris?"),
      .object([
        ("role", .string("assistant")), ("content", .string("")),
        (
          "tool_calls",
          .array([
            .object([
              ("type", .string("function")),
              (
                "function",
                .object([
                  ("name", .string("get_weather")),
                  ("arguments", .object([("city", .string("Paris")), ("days", .int(2))])),
                ])
              ),
            ])
          ])
        ),
      ]),
      .message(role: "tool", content: "{\"temp\": 21}"),
      .message(role: "tool", content: "sunny"),
    ],
  ]

  static let tools: JinjaValue = .array([
    .object([
      ("type", .string("function")),
      (
        "function",
        .object([
          ("name", .string("get_weather")), ("description", .string("Weather, «now».")),
          (
            "parameters",
            .object([
              ("type", .string("object")),
              ("properties", .object([("city", .object([("type", .string("string"))]))])),
              ("required", .array([.string("city")])),
            ])
          ),
        ])
      ),
    ])
  ])

  static let script = #"""
    import json, sys
    from transformers.utils.chat_template_utils import _compile_jinja_template
    cases = json.load(open(sys.argv[1], encoding="utf-8"))
    out = []
    for case in cases:
        template = _compile_jinja_template(case["template"])
        kwargs = {"bos_token": "<s>", "eos_token": "</s>"}
        if case["tools"] is not None:
            kwargs["tools"] = case["tools"]
        try:
            out.append(template.render(messages=case["messages"],
                add_generation_prompt=case["generation"], **kwargs))
        except Exception as error:
            out.append({"error": str(error)})
    print(json.dumps(out, ensure_ascii=False))
    """#

  @Test("renders as apply_chat_template", .requires(.python("transformers")))
  func parity() throws {
    let python = try PythonRunner.requirePeers(importing: ["transformers"])
    let directory = try temporaryDirectory("jinja")
    var cases: [String] = []
    var ours: [String] = []
    var labels: [String] = []
    for name in Self.templates.keys.sorted() {
      let source = Self.templates[name]!
      let template = try JinjaTemplate(source)
      for (index, messages) in Self.conversations.enumerated() {
        // Only the tools template knows tool calls.
        if index == 2 && name != "qwen2.5-tools" { continue }
        for generation in [false, true] {
          for tools in name == "qwen2.5-tools" ? [nil, Self.tools] : [nil] {
            var variables: [String: JinjaValue] = [:]
            if let tools { variables["tools"] = tools }
            ours.append(
              try template.renderChat(
                messages: messages, addGenerationPrompt: generation,
                specialTokens: ["bos_token": "<s>", "eos_token": "</s>"], variables: variables))
            labels.append(
              "\(name) conversation \(index) generation \(generation) tools \(tools != nil)")
            cases.append(
              "{\"template\": \(JinjaValue.string(source).json(indent: nil)), \"messages\": \(JinjaValue.array(messages).json(indent: nil)), \"generation\": \(generation), \"tools\": \((tools ?? .none).json(indent: nil))}"
            )
          }
        }
      }
    }
    let casesPath = try writeFile(
      "[" + cases.joined(separator: ",") + "]", named: "cases.json", in: directory)
    let scriptPath = try writeFile(Self.script, named: "render.py", in: directory)
    let output = try python.run([scriptPath, casesPath]).get()
    let theirs = try #require(try JSONSerialization.jsonObject(with: output) as? [Any])
    #expect(theirs.count == ours.count)
    for (index, text) in ours.enumerated() where index < theirs.count {
      #expect(text == theirs[index] as? String, "\(labels[index])")
    }
  }

  @Test("raise_exception and parse errors are thrown")
  func errors() throws {
    let raising = try JinjaTemplate("{{ raise_exception('no system role') }}")
    #expect(throws: JinjaError.self) { try raising.render([:]) }
    #expect(throws: JinjaError.self) { try JinjaTemplate("{% for x in y %}") }
    #expect(throws: JinjaError.self) { try JinjaTemplate("{{ 'open") }
    // Hostile templates stop with an error instead of exhausting time, memory or the stack.
    let deep = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
    #expect(throws: JinjaError.self) { try JinjaTemplate("{{ \(deep) }}") }
    let long = try JinjaTemplate(
      "{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}")
    #expect(throws: JinjaError.self) { try long.render([:]) }
    let doubling = try JinjaTemplate(
      "{% set ns = namespace(x='ab') %}{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x }}"
    )
    #expect(throws: JinjaError.self) { try doubling.render([:]) }
  }
}
