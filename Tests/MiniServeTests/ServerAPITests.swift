import Foundation
import MiniLlama
import MiniServe
import MiniTensor
import MiniTokenize
import TestSupport
import Testing

@Suite("MiniServer: the OpenAI API", .serialized)
struct ServerAPITests {
  @Test("health, models and the page; one log line per request")
  func healthModelsAndPage() async throws {
    let server = try await TestServer.start()
    defer { Task { await server.stop() } }
    let health = try await server.send("GET", "/health")
    #expect(health.status == 200)
    #expect(health.json["status"] as? String == "ok")
    let models = try await server.send("GET", "/v1/models")
    #expect(models.status == 200)
    let data = try #require(models.json["data"] as? [[String: Any]])
    #expect(data.map { $0["id"] as? String } == ["tiny"])
    #expect(models.json["object"] as? String == "list")
    let page = try await server.send("GET", "/")
    #expect(page.status == 200)
    #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
    #expect(page.body.contains("MiniLLM chat"))
    // Nothing fetched from elsewhere: no external script, style or font.
    #expect(!page.body.contains("src=\"http"))
    #expect(!page.body.contains("href=\"http"))
    #expect(!page.body.contains("innerHTML"))
    let lines = server.lines
    #expect(lines.count == 3)
    #expect(lines.first?.hasPrefix("GET /health 200") == true)
  }

  @Test("a greedy chat reply is the library's greedy generation of the rendered prompt")
  func chatMatchesLibraryGeneration() async throws {
    let server = try await TestServer.start()
    defer { Task { await server.stop() } }
    let response = try await server.send(
      "POST", "/v1/chat/completions",
      json: chatBody("你好 hello model", maxTokens: 20, temperature: 0))
    #expect(response.status == 200)
    let json = response.json
    #expect(json["object"] as? String == "chat.completion")
    #expect(json["model"] as? String == "tiny")
    #expect((json["id"] as? String)?.hasPrefix("chatcmpl-") == true)
    let choice = try #require((json["choices"] as? [[String: Any]])?.first)
    let message = try #require(choice["message"] as? [String: Any])
    #expect(message["role"] as? String == "assistant")
    let content = try #require(message["content"] as? String)
    let usage = try #require(json["usage"] as? [String: Int])

    // The reference: the same prompt through ChatRenderer and Llama.generate.
    let directory = try servedModelDirectory()
    let served = try ServedModel(directory: directory)
    let prompt = try served.renderer.renderPrompt(
      for: Conversation(messages: [Message(role: .user, content: "你好 hello model")]))
    let model = try Llama(directory: directory)
    let tokens = model.generate(
      prompt: prompt,
      options: GenerationOptions(maxNewTokens: 20, stopTokens: served.stopTokenIDs))
    let stopped = tokens.last.map { served.stopTokenIDs.contains($0) } ?? false
    let text = try served.renderer.tokenizer.decode(
      (stopped ? tokens.dropLast() : tokens[...]).map(Int.init))
    #expect(content == text)
    #expect(usage["prompt_tokens"] == prompt.count)
    #expect(usage["completion_tokens"] == tokens.count)
    #expect(usage["total_tokens"] == prompt.count + tokens.count)
    #expect(choice["finish_reason"] as? String == (stopped ? "stop" : "length"))
  }

  @Test("a LoRA adapter is served merged into the weights")
  func servesAnAdapterMerged() async throws {
    let directory = try servedModelDirectory()
    let base = try Llama(directory: directory)
    let lora = LoRAModel(base: base, configuration: LoRAConfiguration(rank: 2), seed: 3)
    for (i, parameter) in lora.arena.parameters.enumerated() {
      var rng = PhiloxRNG(seed: 40 + UInt64(i))
      parameter.assign(
        Tensor(
          (0..<parameter.count).map { _ in 0.4 * rng.nextUniform() - 0.2 }, shape: parameter.shape))
    }
    let adapter = try temporaryDirectory("serve-adapter")
    try lora.saveAdapter(to: adapter)
    let served = try ServedModel(directory: directory, name: "tiny", adapter: adapter)
    let server = try await TestServer.start(served: served)
    defer { Task { await server.stop() } }
    let response = try await server.send(
      "POST", "/v1/chat/completions",
      json: chatBody("你好 hello model", maxTokens: 20, temperature: 0))
    #expect(response.status == 200)
    let choice = try #require((response.json["choices"] as? [[String: Any]])?.first)
    let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)

