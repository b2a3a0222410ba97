import Foundation
import MiniEval
import MiniLlama
import MiniTensor
import TestSupport
import Testing

@Suite("EvalModel scoring")
struct ScoringTests {
  /// The log-probability of `continuation` after `context` from one uncached forward pass over
  /// the whole sequence, with the log-softmax written out in Float64.
  func reference(_ model: EvalModel, context: [Int32], continuation: [Int32]) -> Double {
    let input = Array((context + continuation).dropLast())
    let logits = model.model(input).value.scalars
    let vocabulary = model.model.config.vocabSize
    var total = 0.0
    for (offset, target) in continuation.enumerated() {
      let row = input.count - continuation.count + offset
      let values = logits[(row * vocabulary)..<((row + 1) * vocabulary)].map(Double.init)
      let maximum = values.max()!
      let logSum = log(values.reduce(0) { $0 + exp($1 - maximum) }) + maximum
      total += values[Int(target)] - logSum
    }
    return total
  }

  @Test func sharedPrefillEqualsOneForwardPassPerChoice() throws {
    let model = try characterModel()
    let context = try model.encode("what is the answer:")
    let continuations = try [" a", " bb", " ccc dd", " d"].map { try model.encode($0) }
    let shared = model.scoreTokens(context: context, continuations: continuations)
    #expect(shared.count == continuations.count)
    for (score, continuation) in zip(shared, continuations) {
      let expected = reference(model, context: context, continuation: continuation)
      // Float32 logits, Float64 sums: 1e-4 relative.
      #expect(abs(score.logLikelihood - expected) <= 1e-4 * abs(expected))
      #expect(score.tokenCount == continuation.count)
      let alone = model.scoreTokens(context: context, continuations: [continuation])[0]
      #expect(abs(alone.logLikelihood - score.logLikelihood) <= 1e-4 * abs(expected))
      #expect(alone.isGreedy == score.isGreedy)
    }
  }

  @Test func greedyFlagFollowsTheArgmax() throws {
    let model = try characterModel()
    let context = try model.encode("abc")
    // Extend the context greedily: that continuation is greedy by construction.
    var greedy: [Int32] = []
    for _ in 0..<3 {
      let logits = model.model.nextTokenLogits(context + greedy)
      greedy.append(Int32(logits.indices.max { logits[$0] < logits[$1] }!))
    }
    let scores = model.scoreTokens(context: context, continuations: [greedy])
    #expect(scores[0].isGreedy)
    let other = greedy.map { $0 == 2 ? 3 : 2 } as [Int32]
    #expect(!model.scoreTokens(context: context, continuations: [other])[0].isGreedy)
  }

  @Test func longInputsAreCutOnTheLeft() throws {
    let model = try characterModel(maxPositions: 16)
    let context = try model.encode("a long context that does not fit")
    let continuation = try model.encode(" abc")
    let score = model.scoreTokens(context: context, continuations: [continuation])[0]
    let kept = Array((context + continuation).suffix(17))
    let expected = reference(
      model, context: Array(kept.dropLast(continuation.count)), continuation: continuation)
    #expect(abs(score.logLikelihood - expected) <= 1e-4 * abs(expected))
  }

  @Test func trailingSpaceOfTheContextMovesToTheContinuation() throws {
    let model = try characterModel()
    let pair = try model.encodePair(context: "question: ", continuation: "a")
    #expect(pair.context == (try model.encode("question:")))
    #expect(pair.continuation == (try model.encode(" a")))
  }

  @Test func emptyContextIsThePrefixToken() throws {
    let model = try characterModel()
    let scores = try model.score(context: "", continuations: ["ab"])
    let expected = reference(model, context: [0], continuation: try model.encode("ab"))
    #expect(abs(scores[0].logLikelihood - expected) <= 1e-4 * abs(expected))
  }

  @Test(arguments: [1, 7, 16, 17, 40, 64])
  func rollingWindowsPredictEveryTokenOnce(length: Int) {
    let tokens = (0..<length).map { Int32(2 + $0 % 30) }
    let windows = EvalModel.rollingWindows(tokens: tokens, prefixToken: 0, maxLength: 16)
    #expect(windows.flatMap(\.continuation) == tokens)
    var predicted = 0
    for (index, window) in windows.enumerated() {
      #expect(window.context.count + window.continuation.count <= 17)
      #expect(!window.context.isEmpty)
      // The context is what precedes the predicted tokens (the prefix token at the start).
      let before = [0] + tokens.prefix(predicted)
      #expect(Array(before.suffix(window.context.count)) == window.context)
      if index > 0 { #expect(window.context.count + window.continuation.count == 17) }
      predicted += window.continuation.count
    }
  }

  @Test func rollingLogLikelihoodSumsTheWindows() throws {
    let model = try characterModel(maxPositions: 16)
    let text = "the model reads this text in windows of sixteen"
    let tokens = try model.encode(text)
    var expected = 0.0
    for window in EvalModel.rollingWindows(tokens: tokens, prefixToken: 0, maxLength: 16) {
      expected += reference(model, context: window.context, continuation: window.continuation)
    }
    let rolling = try model.rollingLogLikelihood(text)
    #expect(abs(rolling - expected) <= 1e-4 * abs(expected))
  }

  @Test func generationStopsAtTheFirstStopSequence() throws {
    let model = try characterModel()
    let free = try model.generate(context: "abc", until: [], maxTokens: 12)
    let ids = try model.encode("abc")
    let greedy = model.model.generate(
      prompt: ids,
      options: GenerationOptions(
        maxNewTokens: 12, sampling: SamplingOptions(greedy: true), stopTokens: [1]))
    let decoded = try model.tokenizer.decode(greedy.filter { $0 > 1 }.map(Int.init))
    #expect(free == decoded)
    guard let stop = free.dropFirst(2).first.map(String.init) else { return }
    let cut = try model.generate(context: "abc", until: [stop], maxTokens: 12)
    #expect(cut == String(free[..<free.range(of: stop)!.lowerBound]))
  }
}
