import Foundation
import MiniEval
import TestSupport
import Testing

@Suite("EvalMetrics")
struct MetricsTests {
  @Test func accNormDividesByTheChoiceLength() {
    // Raw: choice 0 wins; per character: -3/1 < -4/4, so choice 1 wins.
    let score = EvalMetrics.multipleChoice(
      logLikelihoods: [-3, -4], choices: ["a", "bbbb"], gold: 1)
    #expect(score.acc == 0)
    #expect(score.accNorm == 1)
  }

  @Test func accNormCountsCharactersAsPythonDoes() {
    // "日本語" is 3 characters (9 bytes): -3/3 = -1 beats -2.5/2.
    let score = EvalMetrics.multipleChoice(
      logLikelihoods: [-3, -2.5], choices: ["日本語", "ab"], gold: 0)
    #expect(score.acc == 0)
    #expect(score.accNorm == 1)
  }

  @Test func argmaxTakesTheFirstOfTies() {
    #expect(EvalMetrics.argmax([1, 3, 3, 2]) == 1)
  }

  @Test(arguments: [(3, 10), (1, 4), (7, 9)])
  func standardErrorOfAProportion(hits: Int, count: Int) {
    let values = (0..<count).map { $0 < hits ? 1.0 : 0.0 }
    let p = Double(hits) / Double(count)
    let expected = (p * (1 - p) / Double(count - 1)).squareRoot()
    #expect(abs(EvalMetrics.meanStandardError(values)! - expected) < 1e-12)
    #expect(EvalMetrics.meanStandardError([1]) == nil)
  }

  @Test func pooledMeanIsTheMeanOfAllItems() {
    let groups: [[Double]] = [[1, 0, 1], [0, 0, 0, 1, 1], [1]]
    let pooled = EvalMetrics.pooledMean(groups.map(EvalMetrics.mean), sizes: groups.map(\.count))
    #expect(abs(pooled - EvalMetrics.mean(groups.flatMap { $0 })) < 1e-12)
  }

  @Test func pooledStandardErrorOfEqualGroupsIsCloseToTheWholeOne() {
    let groups: [[Double]] = [[1, 0, 1, 0, 1, 1], [0, 1, 0, 1, 1, 0]]
    let errors = groups.map { EvalMetrics.meanStandardError($0)! }
    let pooled = EvalMetrics.pooledStandardError(errors, sizes: [6, 6])
    let whole = EvalMetrics.meanStandardError(groups.flatMap { $0 })!
    #expect(abs(pooled - whole) < 0.02)
  }

  @Test func perplexitiesAndBitsPerByte() {
    let items: [(logLikelihood: Double, weight: Int)] = [(-10, 4), (-6, 4)]
    let bytePerplexity = EvalMetrics.weightedPerplexity(items)
    #expect(abs(bytePerplexity - exp(2)) < 1e-12)
    #expect(abs(EvalMetrics.bitsPerByte(items) - log2(bytePerplexity)) < 1e-12)
    #expect(abs(EvalMetrics.perplexity([-1, -3]) - exp(2)) < 1e-12)
  }

  @Test func wordsAreSplitOnRunsOfWhiteSpace() {
    #expect(EvalMetrics.wordCount("a  b\tc\n") == 4)
    #expect(EvalMetrics.wordCount("one") == 1)
    #expect(EvalMetrics.wordCount("") == 1)
  }

  @Test func regexFilterSelectsAMatchOrFallsBack() {
    func filter(_ pattern: String, _ select: Int) -> TaskFilter {
      TaskFilter(
        name: "f",
        steps: [.regex(pattern: pattern, groupSelect: select, fallback: "[invalid]"), .takeFirst])
    }
    let text = "The answer is 42. Or maybe 7"
    #expect(EvalMetrics.apply(filter(#"(\d+)"#, 0), to: text) == "42")
    #expect(EvalMetrics.apply(filter(#"(\d+)"#, -1), to: text) == "7")
    #expect(EvalMetrics.apply(filter(#"(x)|(\d+)"#, 0), to: text) == "42")
    #expect(EvalMetrics.apply(filter(#"#### (\d+)"#, 0), to: text) == "[invalid]")
  }

  @Test func exactMatchOptions() {
    var metric = TaskMetric(name: "exact_match")
    #expect(EvalMetrics.exactMatch(prediction: "Paris.", reference: "paris", metric: metric) == 0)
    metric.ignoreCase = true
    metric.ignorePunctuation = true
    #expect(EvalMetrics.exactMatch(prediction: "Paris.", reference: "paris", metric: metric) == 1)
    metric.regexesToIgnore = ["^the "]
    #expect(
      EvalMetrics.exactMatch(prediction: "the paris", reference: "Paris", metric: metric) == 1)
  }
}

@Suite("PythonRandom")
struct PythonRandomTests {
  static let script = """
    import json, random
    r = random.Random(1234)
    bits = [r.getrandbits(32) for _ in range(5)]
    small = r.sample(list(range(30)), 5)
    large = r.sample(list(range(100)), 8)
    below = [r.randrange(7) for _ in range(5)]
    items = list(range(10)); r.shuffle(items)
    floats = [repr(r.random()) for _ in range(5)]
    choices = r.choices(list(range(13)), k=20)
    print(json.dumps({"bits": bits, "small": small, "large": large, "below": below, "shuffled": items,
                      "floats": floats, "choices": choices,
                      "seed0": random.Random(0).getrandbits(32), "big": random.Random(2**40 + 5).getrandbits(32)}))
    """

  @Test("equals CPython's random.Random", .requires(.python("random")))
  func equalsCPython() throws {
    let python = try PythonRunner.requirePeers(importing: ["random"])
    let output = try python.run(["-c", Self.script]).get()
    let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    var random = PythonRandom(seed: 1234)
    #expect((0..<5).map { _ in Int(random.randomBits(32)) } == object["bits"] as? [Int])
    #expect(random.sample(Array(0..<30), count: 5) == object["small"] as? [Int])
    #expect(random.sample(Array(0..<100), count: 8) == object["large"] as? [Int])
    #expect((0..<5).map { _ in random.below(7) } == object["below"] as? [Int])
    var items = Array(0..<10)
    random.shuffle(&items)
    #expect(items == object["shuffled"] as? [Int])
    // As repr() texts: Double(_:) reads them exactly (JSONSerialization may be a bit off).
    let floats = try #require(object["floats"] as? [String]).map { Double($0) }
    #expect((0..<5).map { _ in random.random() } == floats)
    #expect(random.choices(Array(0..<13), count: 20) == object["choices"] as? [Int])
    var zero = PythonRandom(seed: 0)
    #expect(Int(zero.randomBits(32)) == object["seed0"] as? Int)
    var big = PythonRandom(seed: 1 << 40 + 5)
    #expect(Int(big.randomBits(32)) == object["big"] as? Int)
  }
}
