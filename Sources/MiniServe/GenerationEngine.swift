import Dispatch
import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import Synchronization

/// What one client asks the engine to generate.
public struct GenerationRequest: Sendable {
  /// The prompt's token ids (at least one).
  public var prompt: [Int32]
  /// At most this many new tokens.
  public var maxTokens: Int
  /// How tokens are chosen; `sampling.seed` seeds this request's own generator.
  public var sampling: SamplingOptions
  /// Subtracted once from the logit of every token already generated (OpenAI's
  /// `presence_penalty`).
  public var presencePenalty: Float
  /// Subtracted from each token's logit once per time it was generated (OpenAI's
  /// `frequency_penalty`).
  public var frequencyPenalty: Float
  /// The reply ends before the first of these strings, which is not returned.
  public var stop: [String]
  /// Keep generating past the model's stop tokens (for fixed-length replies, as vLLM's and
  /// llama.cpp's `ignore_eos`).
  public var ignoresStopTokens: Bool

  /// A request; by default greedy, no penalties and no stop strings.
  public init(
    prompt: [Int32], maxTokens: Int, sampling: SamplingOptions = .greedy,
    presencePenalty: Float = 0, frequencyPenalty: Float = 0, stop: [String] = [],
    ignoresStopTokens: Bool = false
  ) {
    self.ignoresStopTokens = ignoresStopTokens
    self.prompt = prompt
    self.maxTokens = maxTokens
    self.sampling = sampling
    self.presencePenalty = presencePenalty
    self.frequencyPenalty = frequencyPenalty
    self.stop = stop
  }
}

/// A queued request: its events, and a way to give up on it.
public struct GenerationSubmission: Sendable {
  /// Text pieces, then one `finished` (or `failed`) event.
  public let events: GenerationEvents
  private let onCancel: @Sendable () -> Void

  init(events: GenerationEvents, onCancel: @escaping @Sendable () -> Void) {
    self.events = events
    self.onCancel = onCancel
  }

  /// Frees the request's batch slot at the next step (nothing more is generated).
  public func cancel() { onCancel() }
}

/// The events of one request, in order: text pieces, then one `finished` (or `failed`).
///
/// Iterate it (`for await event in events`), or take every event that is waiting at once with
/// ``take()`` (a streaming client that lags behind the decoding then gets its pieces in one
/// write). Cancelling the task that waits gives up on the request, as
/// ``GenerationSubmission/cancel()`` does.
public struct GenerationEvents: AsyncSequence, Sendable {
  public typealias Element = GenerationEvent
  public typealias Failure = Never

  let mailbox: EventMailbox

  /// Every event waiting now, else the next ones as soon as they come; empty after the last.
  public func take() async -> [GenerationEvent] { await mailbox.take() }

  public func makeAsyncIterator() -> Iterator { Iterator(mailbox: mailbox) }

  /// Hands out the events one by one.
  public struct Iterator: AsyncIteratorProtocol {
    let mailbox: EventMailbox
    var taken: [GenerationEvent] = []
    var index = 0

    public mutating func next() async -> GenerationEvent? {
      if index == taken.count {
        taken = await mailbox.take()
        index = 0
        if taken.isEmpty { return nil }
      }
      defer { index += 1 }
      return taken[index]
    }
  }
}

/// Events passed from the engine thread to the task of one request: posted one by one, taken
/// all at once.
final class EventMailbox: Sendable {
  private struct State {
    var events: [GenerationEvent] = []
    var waiter: CheckedContinuation<[GenerationEvent], Never>?
    var closed = false
    var abandoned = false
  }
  private let state = Mutex(State())
  /// Called once when the waiting task is cancelled.
  private let onAbandon: @Sendable () -> Void

  init(onAbandon: @escaping @Sendable () -> Void) {
    self.onAbandon = onAbandon
  }

  /// Adds `event` (the engine thread); with `last`, nothing follows it.
  func post(_ event: GenerationEvent, last: Bool = false) {
    let handed = state.withLock {
      state -> (CheckedContinuation<[GenerationEvent], Never>, [GenerationEvent])? in
      state.events.append(event)
      if last { state.closed = true }
      guard let waiter = state.waiter else { return nil }
      state.waiter = nil
      let events = state.events
      state.events = []
      return (waiter, events)
    }
    if let (waiter, events) = handed { waiter.resume(returning: events) }
  }

