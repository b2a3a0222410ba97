import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// The figures of three pairs: policy and reference summed log-likelihoods (chosen rows
/// first) and reply lengths, chosen so that the pairs fall on both sides of every kink.
enum DPOFixture {
  static let policy: [Float] = [-12.5, -30.25, -7.0, -15.0, -22.0, -9.5]
  static let reference: [Float] = [-13.0, -28.0, -8.25, -14.0, -25.5, -8.0]
  static let lengths = [5, 11, 3, 6, 9, 4]
  static let kinds: [(DPOLoss.Kind, Double, Double)] = [
    (.sigmoid, 0.1, 0), (.sigmoid, 0.5, 0.2), (.ipo, 0.1, 0), (.ipo, 2, 0), (.hinge, 0.1, 0),
    (.hinge, 1.5, 0),
  ]
}

/// The losses and rewards written out independently, in the form TRL's `dpo_loss` states them.
struct HandDPO {
  var losses: [Double] = []
  var chosenRewards: [Double] = []
  var rejectedRewards: [Double] = []
  var chosenScores: [Double] = []
  var rejectedScores: [Double] = []

  init(kind: DPOLoss.Kind, beta: Double, smoothing: Double) {
    let p = DPOFixture.policy.count / 2
    func score(_ values: [Float], _ i: Int) -> Double {
      kind == .ipo ? Double(values[i]) / Double(DPOFixture.lengths[i]) : Double(values[i])
    }
    for i in 0..<p {
      let (pc, pr) = (score(DPOFixture.policy, i), score(DPOFixture.policy, p + i))
      let (rc, rr) = (score(DPOFixture.reference, i), score(DPOFixture.reference, p + i))
      let logits = (pc - pr) - (rc - rr)
      func logSigmoid(_ x: Double) -> Double { -log(1 + exp(-x)) }
      switch kind {
      case .sigmoid:
        losses.append(
          -logSigmoid(beta * logits) * (1 - smoothing) - logSigmoid(-beta * logits) * smoothing)
      case .ipo: losses.append(pow(logits - 1 / (2 * beta), 2))
      case .hinge: losses.append(max(0, 1 - beta * logits))
      }
      chosenRewards.append(beta * (pc - rc))
      rejectedRewards.append(beta * (pr - rr))
      chosenScores.append(pc)
      rejectedScores.append(pr)
    }
  }
}

@Suite("DPO loss")
struct DPOLossTests {
  static func output(_ kind: DPOLoss.Kind, _ beta: Double, _ smoothing: Double, tape: Tape? = nil)
    -> DPOLossOutput
  {
    let policy = Tensor(DPOFixture.policy, shape: [6])
    let criterion = DPOLoss(kind: kind, beta: beta, labelSmoothing: smoothing)
    return criterion(
      policy: tape?.variable(policy) ?? Variable(policy), reference: DPOFixture.reference,
      answerLengths: DPOFixture.lengths)
  }

  @Test(arguments: 0..<DPOFixture.kinds.count)
  func lossAndRewardsEqualTheHandComputation(index: Int) {
    let (kind, beta, smoothing) = DPOFixture.kinds[index]
    let hand = HandDPO(kind: kind, beta: beta, smoothing: smoothing)
    let ours = Self.output(kind, beta, smoothing)
    let toFloat = { (values: [Double]) in values.map(Float.init) }
    // Tolerance: Float32 inputs, Double arithmetic on both sides.
    expectClose(toFloat(ours.pairLosses), toFloat(hand.losses), rtol: 1e-6, atol: 1e-7)
    expectClose(toFloat(ours.chosenRewards), toFloat(hand.chosenRewards), rtol: 1e-6, atol: 1e-7)
    expectClose(
      toFloat(ours.rejectedRewards), toFloat(hand.rejectedRewards), rtol: 1e-6, atol: 1e-7)
    let mean = hand.losses.reduce(0, +) / 3
    #expect(abs(Double(ours.loss.value.item) - mean) <= 1e-6 * max(1, mean))
    let metrics = ours.metrics
    let margins = zip(hand.chosenRewards, hand.rejectedRewards).map { $0 - $1 }
    #expect(abs(metrics["margin"]! - margins.reduce(0, +) / 3) < 1e-9)
    #expect(metrics["reward_accuracy"]! == Double(margins.filter { $0 > 0 }.count) / 3)
    #expect(abs(metrics["chosen_reward"]! - hand.chosenRewards.reduce(0, +) / 3) < 1e-9)
    #expect(abs(metrics["rejected_reward"]! - hand.rejectedRewards.reduce(0, +) / 3) < 1e-9)
    #expect(abs(metrics["chosen_logp"]! - hand.chosenScores.reduce(0, +) / 3) < 1e-9)
    #expect(abs(metrics["rejected_logp"]! - hand.rejectedScores.reduce(0, +) / 3) < 1e-9)
    #expect(metrics["loss"] == nil)
  }

