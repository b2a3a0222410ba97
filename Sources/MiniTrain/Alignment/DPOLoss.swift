import Foundation
import MiniAutograd
import MiniTensor

/// The direct preference optimisation losses, as TRL's `DPOTrainer` defines them.
///
/// With `πc, πr` the policy's and `ρc, ρr` the reference's log-likelihoods of a pair's chosen and
/// rejected replies, and `d = (πc − πr) − (ρc − ρr)`:
/// - `sigmoid`: `−(1 − ε)·log σ(β·d) − ε·log σ(−β·d)` (DPO; `ε` the label smoothing of cDPO),
/// - `ipo`: `(d − 1/(2β))²`, with per-token mean log-likelihoods as TRL uses for IPO,
/// - `hinge`: `max(0, 1 − β·d)` (SLiC).
///
/// The loss of a batch is the mean over its pairs. The implicit rewards are
/// `β·(πc − ρc)` and `β·(πr − ρr)`.
public struct DPOLoss: Sendable, Equatable, Codable {
  /// Which loss.
  public enum Kind: String, Sendable, Codable, CaseIterable {
    /// `−log σ(β·d)`, optionally label-smoothed.
    case sigmoid
    /// Identity preference optimisation: `(d − 1/(2β))²`.
    case ipo
    /// `max(0, 1 − β·d)`.
    case hinge
  }

  /// Which loss.
  public var kind: Kind
  /// The strength of the tie to the reference (`β`; IPO's `τ`).
  public var beta: Double
  /// The assumed probability that a pair's preference is flipped (`sigmoid` only).
  public var labelSmoothing: Double

  /// A loss; the defaults are TRL's (DPO with β = 0.1, no smoothing).
  public init(kind: Kind = .sigmoid, beta: Double = 0.1, labelSmoothing: Double = 0) {
    self.kind = kind
    self.beta = beta
    self.labelSmoothing = labelSmoothing
  }

  /// Checks the settings.
  /// - Throws: ``TrainerError/invalidConfiguration(_:)`` naming the setting.
  public func validate() throws {
    guard beta > 0 && beta.isFinite else {
      throw TrainerError.invalidConfiguration("beta must be > 0, got \(beta)")
    }
    guard labelSmoothing >= 0 && labelSmoothing < 0.5 else {
      throw TrainerError.invalidConfiguration(
        "label_smoothing must be in [0, 0.5), got \(labelSmoothing)")
    }
    guard labelSmoothing == 0 || kind == .sigmoid else {
      throw TrainerError.invalidConfiguration(
        "label_smoothing applies to the sigmoid loss only, not \(kind.rawValue)")
    }
  }

  /// Whether a reply's score is its per-token mean log-likelihood (IPO) rather than the sum.
  public var averagesTokens: Bool { kind == .ipo }

  enum CodingKeys: String, CodingKey {
    case kind = "loss_type"
    case beta
    case labelSmoothing = "label_smoothing"
  }

