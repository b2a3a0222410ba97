import Foundation
import MiniServe
import TestSupport
import Testing

/// Drives the server with the official `openai` Python client and prints what it saw as JSON.
private let clientScript = #"""
  import json, sys
  import openai

  port = int(sys.argv[1])
  client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test-key", max_retries=0)
  out = {}
  out["models"] = [m.id for m in client.models.list().data]
  messages = [{"role": "system", "content": "you are small"}, {"role": "user", "content": "hello 你好"}]

  def chat(**kw):
      r = client.chat.completions.create(model="tiny", messages=messages, **kw)
      return {"content": r.choices[0].message.content, "finish": r.choices[0].finish_reason,
              "role": r.choices[0].message.role, "object": r.object, "usage": r.usage.model_dump()}

  out["chat"] = chat(max_tokens=24, temperature=0.8, seed=3)
  out["chat_again"] = chat(max_tokens=24, temperature=0.8, seed=3)
  out["chat_max_completion"] = chat(max_completion_tokens=5, temperature=0.8, seed=3,
                                    extra_body={"ignore_eos": True})

  stream = client.chat.completions.create(model="tiny", messages=messages, max_tokens=24, temperature=0.8,
                                          seed=3, stream=True, stream_options={"include_usage": True})
  pieces, finish, usage, objects = [], None, None, set()
  for chunk in stream:
      objects.add(chunk.object)
      if chunk.choices:
          if chunk.choices[0].delta.content:
              pieces.append(chunk.choices[0].delta.content)
          finish = chunk.choices[0].finish_reason or finish
      if chunk.usage:
          usage = chunk.usage.model_dump()
  out["stream"] = {"content": "".join(pieces), "finish": finish, "usage": usage, "objects": sorted(objects)}

  free = chat(max_tokens=40, temperature=0.8, seed=4, extra_body={"ignore_eos": True})
  stop = free["content"][4:6]
  out["free"] = free
  out["stop"] = stop
  out["stopped"] = chat(max_tokens=40, temperature=0.8, seed=4, stop=[stop], extra_body={"ignore_eos": True})

  c = client.completions.create(model="tiny", prompt="床前明月光", max_tokens=10, temperature=0,
                                extra_body={"ignore_eos": True})
  out["completion"] = {"text": c.choices[0].text, "finish": c.choices[0].finish_reason,
                       "usage": c.usage.model_dump()}
  cs = client.completions.create(model="tiny", prompt="床前明月光", max_tokens=10, temperature=0,
                                 stream=True, extra_body={"ignore_eos": True})
  out["completion_stream"] = "".join(ch.choices[0].text for ch in cs if ch.choices)

  errors = {}
  def expect_error(name, call):
      try:
          call()
          errors[name] = None
      except openai.APIStatusError as e:
          errors[name] = {"status": e.status_code, "type": type(e).__name__, "code": getattr(e, "code", None)}
  expect_error("unknown_model", lambda: client.chat.completions.create(model="nope", messages=messages))
  expect_error("temperature", lambda: client.chat.completions.create(model="tiny", messages=messages, temperature=5))
  expect_error("context", lambda: client.chat.completions.create(model="tiny", messages=messages, max_tokens=100000))
  bad = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0)
  expect_error("key", lambda: bad.models.list())
  out["errors"] = errors
  print(json.dumps(out))
  """#

@Suite("MiniServer: the official openai client", .serialized)
struct OpenAIClientTests {
  @Test(
    "chat and completions, streamed and not; stop strings, usage, seeds and errors",
    .requires(.python("openai")))
  func openAIClient() async throws {
    let python = try PythonRunner.requirePeers(importing: ["openai"])
    let server = try await TestServer.start(ServerConfiguration(apiKey: "test-key"))
    defer { Task { await server.stop() } }
    let port = server.port
    let output = try await blocking {
      try python.run(["-c", clientScript, String(port)]).get()
    }
    let seen = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    #expect(seen["models"] as? [String] == ["tiny"])
    let chat = try #require(seen["chat"] as? [String: Any])
    let content = try #require(chat["content"] as? String)
    #expect(chat["role"] as? String == "assistant")
    #expect(chat["object"] as? String == "chat.completion")
    #expect((seen["chat_again"] as? [String: Any])?["content"] as? String == content)
    let usage = try #require(chat["usage"] as? [String: Any])
    let prompt = try #require(usage["prompt_tokens"] as? Int)
    let completion = try #require(usage["completion_tokens"] as? Int)
    #expect(prompt > 0 && completion > 0 && completion <= 24)
    #expect(usage["total_tokens"] as? Int == prompt + completion)
    let finish = chat["finish"] as? String
    #expect(finish == "stop" || (finish == "length" && completion == 24))

    let limited = try #require(seen["chat_max_completion"] as? [String: Any])
    #expect(limited["finish"] as? String == "length")
    #expect((limited["usage"] as? [String: Any])?["completion_tokens"] as? Int == 5)

    let stream = try #require(seen["stream"] as? [String: Any])
    #expect(stream["content"] as? String == content)
    #expect(stream["finish"] as? String == finish)
    #expect(stream["objects"] as? [String] == ["chat.completion.chunk"])
    let streamUsage = try #require(stream["usage"] as? [String: Any])
    #expect(streamUsage["completion_tokens"] as? Int == completion)
    #expect(streamUsage["prompt_tokens"] as? Int == prompt)

    let free = try #require((seen["free"] as? [String: Any])?["content"] as? String)
    let stop = try #require(seen["stop"] as? String)
    let stopped = try #require(seen["stopped"] as? [String: Any])
    if !stop.isEmpty, let cut = free.range(of: stop) {
      #expect(stopped["content"] as? String == String(free[..<cut.lowerBound]))
      #expect(stopped["finish"] as? String == "stop")
    } else {
      Issue.record("the free reply is too short to cut: \(free)")
    }

    let completionResult = try #require(seen["completion"] as? [String: Any])
    #expect(completionResult["finish"] as? String == "length")
    #expect((completionResult["usage"] as? [String: Any])?["completion_tokens"] as? Int == 10)
    #expect(seen["completion_stream"] as? String == completionResult["text"] as? String)

    let errors = try #require(seen["errors"] as? [String: Any])
    func error(_ name: String) -> [String: Any] { errors[name] as? [String: Any] ?? [:] }
    #expect(error("unknown_model")["status"] as? Int == 404)
    #expect(error("unknown_model")["type"] as? String == "NotFoundError")
    #expect(error("temperature")["status"] as? Int == 422)
    #expect(error("context")["status"] as? Int == 400)
    #expect(error("context")["code"] as? String == "context_length_exceeded")
    #expect(error("key")["status"] as? Int == 401)
    #expect(error("key")["type"] as? String == "AuthenticationError")
  }
}