  /// Every event waiting, else the next ones; empty when the last has been taken or the task
  /// is cancelled.
  func take() async -> [GenerationEvent] {
    await withTaskCancellationHandler {
      await withCheckedContinuation {
        (continuation: CheckedContinuation<[GenerationEvent], Never>) in
        let ready = state.withLock { state -> [GenerationEvent]? in
          if !state.events.isEmpty {
            let events = state.events
            state.events = []
            return events
          }
          if state.closed || state.abandoned { return [] }
          state.waiter = continuation
          return nil
        }
        if let ready { continuation.resume(returning: ready) }
      }
    } onCancel: {
      let (waiter, first) = state.withLock { state in
        defer {
          state.abandoned = true
          state.waiter = nil
        }
        return (state.waiter, !state.abandoned)
      }
      waiter?.resume(returning: [])
      if first { onAbandon() }
    }
  }
}

/// Why a reply ended, as OpenAI's `finish_reason` names it.
public enum FinishReason: String, Sendable, Equatable {
  /// A stop token or stop string.
  case stop
  /// `maxTokens`, or the context is full.
  case length
}

/// What the engine reports about a request, in order: text pieces, then one `finished`.
public enum GenerationEvent: Sendable, Equatable {
  /// New text (whole characters, never a piece of a stop string that followed).
  case text(String)
  /// The reply is complete.
  case finished(GenerationSummary)
  /// Generation failed (decoding the tokens to text failed).
  case failed(String)
}

/// How a reply ended and what it cost.
public struct GenerationSummary: Sendable, Equatable {
  /// Why it ended.
  public var finishReason: FinishReason
  /// Tokens in the prompt.
  public var promptTokens: Int
  /// Tokens generated (a stop token included).
  public var completionTokens: Int
  /// The generated ids.
  public var tokens: [Int32]
}

/// The continuous-batching engine: one thread runs the model for every active request.
///
/// Each step it (1) drops requests whose client went away, (2) admits waiting requests into
/// free batch slots and prefills each one's prompt into its own ``KVCache`` (its first token
/// comes from the prefill), then (3) runs one ``Llama/decodeStep(_:caches:)`` over every
/// active sequence and hands each its next token. A finished sequence leaves the batch at
/// once; a newcomer joins at the next step. Each request samples with its own seeded
/// generator, and a sequence's logits depend on its batch companions only through float
/// rounding, so the same request with the same seed gets the same reply whatever else is being
/// served (unless a draw lands within rounding of a boundary between two tokens).
///
/// `@unchecked Sendable`: the model, caches and samplers are touched only by the engine
/// thread; what request tasks share with it (the queue, the counts, the cancel flags) is behind
/// a `Mutex` or atomic.
public final class GenerationEngine: @unchecked Sendable {
  /// The model served.
  public let served: ServedModel
  /// Sequences decoded together at most.
  public let maxBatch: Int
  /// Requests waiting for a slot at most; more are refused (429).
  public let maxQueue: Int

  private struct Shared {
    var waiting: [DecodingSequence] = []
    var running = 0
    var stopped = false
    var cancelled = 0
    var largestBatch = 0
  }
  private let shared = Mutex(Shared())
  private let wakeUp = DispatchSemaphore(value: 0)
  private let finishedRunning = DispatchSemaphore(value: 0)

  /// An engine for `served`; its thread starts at once and runs until ``shutdown()``.
  public init(served: ServedModel, maxBatch: Int = 8, maxQueue: Int = 64) {
    precondition(
      maxBatch > 0 && maxQueue >= 0, "GenerationEngine: batch \(maxBatch), queue \(maxQueue)")
    self.served = served
    self.maxBatch = maxBatch
    self.maxQueue = maxQueue
    let thread = Thread { [self] in run() }
    thread.name = "minillm-decode"
    thread.stackSize = 16 << 20
    thread.start()
  }

  /// Requests given up by their client before their reply was complete, since the start.
  public var cancelledCount: Int { shared.withLock { $0.cancelled } }

  /// The most sequences decoded in one step, since the start.
  public var largestBatch: Int { shared.withLock { $0.largestBatch } }

