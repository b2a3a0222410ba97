import Foundation
import MiniServe
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// One bad request and the statuses it may get (an empty set: the connection may be dropped).
struct HostileCase: Sendable, CustomStringConvertible {
  var description: String
  var method = "POST"
  var path = "/v1/chat/completions"
  var body: [UInt8]?
  var headers: [String: String] = [:]
  /// Sent as is instead of a request built from the fields above.
  var raw: [UInt8]?
  var expected: Set<Int>

  init(
    _ description: String, _ body: String?, expect expected: Int,
    path: String = "/v1/chat/completions",
    method: String = "POST", headers: [String: String] = [:]
  ) {
    self.description = description
    self.body = body.map { Array($0.utf8) }
    self.expected = [expected]
    self.path = path
    self.method = method
    self.headers = headers
  }

  init(_ description: String, bytes: [UInt8], expect expected: Int) {
    self.description = description
    body = bytes
    self.expected = [expected]
  }

  init(_ description: String, raw: [UInt8], expect expected: Set<Int>) {
    self.description = description
    self.raw = raw
    self.expected = expected
  }

  var requestBytes: [UInt8] {
    if let raw { return raw }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    if let body {
      if headers["Content-Length"] == nil { head += "Content-Length: \(body.count)\r\n" }
      head += "Content-Type: application/json\r\n"
    }
    return Array((head + "\r\n").utf8) + (body ?? [])
  }
}

let user = #"[{"role": "user", "content": "hi"}]"#