  @Test(.requires(.python("numpy"))) func lossAndRewardsEqualNumPy() throws {
    let python = try PythonRunner.requirePeers(importing: ["numpy"]).executable
    let script = """
      import json, sys
      import numpy as np
      d = json.loads(sys.argv[1])
      pol, ref, n = np.array(d["policy"], np.float64), np.array(d["reference"], np.float64), np.array(d["lengths"], np.float64)
      out = []
      for kind, beta, eps in d["kinds"]:
          if kind == "ipo":
              p, r = pol / n, ref / n
          else:
              p, r = pol, ref
          P = len(p) // 2
          logits = (p[:P] - p[P:]) - (r[:P] - r[P:])
          logsig = lambda x: -np.logaddexp(0, -x)
          if kind == "sigmoid":
              losses = -logsig(beta * logits) * (1 - eps) - logsig(-beta * logits) * eps
          elif kind == "ipo":
              losses = (logits - 1 / (2 * beta)) ** 2
          else:
              losses = np.maximum(0, 1 - beta * logits)
          out.append({"loss": losses.mean(), "chosen": (beta * (p[:P] - r[:P])).tolist(),
                      "rejected": (beta * (p[P:] - r[P:])).tolist()})
      print(json.dumps(out))
      """
    let input: [String: Any] = [
      "policy": DPOFixture.policy.map(Double.init),
      "reference": DPOFixture.reference.map(Double.init), "lengths": DPOFixture.lengths,
      "kinds": DPOFixture.kinds.map { [$0.0.rawValue, $0.1, $0.2] as [Any] },
    ]
    let json = String(decoding: try JSONSerialization.data(withJSONObject: input), as: UTF8.self)
    var stderr = ""
    let data = try #require(
      runProcess(python, ["-c", script, json], errorOutput: &stderr), "python: \(stderr)")
    let results = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    #expect(results.count == DPOFixture.kinds.count)
    for (result, (kind, beta, smoothing)) in zip(results, DPOFixture.kinds) {
      let ours = Self.output(kind, beta, smoothing)
      let loss = try #require(result["loss"] as? Double)
      #expect(
        abs(Double(ours.loss.value.item) - loss) <= 1e-6 * max(1, abs(loss)),
        "\(kind) β \(beta) ε \(smoothing)")
      let chosen = try #require(result["chosen"] as? [Double]).map(Float.init)
      let rejected = try #require(result["rejected"] as? [Double]).map(Float.init)
      expectClose(ours.chosenRewards.map(Float.init), chosen, rtol: 1e-6, atol: 1e-7)
      expectClose(ours.rejectedRewards.map(Float.init), rejected, rtol: 1e-6, atol: 1e-7)
    }
  }

  @Test(arguments: 0..<DPOFixture.kinds.count)
  func gradientPassesFiniteDifferences(index: Int) {
    let (kind, beta, smoothing) = DPOFixture.kinds[index]
    let criterion = DPOLoss(kind: kind, beta: beta, labelSmoothing: smoothing)
    let report = GradientCheck.check(
      inputs: [Tensor(DPOFixture.policy, shape: [6])], step: 1e-2, absoluteTolerance: 1e-4,
      relativeTolerance: 1e-3
    ) { _, v in
      criterion(policy: v[0], reference: DPOFixture.reference, answerLengths: DPOFixture.lengths)
        .loss
    }
    #expect(report.passed, "\(report)")
  }

  @Test func pairwiseRewardLossIsMeanNegativeLogSigmoidAndPassesFiniteDifferences() {
    let rewards: [Float] = [1.5, -0.25, 0.75, 0.5, 0.5, 2.0]
    let loss = pairwiseRewardLoss(Variable(Tensor(rewards, shape: [6]))).value.item
    var expected = 0.0
    for p in 0..<3 {
      let difference = Double(rewards[p]) - Double(rewards[3 + p])
      expected += log(1 + exp(-difference)) / 3
    }
    #expect(abs(Double(loss) - expected) < 1e-6)
    let report = GradientCheck.check(inputs: [Tensor(rewards, shape: [6])]) { _, v in
      pairwiseRewardLoss(v[0])
    }
    #expect(report.passed, "\(report)")
  }

  @Test func invalidSettingsAreRejected() {
    #expect(throws: TrainerError.self) { try DPOLoss(beta: 0).validate() }
    #expect(throws: TrainerError.self) { try DPOLoss(labelSmoothing: 0.5).validate() }
    #expect(throws: TrainerError.self) {
      try DPOLoss(kind: .hinge, labelSmoothing: 0.1).validate()
    }
    #expect((try? DPOLoss(kind: .sigmoid, beta: 0.3, labelSmoothing: 0.1).validate()) != nil)
  }
}
