import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import PipelineTestSupport
import TestSupport
import Testing

/// Replies of a GGUF file as `minillm chat --temperature 0` gives them (`ChatSession`: the
/// file's chat template with its default system prompt, its byte-level BPE vocabulary, llama.cpp's
/// arithmetic), against llama-cpp-python's `create_chat_completion` at temperature 0 on the same
/// file and messages (one `Llama`, which reuses the cached system prompt from one message to
/// the next).
@Suite("GGUF chat against llama.cpp")
struct GGUFChatParityTests {
  static let script = """
    import json, sys
    import llama_cpp
    path, request = sys.argv[1], json.loads(sys.argv[2])
    llm = llama_cpp.Llama(model_path=path, n_ctx=request["n_ctx"], n_threads=2, verbose=False)
    replies = []
    for user in request["users"]:
        out = llm.create_chat_completion(messages=[{"role": "user", "content": user}],
                                         temperature=0, max_tokens=request["max_tokens"])
        prompt = out["usage"]["prompt_tokens"]
        replies.append({"evaluated": [int(t) for t in llm._input_ids[prompt:]],
                        "text": out["choices"][0]["message"]["content"],
                        "finish": out["choices"][0]["finish_reason"]})
    print(json.dumps(replies))
    """

  @Test(
    .requires(.python("llama_cpp", "tokenizers")),
    arguments: [GGMLType.q8_0, .q4_0])
  func greedyRepliesEqualLlamaCpps(type: GGMLType) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp", "tokenizers"])
    let fixture = try GGUFByteLevelExportTests.fixture("qwen2", python: python)
    let file = try temporaryDirectory("gguf-chat-parity") + "/model-\(type.name).gguf"
    try ModelDirectory(path: fixture.path).exportGGUF(
      to: file, options: GGUFExportOptions(type: type))
    // llama.cpp ends generation at Qwen2's `<|endoftext|>` as at its `<|im_end|>` (EOS).
    let tokenizer = try ByteLevelBPETokenizer(contentsOf: fixture.path + "/tokenizer.json")
    let stops = try GGUFReader(path: file).endOfGenerationTokenIDs()
    #expect(
      stops == [tokenizer.id(for: "<|endoftext|>")!, tokenizer.id(for: "<|im_end|>")!].sorted())
    #expect(try ModelDirectory(path: file).loadGenerationConfig().eosTokenIDs == stops)
    // The template's default system prompt is kept for the file and for the Hugging Face
    // directory it came from (as `transformers`' `apply_chat_template` inserts it).
    #expect(
      ModelDirectory(path: file).chatTemplateDefaultSystemPrompt() == "You are a helpful assistant."
    )
    #expect(
      try ChatSession(directory: fixture.path).options.systemPrompt
        == "You are a helpful assistant.")
    let users = ["hello world", "床前明月光，疑是地上霜。", "<tool_call> func add(a: Int)"]
    let maxTokens = 16
    let request: [String: Any] = [
      "n_ctx": fixture.config.maxPositions, "users": users, "max_tokens": maxTokens,
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", Self.script, file, requestText]).get()
    let theirs = try #require(try JSONSerialization.jsonObject(with: output) as? [[String: Any]])
    try #require(theirs.count == users.count)

    var replies: [String] = []
    for (index, user) in users.enumerated() {
      // As `minillm chat --temperature 0 --max-new-tokens N` opens the file: llama.cpp's
      // default sampling (no repetition penalty), made greedy.
      let session = try ChatSession(directory: file)
      #expect(session.options.sampling.repetitionPenalty == 1)
      session.options.sampling.greedy = true
      session.options.maxNewTokens = maxTokens
      let reply = try session.respond(to: user)
      replies.append(reply)
      let turn = try #require(session.lastTurn)
      // The template's own system prompt heads the prompt, as the Jinja template renders it.
      let system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
      let head = try session.renderer.tokenizer.decode(turn.prompt.map(Int.init))
      #expect(head.hasPrefix(system), "\(head.debugDescription)")
      // Their `Llama` has evaluated every generated token but the last: the same ids as ours.
      // (llama-cpp-python goes on past `max_tokens` while the text ends in an unfinished UTF-8
      // character, as a random model's byte tokens leave it.)
      let evaluated = try #require(theirs[index]["evaluated"] as? [Int])
      let ours = turn.replyTokens.map(Int.init)
      #expect(
        evaluated.count >= ours.count - 1
          && Array(evaluated.prefix(ours.count - 1)) == Array(ours.dropLast()),
        "\(user): \(ours) vs \(evaluated) + one")
      guard evaluated.count == ours.count - 1 else { continue }
      #expect(
        (turn.finishReason == .stopToken ? "stop" : "length")
          == theirs[index]["finish"] as? String, "\(user)")
      // The same text where it is whole characters (llama-cpp-python drops the bytes of an
      // unfinished UTF-8 character where we show U+FFFD).
      if !reply.contains("\u{FFFD}") {
        #expect(reply == theirs[index]["text"] as? String, "\(user): \(reply.debugDescription)")
      }
    }
    // `minillm chat` itself, each message on its own (`--history 0`), prints the same replies.
    guard let minillm = builtExecutable(named: "minillm") else { return }
    let result = try run(
      minillm,
      [
        "chat", "--model", file, "--temperature", "0", "--max-new-tokens", String(maxTokens),
        "--history", "0",
      ], input: users.joined(separator: "\n") + "\n")
    #expect(result.status == 0, "\(result.error)")
    #expect(
      result.output == replies.map { $0 + "\n" }.joined(),
      "\(result.output.debugDescription) vs \(replies.map { $0 + "\n" }.joined().debugDescription)")
  }
}