let hostileCases: [HostileCase] = [
  HostileCase("not JSON", "hello there", expect: 400),
  HostileCase("empty body", "", expect: 400),
  HostileCase("a JSON array", "[]", expect: 400),
  HostileCase("truncated JSON", #"{"messages": [{"role": "user""#, expect: 400),
  HostileCase("trailing comma", #"{"messages": \#(user),}"#, expect: 400),
  HostileCase("duplicate key", #"{"messages": \#(user), "messages": \#(user)}"#, expect: 400),
  HostileCase("NaN", #"{"messages": \#(user), "temperature": NaN}"#, expect: 400),
  HostileCase("deep nesting", String(repeating: "[", count: 10_000), expect: 400),
  HostileCase(
    "invalid UTF-8",
    bytes: Array(#"{"messages": [{"role": "user", "content": ""#.utf8) + [0xFF, 0xFE]
      + Array(#""}]}"#.utf8), expect: 400),
  HostileCase("no messages", "{}", expect: 422),
  HostileCase("messages a string", #"{"messages": "hi"}"#, expect: 422),
  HostileCase("messages empty", #"{"messages": []}"#, expect: 422),
  HostileCase("message a number", #"{"messages": [1]}"#, expect: 422),
  HostileCase("role missing", #"{"messages": [{"content": "hi"}]}"#, expect: 422),
  HostileCase("unknown role", #"{"messages": [{"role": "wizard", "content": "hi"}]}"#, expect: 422),
  HostileCase("content a number", #"{"messages": [{"role": "user", "content": 5}]}"#, expect: 422),
  HostileCase("content null", #"{"messages": [{"role": "user", "content": null}]}"#, expect: 422),
  HostileCase(
    "image part",
    #"{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}"#,
    expect: 422),
  HostileCase(
    "ends with assistant", #"{"messages": [{"role": "assistant", "content": "hi"}]}"#, expect: 422),
  HostileCase(
    "system after user",
    #"{"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}"#,
    expect: 422),
  HostileCase("max_tokens a string", #"{"messages": \#(user), "max_tokens": "10"}"#, expect: 422),
  HostileCase("max_tokens 0", #"{"messages": \#(user), "max_tokens": 0}"#, expect: 422),
  HostileCase("max_tokens negative", #"{"messages": \#(user), "max_tokens": -5}"#, expect: 422),
  HostileCase("max_tokens fractional", #"{"messages": \#(user), "max_tokens": 1.5}"#, expect: 422),
  HostileCase("max_tokens huge", #"{"messages": \#(user), "max_tokens": 1000000000}"#, expect: 400),
  HostileCase(
    "max_tokens beyond Int", #"{"messages": \#(user), "max_tokens": 1e300}"#, expect: 422),
  HostileCase("temperature 5", #"{"messages": \#(user), "temperature": 5}"#, expect: 422),
  HostileCase(
    "temperature a string", #"{"messages": \#(user), "temperature": "hot"}"#, expect: 422),
  HostileCase("top_p 2", #"{"messages": \#(user), "top_p": 2}"#, expect: 422),
  HostileCase("top_k -3", #"{"messages": \#(user), "top_k": -3}"#, expect: 422),
  HostileCase("presence_penalty 3", #"{"messages": \#(user), "presence_penalty": 3}"#, expect: 422),
  HostileCase(
    "frequency_penalty a list", #"{"messages": \#(user), "frequency_penalty": [1]}"#, expect: 422),
  HostileCase("stop a number", #"{"messages": \#(user), "stop": 5}"#, expect: 422),
  HostileCase("stop empty string", #"{"messages": \#(user), "stop": [""]}"#, expect: 422),
  HostileCase(
    "17 stop strings",
    #"{"messages": \#(user), "stop": [\#((0..<17).map { "\"s\($0)\"" }.joined(separator: ","))]}"#,
    expect: 422),
  HostileCase("seed a string", #"{"messages": \#(user), "seed": "abc"}"#, expect: 422),
  HostileCase("stream a string", #"{"messages": \#(user), "stream": "yes"}"#, expect: 422),
  HostileCase(
    "stream_options a string", #"{"messages": \#(user), "stream": true, "stream_options": "x"}"#,
    expect: 422),
  HostileCase("n 2", #"{"messages": \#(user), "n": 2}"#, expect: 400),
  HostileCase("logprobs", #"{"messages": \#(user), "logprobs": true}"#, expect: 400),
  HostileCase("unknown model", #"{"model": "gpt-4", "messages": \#(user)}"#, expect: 404),
  HostileCase("model a number", #"{"model": 5, "messages": \#(user)}"#, expect: 422),
  HostileCase(
    "too many messages",
    #"{"messages": [\#(Array(repeating: #"{"role": "user", "content": "a"}"#, count: 9).joined(separator: ","))]}"#,
    expect: 400),
  HostileCase(
    "prompt longer than the context",
    #"{"messages": [{"role": "user", "content": "\#(String(repeating: "床前明月光 ", count: 900))"}]}"#,
    expect: 400),
  HostileCase(
    "body over the limit",
    #"{"messages": \#(user), "pad": "\#(String(repeating: "x", count: 70_000))"}"#, expect: 413),
  HostileCase(
    "declared length over the limit", #"{"messages": \#(user)}"#, expect: 413,
    headers: ["Content-Length": "1000000000000"]),
  HostileCase(
    "completions without prompt", #"{"max_tokens": 3}"#, expect: 422, path: "/v1/completions"),
  HostileCase(
    "completions prompt a number", #"{"prompt": 7}"#, expect: 422, path: "/v1/completions"),
  HostileCase(
    "completions id out of range", #"{"prompt": [1, 99999]}"#, expect: 422, path: "/v1/completions"),
  HostileCase(
    "completions batch of prompts", #"{"prompt": ["a", "b"]}"#, expect: 400, path: "/v1/completions"
  ),
  HostileCase("unknown route", #"{"input": "x"}"#, expect: 404, path: "/v1/embeddings"),
  HostileCase("wrong method", nil, expect: 404, path: "/v1/chat/completions", method: "GET"),
  HostileCase("path traversal", nil, expect: 404, path: "/../../etc/passwd", method: "GET"),
  HostileCase("encoded traversal", nil, expect: 404, path: "/%2e%2e/Package.swift", method: "GET"),
  HostileCase(
    "a source file", nil, expect: 404, path: "/Sources/MiniServe/ChatPage.swift", method: "GET"),
  HostileCase("garbage request line", raw: Array("GARBAGE\r\n\r\n".utf8), expect: [400]),
  HostileCase(
    "binary noise", raw: (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }, expect: [400]),
  HostileCase(
    "huge header",
    raw: Array(
      "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n"
        .utf8),
    expect: [400, 431]),
]

@Suite("MiniServer: hostile requests", .serialized)
struct HostileRequestTests {
  @Test("every malformed or hostile request gets its 4xx and the server keeps answering")
  func hostileRequests() async throws {
    #expect(hostileCases.count >= 40)
    // A generous idle timeout: on a loaded machine (the suite runs beside long synchronous
    // tests that can hold the shared executor's threads) many seconds can pass between the
    // connection and its first read, and the request would be cut off unread.
    let configuration = ServerConfiguration(
      maxBodyBytes: 64 * 1024, maxMessages: 8, idleTimeout: .seconds(120))
    let server = try await TestServer.start(configuration)
    defer { Task { await server.stop() } }
    for hostile in hostileCases {
      let port = server.port
      let bytes = try await blocking {
        try exchange(port: port, hostile.requestBytes, timeout: 120)
      }
      if bytes.isEmpty {
        // A dropped connection is an acceptable answer only to broken HTTP.
        #expect(hostile.raw != nil, "\(hostile): the connection was dropped")
      } else {
        let response = try HTTPResult(raw: bytes)
        #expect(
          hostile.expected.contains(response.status),
          "\(hostile): \(response.status) \(response.body.prefix(200))")
        if hostile.raw == nil {
          #expect(
            response.json["error"] is [String: Any],
            "\(hostile): not an error object: \(response.body.prefix(200))")
        }
      }
      let health = try await server.send("GET", "/health")
      #expect(health.status == 200, "after \(hostile)")
    }
  }

  @Test("a client that stops sending mid-body is cut off; a client gone mid-stream frees its slot")
  func slowAndVanishingClients() async throws {
    let server = try await TestServer.start(ServerConfiguration(idleTimeout: .seconds(1)))
    defer { Task { await server.stop() } }
    let port = server.port
    // Slowloris: a body promised but never finished. The time is taken on the client's own
    // thread: resuming this test may wait for a thread of the shared pool, which other tests
    // of the process can hold for many seconds.
    let (partial, elapsed) = try await blocking {
      let started = Date()
      let fd = try connectSocket(port: port, timeout: 20)
      defer { close(fd) }
      send(
        fd,
        Array(
          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"mess".utf8
        ))
      let partial = receiveAll(fd)
      return (partial, Date().timeIntervalSince(started))
    }
    #expect(elapsed < 15, "the idle connection was closed")
    if !partial.isEmpty { #expect(try HTTPResult(raw: partial).status >= 400) }
    #expect(try await server.send("GET", "/health").status == 200)

    // A streaming client that disconnects after its first token.
    let body = chatBody("hello", maxTokens: 1900, extra: #", "stream": true, "ignore_eos": true"#)
    try await blocking {
      let fd = try connectSocket(port: port, timeout: 20)
      send(
        fd,
        Array(
          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            .utf8))
      var buffer = [UInt8](repeating: 0, count: 4096)
      _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      close(fd)
    }
    // Under load the request may not have reached the engine yet when the client is gone: wait
    // for the engine to notice, not merely for an empty batch.
    let engine = server.server.engine
    let deadline = Date().addingTimeInterval(60)
    while (engine.load.running > 0 || engine.cancelledCount == 0) && Date() < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(server.server.engine.load.running == 0)
    #expect(server.server.engine.cancelledCount == 1)
    #expect(try await server.send("GET", "/health").status == 200)
    let lines = server.lines
    #expect(lines.contains { $0.contains("stream disconnected") })
  }
}
