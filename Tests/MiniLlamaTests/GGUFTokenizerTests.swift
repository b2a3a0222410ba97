import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import TestSupport
import Testing

/// A GGUF file with its own vocabulary (`gpt2` byte-level BPE) and chat template: prompts and
/// chats encode from the file alone, as llama.cpp encodes them.
@Suite("GGUF tokenizer and chat template")
struct GGUFTokenizerTests {
  /// Qwen2's template: a default system prompt when the conversation has none.
  static let qwenTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

  /// GPT-2's byte-to-character table.
  static let byteCharacters: [String] = {
    var bytes = Array(33...126) + Array(161...172) + Array(174...255)
    var characters = bytes
    var extra = 0
    for byte in 0..<256 where !bytes.contains(byte) {
      bytes.append(byte)
      characters.append(256 + extra)
      extra += 1
    }
    var table = [String](repeating: "", count: 256)
    for (byte, character) in zip(bytes, characters) {
      table[byte] = String(Character(Unicode.Scalar(UInt32(character))!))
    }
    return table
  }()

  static let merges = ["h e", "l l", "Ġ w", "o r", "he ll", "Ġw or"]
  static let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

  /// A 2-layer llama model with random weights and the vocabulary above, as a GGUF file.
  static func file() throws -> (path: String, config: LlamaConfig) {
    let tokens =
      byteCharacters + merges.map { $0.replacingOccurrences(of: " ", with: "") } + specials
    let types =
      [Int32](repeating: 1, count: tokens.count - specials.count)
      + [Int32](repeating: 3, count: specials.count)
    let (eos, imEnd) = (tokens.count - 3, tokens.count - 1)
    let config = LlamaConfig(
      vocabSize: tokens.count, hiddenSize: 64, intermediateSize: 128, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 128, eosTokenIds: [imEnd], initializerRange: 0.25)
    let weights = Llama(config: config, seed: 5).weights
    var writer = GGUFWriter()
    writer.set("general.architecture", .string("llama"))
    for (key, value) in [
      ("block_count", 2), ("context_length", 128), ("embedding_length", 64),
      ("feed_forward_length", 128), ("attention.head_count", 4), ("attention.head_count_kv", 2),
    ] {
      writer.set("llama.\(key)", .uint32(UInt32(value)))
    }
    writer.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
    writer.set("llama.rope.freq_base", .float32(10_000))
    writer.set("tokenizer.ggml.model", .string("gpt2"))
    writer.set("tokenizer.ggml.pre", .string("qwen2"))
    writer.set("tokenizer.ggml.tokens", .strings(tokens))
    writer.set("tokenizer.ggml.token_type", .int32s(types))
    writer.set("tokenizer.ggml.merges", .strings(merges))
    writer.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(eos)))
    writer.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(imEnd)))
    writer.set("tokenizer.ggml.add_bos_token", .bool(false))
    writer.set("tokenizer.chat_template", .string(qwenTemplate))
    var tensors = [
      GGUFTensor(
        name: "token_embd.weight", type: .f32, values: weights["model.embed_tokens.weight"]!)
    ]
    for i in 0..<2 {
      let (g, h) = ("blk.\(i).", "model.layers.\(i).")
      for (gg, hf) in [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"), ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"), ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
      ] {
        tensors.append(GGUFTensor(name: g + gg, type: .f32, values: weights[h + hf]!))
      }
    }
    tensors.append(
      GGUFTensor(name: "output_norm.weight", type: .f32, values: weights["model.norm.weight"]!))
    tensors.append(
      GGUFTensor(name: "output.weight", type: .f32, values: weights["lm_head.weight"]!))
    writer.tensors = tensors
    let path = try temporaryDirectory("gguf-gpt2-vocab") + "/model.gguf"
    try writer.write(to: path)
    return (path, config)
  }

  @Test func theFileCarriesItsTokenizerAndTemplate() throws {
    let (path, _) = try Self.file()
    let directory = ModelDirectory(path: path)
    let pretrained = try directory.loadPretrainedTokenizer()
    #expect(!pretrained.addsBOS)
    #expect(pretrained.eosToken == "<|im_end|>")
    let text = "hello world <|im_start|>user\nhi"
    let ids = try pretrained.encodePrompt(text)
    #expect(ids.contains(Int32(pretrained.tokenizer.id(for: "<|im_start|>")!)))
    #expect(ids.contains(Int32(pretrained.tokenizer.id(for: "Ġwor")!)))
    #expect(try pretrained.tokenizer.decode(ids.map(Int.init)) == text)

    let (template, system) = try directory.ggufChatTemplate()
    #expect(system == "You are a helpful assistant.")
    #expect(template.eos == "<|im_end|>")
    #expect(template.user.prefix == "<|im_start|>user\n")
    #expect(template.assistant.prefix == "<|im_end|>\n<|im_start|>assistant\n")
    #expect(template.afterEOS == "\n")
    // The template renders a conversation to the Jinja template's own text.
    let renderer = try ChatRenderer(template: template, tokenizer: pretrained.tokenizer)
    let conversation = Conversation(
      system: system,
      messages: [
        Message(role: .user, content: "hi"), Message(role: .assistant, content: "hello"),
        Message(role: .user, content: "world"),
      ])
    let jinja = try JinjaTemplate(Self.qwenTemplate).renderChat(
      messages: conversation.messages.map { .message(role: $0.role.rawValue, content: $0.content) },
      addGenerationPrompt: true)
    #expect(try renderer.text(of: conversation, addGenerationPrompt: true) == jinja)
  }

  /// llama.cpp formats the chat with the file's template (llama-cpp-python's Jinja formatter),
  /// tokenizes it with special tokens parsed, and generates greedily.
  static let script = """
    import json, sys
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    path, message, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = llama_cpp.Llama(model_path=path, n_ctx=128, n_threads=1, verbose=False, type_k=0, type_v=0)
    meta = model.metadata
    tokens = lambda key: model.detokenize([int(meta[key])], special=True).decode("utf-8")
    formatter = Jinja2ChatFormatter(template=meta["tokenizer.chat_template"],
                                    eos_token=tokens("tokenizer.ggml.eos_token_id"),
                                    bos_token=tokens("tokenizer.ggml.bos_token_id"),
                                    add_generation_prompt=True)
    prompt = formatter(messages=[{"role": "user", "content": message}]).prompt
    ids = model.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    reply = []
    for token in model.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        reply.append(int(token))
        if len(reply) == count:
            break
    print(json.dumps({"prompt": ids, "reply": reply}))
    """

  @Test(.requires(.python("llama_cpp", "jinja2")))
  func aChatPromptAndReplyMatchLlamaCpp() throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp", "jinja2"])
    let (path, _) = try Self.file()
    let session = try ChatSession(directory: path)
    session.options.maxNewTokens = 12
    session.options.sampling = .greedy
    let message = "hello world, hello"
    _ = try session.respond(to: message) { _ in }
    let turn = try #require(session.lastTurn)
    let output = try python.run(["-c", Self.script, path, message, "12"]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    #expect(json["prompt"] as? [Int] == turn.prompt.map(Int.init))
    let theirs = try #require(json["reply"] as? [Int])
    let ours = turn.replyTokens.map(Int.init)
    #expect(!ours.isEmpty)
    #expect(Array(theirs.prefix(ours.count)) == ours, "greedy reply")
  }
}