    // The reference: the merged model's greedy generation of the rendered prompt.
    let prompt = try served.renderer.renderPrompt(
      for: Conversation(messages: [Message(role: .user, content: "你好 hello model")]))
    let merged = lora.merged()
    #expect(merged(prompt).value.scalars != base(prompt).value.scalars)
    let tokens = merged.generate(
      prompt: prompt,
      options: GenerationOptions(maxNewTokens: 20, stopTokens: served.stopTokenIDs))
    let stopped = tokens.last.map { served.stopTokenIDs.contains($0) } ?? false
    #expect(
      content
        == (try served.renderer.tokenizer.decode(
          (stopped ? tokens.dropLast() : tokens[...]).map(Int.init))))
  }

  @Test("streamed chunks join to the non-streamed reply; usage chunk; data: [DONE]")
  func streamingMatchesNonStreaming() async throws {
    let server = try await TestServer.start()
    defer { Task { await server.stop() } }
    let body = chatBody("the small model", maxTokens: 30, seed: 5, extra: #", "ignore_eos": true"#)
    let whole = try await server.send("POST", "/v1/chat/completions", json: body)
    let expected = try #require(
      ((whole.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?[
        "content"] as? String)
    let streamed = try await server.send(
      "POST", "/v1/chat/completions",
      json: String(body.dropLast())
        + #", "stream": true, "stream_options": {"include_usage": true}}"#
    )
    #expect(streamed.status == 200)
    #expect(streamed.headers["content-type"]?.hasPrefix("text/event-stream") == true)
    let events = streamed.events
    #expect(events.last == "[DONE]")
    let chunks = events.dropLast().compactMap {
      (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
    }
    #expect(chunks.count == events.count - 1)
    #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
    let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
    let deltas = choices.compactMap { $0["delta"] as? [String: Any] }
    #expect(deltas.first?["role"] as? String == "assistant")
    #expect(deltas.compactMap { $0["content"] as? String }.joined() == expected)
    #expect(choices.last?["finish_reason"] as? String == "length")
    // The last chunk has no choices and the usage.
    let usage = try #require(chunks.last?["usage"] as? [String: Int])
    #expect((chunks.last?["choices"] as? [Any])?.isEmpty == true)
    #expect(usage["completion_tokens"] == 30)
    #expect(
      usage["total_tokens"] == (usage["prompt_tokens"] ?? 0) + (usage["completion_tokens"] ?? 0))
  }

  @Test("completions: a raw prompt, streamed or not, and the length finish")
  func completions() async throws {
    let server = try await TestServer.start()
    defer { Task { await server.stop() } }
    let body =
      #"{"model": "tiny", "prompt": "床前明月光", "max_tokens": 12, "temperature": 0, "ignore_eos": true}"#
    let response = try await server.send("POST", "/v1/completions", json: body)
    #expect(response.status == 200)
    #expect(response.json["object"] as? String == "text_completion")
    let choice = try #require((response.json["choices"] as? [[String: Any]])?.first)
    #expect(choice["finish_reason"] as? String == "length")
    let text = try #require(choice["text"] as? String)
    let usage = try #require(response.json["usage"] as? [String: Int])
    #expect(usage["completion_tokens"] == 12)
    let tokenizer = try tinyTokenizerOfServedModel()
    let promptCount = try tokenizer.encode("床前明月光").count
    #expect(usage["prompt_tokens"] == promptCount)
    let streamed = try await server.send(
      "POST", "/v1/completions", json: String(body.dropLast()) + #", "stream": true}"#)
    let pieces = streamed.events.dropLast().compactMap {
      ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]).flatMap {
        ($0["choices"] as? [[String: Any]])?.first?["text"] as? String
      }
    }
    #expect(pieces.joined() == text)
    #expect(streamed.events.last == "[DONE]")
  }

  @Test("a stop string ends the reply before it, streamed or not")
  func stopStrings() async throws {
    let server = try await TestServer.start()
    defer { Task { await server.stop() } }
    let base = chatBody("hello world", maxTokens: 40, seed: 9, extra: #", "ignore_eos": true"#)
    let free = try await server.send("POST", "/v1/chat/completions", json: base)
    let text = try #require(
      ((free.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?[
        "content"] as? String)
    let characters = Array(text)
    try #require(characters.count >= 8, "the reply is long enough to cut: \(text)")
    let stop = String(characters[5..<7])
    let cut = String(text[..<text.range(of: stop)!.lowerBound])
    let withStop = String(base.dropLast()) + ", \"stop\": [\"zzzz\", \(jsonString(stop))]}"
    let stopped = try await server.send("POST", "/v1/chat/completions", json: withStop)
    let choice = try #require((stopped.json["choices"] as? [[String: Any]])?.first)
    #expect((choice["message"] as? [String: Any])?["content"] as? String == cut)
    #expect(choice["finish_reason"] as? String == "stop")
    let streamed = try await server.send(
      "POST", "/v1/chat/completions", json: String(withStop.dropLast()) + #", "stream": true}"#)
    let chunks = streamed.events.dropLast().compactMap {
      ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]).flatMap {
        ($0["choices"] as? [[String: Any]])?.first
      }
    }
    let joined = chunks.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }
      .joined()
    #expect(joined == cut)
    #expect(chunks.last?["finish_reason"] as? String == "stop")
  }

  @Test("the same seed gives the same reply; other seeds other replies")
  func seedReproducibility() async throws {
    let server = try await TestServer.start()
    defer { Task { await server.stop() } }
    func reply(_ seed: Int) async throws -> String {
      let response = try await server.send(
        "POST", "/v1/chat/completions",
        json: chatBody("tokens", maxTokens: 16, seed: seed, temperature: 1.2))
      return try #require(
        ((response.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?[
          "content"] as? String)
    }
    let first = try await reply(42)
    #expect(try await reply(42) == first)
    var others: Set<String> = []
    for seed in 1...4 { others.insert(try await reply(seed)) }
    #expect(others.count > 1 || others.first != first)
  }

  @Test("the API key guards every /v1 route and only those")
  func apiKey() async throws {
    let server = try await TestServer.start(ServerConfiguration(apiKey: "sekret-key"))
    defer { Task { await server.stop() } }
    let missing = try await server.send("GET", "/v1/models")
    #expect(missing.status == 401)
    #expect(missing.errorCode == "invalid_api_key")
    let wrong = try await server.send(
      "GET", "/v1/models", headers: ["Authorization": "Bearer sekret-kez"])
    #expect(wrong.status == 401)
    let chat = try await server.send("POST", "/v1/chat/completions", json: chatBody("hi"))
    #expect(chat.status == 401)
    let right = try await server.send(
      "GET", "/v1/models", headers: ["Authorization": "Bearer sekret-key"])
    #expect(right.status == 200)
    #expect(try await server.send("GET", "/health").status == 200)
    #expect(try await server.send("GET", "/").status == 200)
  }

  @Test("answers, streamed or not, while every thread of the shared concurrency pool is blocked")
  func answersWithTheSharedPoolBlocked() async throws {
    let server = try await TestServer.start(ServerConfiguration(idleTimeout: .seconds(120)))
    defer { Task { await server.stop() } }
    // Synchronous work holding every thread of the shared pool until the replies are in: a
    // server whose tasks needed that pool could not answer before the client gave up.
    let width = ProcessInfo.processInfo.activeProcessorCount
    let holding = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    for _ in 0..<width {
      Task.detached {
        holding.signal()
        release.wait()
      }
    }
    let replies = try await blocking {
      for _ in 0..<width { holding.wait() }
      defer { for _ in 0..<width { release.signal() } }
      return [
        try server.request(
          "POST", "/v1/chat/completions", json: chatBody("hello", maxTokens: 24, seed: 3)),
        try server.request(
          "POST", "/v1/chat/completions",
          json: chatBody("hello", maxTokens: 24, seed: 3, extra: #", "stream": true"#)),
      ]
    }
    #expect(replies.map(\.status) == [200, 200])
    let content =
      ((replies[0].json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?[
        "content"] as? String
    let streamed = replies[1].events.dropLast().compactMap {
      ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]).flatMap {
        ((($0["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any])?["content"]
          as? String
      }
    }.joined()
    #expect(content != nil && content == streamed)
    #expect(replies[1].events.last == "[DONE]")
  }
}

/// The tokenizer of the served model directory.
func tinyTokenizerOfServedModel() throws -> any Tokenizer {
  try ServedModel(directory: servedModelDirectory()).renderer.tokenizer
}
