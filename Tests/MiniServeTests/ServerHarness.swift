import Foundation
import MiniLlama
import MiniServe
import MiniTokenize
import PipelineTestSupport
import Synchronization
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The model every server test serves: a random 2-layer model over the tiny ChatML tokenizer,
/// with room for long replies. Made once per test process.
func servedModelDirectory() throws -> String {
  try SharedModel.directory.get()
}

private enum SharedModel {
  static let directory = Result<String, any Error> {
    let tokenizer = try tinyChatTokenizer()
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 128, intermediateSize: 256, layerCount: 4,
      headCount: 4, kvHeadCount: 2, maxPositions: 2048, bosTokenId: tokenizer.specialIDs.bos,
      eosTokenIds: tokenizer.specialIDs.eos.map { [$0] } ?? [], initializerRange: 0.3)
    let path = try temporaryDirectory("serve")
    try Llama(config: config, seed: 7).save(to: path)
    try ModelDirectory(path: path).installTokenizer(tokenizer, template: .chatml)
    return path
  }
}

/// Runs blocking client code (sockets, a Python process) on a thread of its own, so the
/// server's tasks keep the cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread {
      continuation.resume(with: Result { try body() })
    }.start()
  }
}

/// A `MiniServer` on an ephemeral port of 127.0.0.1, stopped by `stop()`.
final class TestServer: Sendable {
  let server: MiniServer
  let port: Int
  let log: LogBox
  private let task: Task<Void, any Error>

  private init(server: MiniServer, port: Int, log: LogBox, task: Task<Void, any Error>) {
    self.server = server
    self.port = port
    self.log = log
    self.task = task
  }

  /// The server's log lines so far.
  var lines: [String] { log.lines.withLock { $0 } }

  /// Starts a server on `served` (default: the shared model) with `configuration` (its port is
  /// replaced by 0).
  static func start(
    _ configuration: ServerConfiguration = ServerConfiguration(), served: ServedModel? = nil
  ) async throws -> TestServer {
    var configuration = configuration
    configuration.host = "127.0.0.1"
    configuration.port = 0
    // The suite runs beside long synchronous tests that can hold every thread of the shared
    // executor for a while; the server's handlers then wait, and a 30-second idle timeout
    // would close their connections unanswered. Tests of the timeout itself set a shorter one.
    if configuration.idleTimeout == ServerConfiguration().idleTimeout {
      configuration.idleTimeout = .seconds(600)
    }
    let served = try served ?? ServedModel(directory: servedModelDirectory(), name: "tiny")
    let log = LogBox()
    let server = try MiniServer(served: served, configuration: configuration) { log.append($0) }
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let task = Task {
      try await server.run { port in continuation.yield(port) }
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next(), port > 0 else {
      task.cancel()
      throw TestServerError.noPort
    }
    return TestServer(server: server, port: port, log: log, task: task)
  }

  /// Stops listening and the engine.
  func stop() async {
    task.cancel()
    _ = await task.result
    server.engine.shutdown()
  }

  /// Sends `method path` with `body` and returns the response (on a thread of its own).
  func send(
    _ method: String, _ path: String, json body: String? = nil, headers: [String: String] = [:]
  ) async throws -> HTTPResult {
    try await blocking { try self.request(method, path, json: body, headers: headers) }
  }

  /// Sends `method path` with `body` and returns the response.
  func request(
    _ method: String, _ path: String, json body: String? = nil, headers: [String: String] = [:]
  ) throws -> HTTPResult {
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    var bytes: [UInt8] = []
    if let body {
      head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
      bytes = Array(body.utf8)
    }
    return try HTTPResult(raw: exchange(port: port, Array((head + "\r\n").utf8) + bytes))
  }
}

/// Collects the server's log lines.
final class LogBox: Sendable {
  let lines = Mutex<[String]>([])
  func append(_ line: String) { lines.withLock { $0.append(line) } }
}

enum TestServerError: Error {
  case noPort
  case socket(String)
  case malformedResponse(String)
}

/// A parsed HTTP/1.1 response (chunked bodies joined).
struct HTTPResult {
  var status: Int
  var headers: [String: String]
  var body: String

  init(raw: [UInt8]) throws {
    guard let split = raw.firstRange(of: Array("\r\n\r\n".utf8)) else {
      throw TestServerError.malformedResponse(String(decoding: raw, as: UTF8.self))
    }
    let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self)
    var lines = head.components(separatedBy: "\r\n")
    let statusLine = lines.removeFirst().split(separator: " ")
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
      throw TestServerError.malformedResponse(head)
    }
    self.status = status
    var headers: [String: String] = [:]
    for line in lines {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
        .trimmingCharacters(in: .whitespaces)
    }
    self.headers = headers
    var body = Array(raw[split.upperBound...])
    if headers["transfer-encoding"]?.lowercased() == "chunked" {
      var joined: [UInt8] = []
      var rest = body[...]
      while let lineEnd = rest.firstRange(of: Array("\r\n".utf8)) {
        let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)
        guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else { break }
        if size == 0 { break }
        let start = lineEnd.upperBound
        guard rest.endIndex - start >= size else { break }
        joined.append(contentsOf: rest[start..<(start + size)])
        rest = rest[(start + size)...].dropFirst(2)
      }
      body = joined
    }
    self.body = String(decoding: body, as: UTF8.self)
  }

  /// The body parsed as a JSON object.
  var json: [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
  }

  /// The error object's `code`, if the body is one.
  var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }

  /// The `data:` payloads of a server-sent event stream.
  var events: [String] {
    body.components(separatedBy: "\n\n").compactMap { event in
      event.hasPrefix("data: ") ? String(event.dropFirst(6)) : nil
    }
  }
}

/// A connected TCP socket to 127.0.0.1:`port` with a receive timeout.
func connectSocket(port: Int, timeout seconds: Int = 300) throws -> Int32 {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw TestServerError.socket("socket: errno \(errno)") }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard connected == 0 else {
    close(fd)
    throw TestServerError.socket("connect: errno \(errno)")
  }
  var timeout = timeval(tv_sec: seconds, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  return fd
}

/// Writes all of `bytes` (ignoring a peer that closed early).
func send(_ fd: Int32, _ bytes: [UInt8]) {
  var offset = 0
  while offset < bytes.count {
    let sent = bytes[offset...].withUnsafeBytes {
      Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
    }
    if sent <= 0 { return }
    offset += sent
  }
}

/// Reads until the peer closes (or the timeout); returns what arrived.
func receiveAll(_ fd: Int32) -> [UInt8] {
  var result: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if count <= 0 { break }
    result.append(contentsOf: buffer[0..<count])
  }
  return result
}

/// Sends `bytes` on a new connection and reads the whole answer.
func exchange(port: Int, _ bytes: [UInt8], timeout: Int = 300) throws -> [UInt8] {
  let fd = try connectSocket(port: port, timeout: timeout)
  defer { close(fd) }
  send(fd, bytes)
  return receiveAll(fd)
}

/// A chat request body.
func chatBody(
  _ text: String, maxTokens: Int = 24, seed: Int = 1, temperature: Double = 0.9,
  extra: String = ""
) -> String {
  let content = jsonString(text)
  return """
    {"model": "tiny", "messages": [{"role": "user", "content": \(content)}], \
    "max_tokens": \(maxTokens), "seed": \(seed), "temperature": \(temperature)\(extra)}
    """
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
  var result = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": result += "\\\""
    case "\\": result += "\\\\"
    case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
    default: result.unicodeScalars.append(scalar)
    }
  }
  return result + "\""
}