  /// Requests generating and waiting now.
  public var load: (running: Int, waiting: Int) {
    shared.withLock { ($0.running, $0.waiting.count) }
  }

  /// Queues `request`; its events arrive on the returned submission's stream. Cancelling it,
  /// or dropping the stream, frees the request's slot within one decoding step.
  /// - Throws: `APIError` 429 when the batch and the queue are full, 503 after `shutdown()`.
  public func submit(_ request: GenerationRequest) throws(APIError) -> GenerationSubmission {
    precondition(!request.prompt.isEmpty && request.maxTokens > 0, "submit: empty request")
    let cancelled = CancelFlag()
    let mailbox = EventMailbox { [weak self] in
      cancelled.set()
      self?.wakeUp.signal()
    }
    let sequence = DecodingSequence(
      request: request, mailbox: mailbox, cancelled: cancelled, served: served)
    try shared.withLock { (state: inout Shared) throws(APIError) -> Void in
      if state.stopped { throw APIError.unavailable }
      if state.running + state.waiting.count >= maxBatch + maxQueue {
        throw APIError.queueFull(batch: state.running, queue: state.waiting.count)
      }
      state.waiting.append(sequence)
    }
    wakeUp.signal()
    return GenerationSubmission(events: GenerationEvents(mailbox: mailbox)) { [weak self] in
      cancelled.set()
      self?.wakeUp.signal()
    }
  }

  /// Stops the engine: requests still waiting or generating end with a `failed` event, later
  /// submissions are refused (503). Returns when the decoding thread has finished.
  public func shutdown() {
    let alreadyStopped = shared.withLock { state in
      defer { state.stopped = true }
      return state.stopped
    }
    guard !alreadyStopped else { return }
    wakeUp.signal()
    finishedRunning.wait()
  }

  // MARK: The decoding thread

  /// Each sequence's next token from its row of `logits`, the rows spread over the threads.
  private static func choose(_ sequences: [DecodingSequence], logits: Tensor) -> [Int32] {
    let vocabulary = logits.shape[logits.rank - 1]
    return [Int32](unsafeUninitializedCapacity: sequences.count) { tokens, count in
      let out = UncheckedSendable(tokens.baseAddress!)
      logits.withUnsafeBufferPointer { rows in
        let rows = UncheckedSendable(rows.baseAddress!)
        parallelFor(sequences.count, grain: 1) { range in
          for row in range {
            let values = Array(
              UnsafeBufferPointer(start: rows.value + row * vocabulary, count: vocabulary))
            (out.value + row).initialize(to: sequences[row].choose(logits: values))
          }
        }
      }
      count = sequences.count
    }
  }

  private func run() {
    var active: [DecodingSequence] = []
    while true {
      let (admitted, stopped) = shared.withLock { state in
        let free = max(0, maxBatch - active.count)
        let taken = Array(state.waiting.prefix(free))
        state.waiting.removeFirst(taken.count)
        state.running = active.count + taken.count
        return (taken, state.stopped)
      }
      if stopped {
        let left = shared.withLock { state in
          defer { state.waiting.removeAll() }
          return state.waiting
        }
        for sequence in active + admitted + left { sequence.fail("the server is shutting down") }
        finishedRunning.signal()
        return
      }
      var dropped = admitted.count(where: \.isCancelled)
      for sequence in admitted where !sequence.isCancelled {
        sequence.prefill(model: served.model)
        if !sequence.isDone { active.append(sequence) }
      }
      dropped += active.count(where: { !$0.isDone && $0.isCancelled })
      active.removeAll { $0.isDone || $0.isCancelled }
      if dropped > 0 { shared.withLock { $0.cancelled += dropped } }
      if active.isEmpty {
        shared.withLock { $0.running = 0 }
        let idle = shared.withLock { $0.waiting.isEmpty && !$0.stopped }
        if idle { wakeUp.wait() }
        continue
      }
      let batch = active.count
      shared.withLock { $0.largestBatch = max($0.largestBatch, batch) }
      let logits = served.model.decodeStep(active.map(\.lastToken), caches: active.map(\.cache))
      // Each sequence samples from its own row with its own sampler, so the rows are drawn on
      // the worker threads (a large vocabulary's sort is otherwise serial work of the step);
      // the texts go out in row order.
      let tokens = Self.choose(active, logits: logits)
      for (sequence, token) in zip(active, tokens) { sequence.take(token) }
      // Cancelled sequences leave (and are counted) before the next step.
      active.removeAll { $0.isDone }
    }
  }
}

