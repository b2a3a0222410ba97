import Foundation
import MiniLlama
import MiniServe
import MiniTensor
import Testing

@Suite("Continuous batching", .serialized)
struct BatchingTests {
  @Test("decodeStep: each row is the same bits as that sequence decoded alone")
  func decodeStepRowsAreIndependent() throws {
    let model = try Llama(directory: servedModelDirectory())
    let prompts: [[Int32]] = [[1, 5, 9], [7], [3, 3, 3, 3, 3, 3, 3], [11, 2], [40, 41, 42, 43]]
    func caches(_ indices: [Int]) -> [KVCache] {
      indices.map { i in
        let cache = KVCache(config: model.config, batch: 1, capacity: 32)
        _ = model.prefill(prompts[i], cache: cache)
        return cache
      }
    }
    let next: [Int32] = [20, 21, 22, 23, 24]
    // Alone, then in batches of different companions.
    var alone: [[Float]] = []
    for i in prompts.indices {
      alone.append(model.decodeStep([next[i]], caches: caches([i]))[row: 0].scalars)
    }
    for group in [[0, 1], [2, 0, 4], [4, 3, 2, 1, 0]] {
      let logits = model.decodeStep(group.map { next[$0] }, caches: caches(group))
      for (row, i) in group.enumerated() {
        #expect(
          logits[row: row].scalars.map(\.bitPattern) == alone[i].map(\.bitPattern),
          "sequence \(i) in batch \(group)")
      }
    }
    // And the step agrees with the uncached forward of the whole sequence.
    for i in prompts.indices {
      let reference = model.nextTokenLogits(prompts[i] + [next[i]])
      let scale = reference.map(abs).max() ?? 1
      for (a, b) in zip(alone[i], reference) {
        #expect(abs(a - b) <= 1e-4 * scale + 1e-5)
      }
    }
  }

  @Test("sixteen concurrent clients each get their single-client reply; they were batched")
  func concurrentRepliesEqualSingleReplies() async throws {
    let server = try await TestServer.start(ServerConfiguration(maxBatch: 16, maxQueue: 16))
    defer { Task { await server.stop() } }
    let bodies = (0..<16).map { i in
      chatBody(
        ["hello", "你好", "the model", "world chat"][i % 4], maxTokens: 48 + i, seed: 100 + i,
        temperature: 0.8, extra: i % 3 == 0 ? #", "stream": true, "ignore_eos": true"# : "")
    }
    func content(_ response: HTTPResult, streamed: Bool) -> String {
      if !streamed {
        return
          ((response.json["choices"] as? [[String: Any]])?.first?["message"]
          as? [String: Any])?["content"] as? String ?? "<none>"
      }
      return response.events.dropLast().compactMap {
        ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]).flatMap {
          ((($0["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any])?["content"]
            as? String
        }
      }.joined()
    }
    let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
      for (i, body) in bodies.enumerated() {
        group.addTask {
          let response = try await server.send("POST", "/v1/chat/completions", json: body)
          return (i, content(response, streamed: i % 3 == 0))
        }
      }
      var replies = [String](repeating: "", count: bodies.count)
      for try await (i, reply) in group { replies[i] = reply }
      return replies
    }
    #expect(server.server.engine.largestBatch > 1, "requests overlapped")
    for (i, body) in bodies.enumerated() {
      let alone = try await server.send("POST", "/v1/chat/completions", json: body)
      #expect(content(alone, streamed: i % 3 == 0) == together[i], "client \(i)")
    }
  }

  @Test("a full batch queues up to --max-queue; beyond that 429")
  func queueLimit() async throws {
    let server = try await TestServer.start(ServerConfiguration(maxBatch: 1, maxQueue: 1))
    defer { Task { await server.stop() } }
    let engine = server.server.engine
    let long = GenerationRequest(prompt: [1, 2, 3], maxTokens: 2000, ignoresStopTokens: true)
    let first = try engine.submit(long)
    let second = try engine.submit(long)
    let response = try await server.send("POST", "/v1/chat/completions", json: chatBody("hi"))
    #expect(response.status == 429)
    #expect(response.errorCode == "queue_full")
    first.cancel()
    second.cancel()
    let deadline = Date().addingTimeInterval(20)
    while engine.load != (0, 0) && Date() < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(
      try await server.send("POST", "/v1/chat/completions", json: chatBody("hi")).status == 200)
  }

  @Test("after shutdown the engine refuses work with 503")
  func shutdownRefuses() async throws {
    let server = try await TestServer.start()
    server.server.engine.shutdown()
    let response = try await server.send("POST", "/v1/chat/completions", json: chatBody("hi"))
    #expect(response.status == 503)
    await server.stop()
  }
}
