import Foundation

/// The harness's metric arithmetic: per-item scores, their aggregation, standard errors and the
/// size-weighted pooling of groups.
public enum EvalMetrics {
  /// Index of the largest value (the first on ties, as `np.argmax`).
  public static func argmax(_ values: [Double]) -> Int {
    var best = 0
    for index in values.indices where values[index] > values[best] { best = index }
    return best
  }

  /// `acc` and `acc_norm` of one multiple-choice item: whether the most likely choice, and the
  /// most likely per character (Unicode scalar, Python's `len`) of the choice's text, is `gold`.
  public static func multipleChoice(
    logLikelihoods: [Double], choices: [String], gold: Int
  ) -> (acc: Double, accNorm: Double) {
    let normalized = zip(logLikelihoods, choices).map { $0 / Double($1.unicodeScalars.count) }
    return (
      argmax(logLikelihoods) == gold ? 1 : 0, argmax(normalized) == gold ? 1 : 0
    )
  }

  /// The mean.
  public static func mean(_ values: [Double]) -> Double {
    values.reduce(0, +) / Double(values.count)
  }

  /// The standard error of the mean with the sample standard deviation (`mean_stderr`); `nil`
  /// for fewer than two values (the harness reports `N/A`).
  public static func meanStandardError(_ values: [Double]) -> Double? {
    guard values.count > 1 else { return nil }
    let mu = mean(values)
    let variance = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(values.count - 1)
    return variance.squareRoot() / Double(values.count).squareRoot()
  }

  /// The harness's `bootstrap_stderr(statistic, items, iters)`: the sample standard deviation
  /// of `statistic` over `iterations` resamples of `items` with replacement, drawn in chunks of
  /// `min(1000, iterations)` resamples, chunk `i` from `random.Random(i).choices` (so the figure
  /// is the harness's to the last bit); `nil` for fewer than two items (`N/A`).
  public static func bootstrapStandardError(
    _ statistic: ([Double]) -> Double, _ items: [Double], iterations: Int = 100_000
  ) -> Double? {
    guard items.count > 1, iterations > 0 else { return nil }
    let chunk = min(1000, iterations)
    var statistics: [Double] = []
    statistics.reserveCapacity(iterations / chunk * chunk)
    var resample = items
    let count = Double(items.count)
    for seed in 0..<(iterations / chunk) {
      var random = PythonRandom(seed: seed)
      for _ in 0..<chunk {
        for index in resample.indices { resample[index] = items[Int(random.random() * count)] }
        statistics.append(statistic(resample))
      }
    }
    guard statistics.count > 1 else { return nil }
    // `sample_stddev`: Python's `(x - mu) ** 2` is the C library's `pow`, summed in order.
    let mu = mean(statistics)
    let variance = statistics.reduce(0) { $0 + pow($1 - mu, 2) } / Double(statistics.count - 1)
    return variance.squareRoot()
  }

  /// `exp(-Σ logLikelihood / Σ weight)`: word or byte perplexity (`weighted_perplexity`).
  public static func weightedPerplexity(_ items: [(logLikelihood: Double, weight: Int)]) -> Double {
    exp(-weightedMean(items))
  }

  /// `-Σ logLikelihood / Σ bytes / ln 2`.
  public static func bitsPerByte(_ items: [(logLikelihood: Double, weight: Int)]) -> Double {
    -weightedMean(items) / log(2)
  }

  /// `exp(-mean(logLikelihood))` (`perplexity`).
  public static func perplexity(_ logLikelihoods: [Double]) -> Double {
    exp(-mean(logLikelihoods))
  }

  static func weightedMean(_ items: [(logLikelihood: Double, weight: Int)]) -> Double {
    items.reduce(0) { $0 + $1.logLikelihood } / Double(items.reduce(0) { $0 + $1.weight })
  }

  /// Words of a text as the harness counts them: `len(re.split(r"\s+", text))`.
  public static func wordCount(_ text: String) -> Int {
    var count = 1
    var inSpace = false
    for scalar in text.unicodeScalars {
      let space = pythonWhitespace(scalar)
      if space && !inSpace { count += 1 }
      inSpace = space
    }
    return count
  }

  /// `\s` of Python's `re` on `str`.
  static func pythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
    default: return scalar.properties.isWhitespace
    }
  }

  /// The size-weighted mean of subtasks' scores (a group's score).
  public static func pooledMean(_ scores: [Double], sizes: [Int]) -> Double {
    zip(scores, sizes).reduce(0) { $0 + $1.0 * Double($1.1) } / Double(sizes.reduce(0, +))
  }

  /// The harness's `pooled_sample_stderr`: the pooled variance of subtasks of `sizes` items with
  /// standard errors `errors`, as the standard error of the group's mean.
  public static func pooledStandardError(_ errors: [Double], sizes: [Int]) -> Double {
    let total = Double(sizes.reduce(0, +))
    let numerator = zip(errors, sizes).reduce(0.0) {
      $0 + Double($1.1 - 1) * $1.0 * $1.0 * Double($1.1)
    }
    return (numerator / (total - Double(sizes.count)) / total).squareRoot()
  }

  /// `exact_match` of one prediction: 1 when equal after removing `regexesToIgnore` matches, and
  /// optionally case and ASCII punctuation.
  public static func exactMatch(prediction: String, reference: String, metric: TaskMetric) -> Double
  {
    func normalized(_ text: String) -> String {
      var text = text
      for pattern in metric.regexesToIgnore {
        if let regex = try? NSRegularExpression(pattern: pattern) {
          text = regex.stringByReplacingMatches(
            in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "")
        }
      }
      if metric.ignoreCase { text = text.lowercased() }
      if metric.ignorePunctuation {
        let punctuation = Set(##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##.unicodeScalars)
        text = String(
          String.UnicodeScalarView(text.unicodeScalars.filter { !punctuation.contains($0) }))
      }
      return text
    }
    return normalized(prediction) == normalized(reference) ? 1 : 0
  }

  /// Applies a filter pipeline to one response.
  public static func apply(_ filter: TaskFilter, to response: String) -> String {
    var text = response
    for step in filter.steps {
      switch step {
      case .takeFirst: continue
      case .lowercase: text = text.lowercased()
      case .uppercase: text = text.uppercased()
      case .removeWhitespace: text = String(text.drop { $0 == " " })
      case .regex(let pattern, let groupSelect, let fallback):
        text = regexSelect(text, pattern: pattern, groupSelect: groupSelect, fallback: fallback)
      }
    }
    return text
  }

  /// `RegexFilter`: `re.findall(pattern, text)[groupSelect]` (negative indices from the end),
  /// the first non-empty group of a match with several groups, stripped; else `fallback`.
  static func regexSelect(_ text: String, pattern: String, groupSelect: Int, fallback: String)
    -> String
  {
    guard let regex = try? NSRegularExpression(pattern: pattern) else { return fallback }
    let matches = regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
    guard !matches.isEmpty else { return fallback }
    let index = groupSelect < 0 ? matches.count + groupSelect : groupSelect
    guard matches.indices.contains(index) else { return fallback }
    let match = matches[index]
    func group(_ number: Int) -> String {
      guard let range = Range(match.range(at: number), in: text) else { return "" }
      return String(text[range])
    }
    let selected: String
    switch match.numberOfRanges {
    case 1: selected = group(0)
    case 2: selected = group(1)
    default:
      let groups = (1..<match.numberOfRanges).map(group)
      guard let first = groups.first(where: { !$0.isEmpty }) else { return fallback }
      selected = first
    }
    return selected.trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