/// Set when a request's client gives up.
private final class CancelFlag: Sendable {
  private let value = Atomic(false)
  func set() { value.store(true, ordering: .relaxed) }
  var isSet: Bool { value.load(ordering: .relaxed) }
}

/// One request in the engine: its cache, sampler, text decoder and stop strings. Touched only
/// by the engine thread, apart from `cancelled` and the mailbox.
private final class DecodingSequence: @unchecked Sendable {
  let request: GenerationRequest
  let mailbox: EventMailbox
  let cancelled: CancelFlag
  let cache: KVCache
  private let stopTokens: Set<Int32>
  private let vocabularySize: Int
  private var sampler: Sampler
  private var decoder: IncrementalTextDecoder
  private var stopStrings: StopStrings
  private var history: [Int32]
  private var generated: [Int32] = []
  private var counts: [Int32: Int] = [:]
  private let budget: Int
  private(set) var isDone = false

  init(
    request: GenerationRequest, mailbox: EventMailbox, cancelled: CancelFlag, served: ServedModel
  ) {
    self.request = request
    self.mailbox = mailbox
    self.cancelled = cancelled
    budget = max(0, min(request.maxTokens, served.maxPositions - request.prompt.count))
    cache = served.model.makeCache(capacity: max(1, request.prompt.count + budget))
    stopTokens = request.ignoresStopTokens ? [] : served.stopTokenIDs
    vocabularySize = served.vocabularySize
    sampler = Sampler(request.sampling)
    decoder = IncrementalTextDecoder(tokenizer: served.renderer.tokenizer)
    stopStrings = StopStrings(request.stop)
    history = request.prompt
  }

  var isCancelled: Bool { cancelled.isSet }
  var lastToken: Int32 { generated[generated.count - 1] }

  /// Runs the prompt through the model into the cache and takes the first token.
  func prefill(model: Llama) {
    guard budget > 0 else {
      finish(.length)
      return
    }
    accept(logits: model.prefill(request.prompt, cache: cache))
  }

  /// Chooses the next token from `row` and hands out its text; ends the reply on a stop token,
  /// a stop string or the budget.
  func accept(logits row: [Float]) {
    take(choose(logits: row))
  }

  /// The next token from `row`, after the presence and frequency penalties; touches only this
  /// sequence's sampler.
  func choose(logits row: [Float]) -> Int32 {
    var row = row
    if request.presencePenalty != 0 || request.frequencyPenalty != 0 {
      for (token, count) in counts {
        row[Int(token)] -= request.presencePenalty + request.frequencyPenalty * Float(count)
      }
    }
    return sampler.next(logits: row, history: history)
  }

  /// Appends `token` and hands out its text; ends the reply on a stop token, a stop string or
  /// the budget.
  func take(_ token: Int32) {
    generated.append(token)
    history.append(token)
    counts[token, default: 0] += 1
    if stopTokens.contains(token) {
      finish(.stop)
      return
    }
    do {
      let (text, stopped) = stopStrings.append(try decoder.append(token))
      if !text.isEmpty { mailbox.post(.text(text)) }
      if stopped {
        finish(.stop, flush: false)
        return
      }
    } catch {
      fail("decoding the reply failed: \(error)")
      return
    }
    if generated.count >= budget { finish(.length) }
  }

  private func finish(_ reason: FinishReason, flush: Bool = true) {
    if flush {
      do {
        let (text, stopped) = stopStrings.append(try decoder.finish())
        let rest = text + (stopped ? "" : stopStrings.finish())
        if !rest.isEmpty { mailbox.post(.text(rest)) }
        if stopped {
          return end(.stop)
        }
      } catch {
        return fail("decoding the reply failed: \(error)")
      }
    }
    end(reason)
  }

  private func end(_ reason: FinishReason) {
    isDone = true
    mailbox.post(
      .finished(
        GenerationSummary(
          finishReason: reason, promptTokens: request.prompt.count,
          completionTokens: generated.count, tokens: generated)), last: true)
  }

  func fail(_ message: String) {
    isDone = true
    mailbox.post(.failed(message), last: true)
  }
}