  /// The loss of one batch.
  /// - Parameters:
  ///   - policy: the policy's summed reply log-likelihoods `[2P]`, chosen rows first (as
  ///     ``MiniLlama/Llama/answerLogProbabilities(_:tape:)`` returns them).
  ///   - reference: the reference model's, the same way (constants).
  ///   - answerLengths: reply tokens per row (for the per-token means of IPO).
  /// - Returns: the mean loss as one tape node, and the per-pair figures.
  public func callAsFunction(policy: Variable, reference: [Float], answerLengths: [Int])
    -> DPOLossOutput
  {
    let rows = policy.count
    precondition(
      rows > 0 && rows % 2 == 0 && policy.shape == [rows] && reference.count == rows
        && answerLengths.count == rows && answerLengths.allSatisfy { $0 > 0 },
      "DPOLoss: policy \(policy.shape), reference [\(reference.count)], answer lengths "
        + "[\(answerLengths.count)]")
    let pairs = rows / 2
    let scale = answerLengths.map { averagesTokens ? 1 / Double($0) : 1 }
    let policyValues = policy.value.scalars
    let pi = (0..<rows).map { Double(policyValues[$0]) * scale[$0] }
    let ref = (0..<rows).map { Double(reference[$0]) * scale[$0] }
    var output = DPOLossOutput(pairCount: pairs)
    var slopes = [Double](repeating: 0, count: pairs)
    for p in 0..<pairs {
      let d = (pi[p] - pi[pairs + p]) - (ref[p] - ref[pairs + p])
      let (loss, slope) = pairLoss(d)
      output.pairLosses[p] = loss
      slopes[p] = slope
      output.chosenLogProbabilities[p] = pi[p]
      output.rejectedLogProbabilities[p] = pi[pairs + p]
      output.chosenRewards[p] = beta * (pi[p] - ref[p])
      output.rejectedRewards[p] = beta * (pi[pairs + p] - ref[pairs + p])
    }
    let mean = output.pairLosses.reduce(0, +) / Double(pairs)
    output.loss = Variable.operation(inputs: [policy], value: Tensor(Float(mean))) { dLoss in
      let g = Double(dLoss.item) / Double(pairs)
      var gradient = [Float](repeating: 0, count: rows)
      for p in 0..<pairs {
        gradient[p] = Float(g * slopes[p] * scale[p])
        gradient[pairs + p] = Float(-g * slopes[p] * scale[pairs + p])
      }
      return [Tensor(gradient, shape: [rows])]
    }
    return output
  }

  /// A pair's loss and its derivative with respect to `d`.
  func pairLoss(_ d: Double) -> (loss: Double, slope: Double) {
    switch kind {
    case .sigmoid:
      let x = beta * d
      let e = labelSmoothing
      let loss = -(1 - e) * stableLogSigmoid(x) - e * stableLogSigmoid(-x)
      return (loss, beta * (-(1 - e) * stableSigmoid(-x) + e * stableSigmoid(x)))
    case .ipo:
      let offset = d - 1 / (2 * beta)
      return (offset * offset, 2 * offset)
    case .hinge:
      let margin = 1 - beta * d
      return margin > 0 ? (margin, -beta) : (0, 0)
    }
  }
}

/// `log σ(x)` without overflow.
func stableLogSigmoid(_ x: Double) -> Double {
  x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x))
}

/// `σ(x)` without overflow.
func stableSigmoid(_ x: Double) -> Double {
  x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}

/// What ``DPOLoss`` computes for a batch of `P` pairs.
public struct DPOLossOutput {
  /// The mean loss over the pairs (on the policy's tape).
  public var loss = Variable(Tensor(0))
  /// Each pair's loss.
  public var pairLosses: [Double]
  /// `β·(πc − ρc)` per pair.
  public var chosenRewards: [Double]
  /// `β·(πr − ρr)` per pair.
  public var rejectedRewards: [Double]
  /// The policy's chosen-reply scores (sums, or per-token means for IPO).
  public var chosenLogProbabilities: [Double]
  /// The policy's rejected-reply scores.
  public var rejectedLogProbabilities: [Double]

  init(pairCount: Int) {
    pairLosses = Array(repeating: 0, count: pairCount)
    chosenRewards = pairLosses
    rejectedRewards = pairLosses
    chosenLogProbabilities = pairLosses
    rejectedLogProbabilities = pairLosses
  }

  /// Means over the pairs under the keys of `metrics.jsonl`: `chosen_reward`,
  /// `rejected_reward`, `reward_accuracy` (the fraction of pairs whose chosen reward is
  /// higher), `margin` (chosen minus rejected reward), `chosen_logp` and `rejected_logp`.
  /// (The loss itself is logged as `loss` by the trainer.)
  public var metrics: [String: Double] {
    let count = Double(pairLosses.count)
    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / count }
    let wins = zip(chosenRewards, rejectedRewards).filter { $0 > $1 }.count
    return [
      "chosen_reward": mean(chosenRewards), "rejected_reward": mean(rejectedRewards),
      "reward_accuracy": Double(wins) / count,
      "margin": mean(zip(chosenRewards, rejectedRewards).map { $0 - $1 }),
      "chosen_logp": mean(chosenLogProbabilities),
      "rejected_logp": mean(rejectedLogProbabilities),
    ]
  }
}
