import ArgumentParser
import Foundation
import MiniServe
import MiniTokenize

struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve a model over an OpenAI-compatible HTTP API, with a chat page at /.",
    discussion: """
      Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions (both stream \
      server-sent events with "stream": true), GET /health, and the chat page at /. Requests \
      arriving while others decode join the running batch at the next step (continuous \
      batching); when --max-batch requests are decoding, up to --max-queue wait and more get \
      429. One line per request goes to standard error. Ctrl-C stops the server.
      """)

  @Option(help: "Model directory (config.json, model.safetensors, tokenizer.model, chat template).")
  var model: String

  @Option(
    help: "Chat template: chatml, human-robot or a JSON spec file (default: the directory's).")
  var template: String?

  @OptionGroup var adapter: AdapterFlag

  @Option(help: "Address to bind (default: loopback only).")
  var host = "127.0.0.1"

  @Option(help: "Port to listen on (0: any free port, printed at start).")
  var port = 8080

  @Option(name: .customLong("max-batch"), help: "Requests decoded together at most.")
  var maxBatch = 8

  @Option(name: .customLong("max-queue"), help: "Requests waiting for a batch slot at most.")
  var maxQueue = 64

  @Option(help: "Context per request: prompt + max_tokens ≤ N (default: the model's).")
  var ctx: Int?

  @Option(
    name: .customLong("api-key"),
    help:
      "Require 'Authorization: Bearer K' on every /v1 route (default: MINILLM_API_KEY, else none).")
  var apiKey: String?

  @Option(
    name: .customLong("name"), help: "The model's id in the API (default: the directory name).")
  var name: String?

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port: must be in 0...65535") }
    guard maxBatch >= 1 else { throw ValidationError("--max-batch: must be ≥ 1") }
    guard maxQueue >= 0 else { throw ValidationError("--max-queue: must be ≥ 0") }
    if let ctx, ctx < 2 { throw ValidationError("--ctx: must be ≥ 2") }
    if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key: must not be empty") }
  }

  func run() async throws {
    try threads.apply()
    let chosen = try flagged("--template") { try template.map { try ChatTemplate.named($0) } }
    let served = try flaggedModel(adapter: adapter.adapter) {
      try ServedModel(
        directory: model, template: chosen, name: self.name, adapter: adapter.adapter)
    }
    if let ctx, ctx > served.maxPositions {
      throw CommandLineError("--ctx: \(ctx) exceeds the model's context of \(served.maxPositions)")
    }
    let key =
      apiKey
      ?? ProcessInfo.processInfo.environment["MINILLM_API_KEY"].flatMap {
        $0.isEmpty ? nil : $0
      }
    let server = try MiniServer(
      served: served,
      configuration: ServerConfiguration(
        host: host, port: port, maxBatch: maxBatch, maxQueue: maxQueue, context: ctx, apiKey: key),
      log: { printError($0) })
    let shownHost = host.contains(":") ? "[\(host)]" : host
    let name = served.name
    let summary =
      "batch \(maxBatch), queue \(maxQueue), context \(ctx ?? served.maxPositions)"
      + (key == nil ? "" : ", API key required")
    try await server.run(handlesSignals: true) { port in
      printError("serving \(name) on http://\(shownHost):\(port)/ (\(summary))")
    }
  }
}
