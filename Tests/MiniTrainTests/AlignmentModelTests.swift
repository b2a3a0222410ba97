import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// Compares the tape's gradient of `loss` with central differences for `perParameter` randomly
/// chosen elements of every parameter of `arena` (all of them perturbed through
/// `numericalGradient`, one at a time). Returns the number of elements checked.
@discardableResult
func checkParameterGradients(
  arena: ParameterArena, perParameter: Int = 2, seed: UInt64 = 7,
  sourceLocation: SourceLocation = #_sourceLocation, loss: (Tape?) -> Variable
) -> Int {
  arena.zeroGradients()
  let tape = Tape()
  tape.backward(from: loss(tape))
  var rng = PhiloxRNG(seed: seed)
  var sampled: [(parameter: Parameter, index: Int, analytic: Float)] = []
  for parameter in arena.parameters {
    let gradient = parameter.gradient.scalars
    for _ in 0..<perParameter {
      let i = Int(rng.nextUInt32() % UInt32(parameter.count))
      sampled.append((parameter, i, gradient[i]))
    }
  }
  let original = sampled.map { $0.parameter.value.scalars[$0.index] }
  func set(_ values: [Float]) {
    for (k, entry) in sampled.enumerated() {
      var scalars = entry.parameter.value.scalars
      scalars[entry.index] = values[k]
      entry.parameter.assign(Tensor(scalars, shape: entry.parameter.shape))
    }
  }
  let numeric = numericalGradient(
    of: { values in
      set(values)
      return Double(loss(nil).value.item)
    }, at: original, step: 1e-2)
  set(original)
  // The check means something only when many gradients are well above the tolerance.
  let large = numeric.filter { abs($0) > 2e-2 }.count
  #expect(
    large * 3 >= numeric.count, "only \(large) of \(numeric.count) gradients exceed 2e-2",
    sourceLocation: sourceLocation)
  for (k, entry) in sampled.enumerated() {
    // Tolerance: 2e-3 absolute + 3% relative (Float32 loss, step 1e-2).
    #expect(
      abs(entry.analytic - numeric[k]) <= 2e-3 + 0.03 * abs(numeric[k]),
      "\(entry.parameter.name)[\(entry.index)]: analytic \(entry.analytic) vs numeric \(numeric[k])",
      sourceLocation: sourceLocation)
  }
  return sampled.count
}

@Suite("DPO and reward models")
struct AlignmentModelTests {
  static func config(tied: Bool = false) -> LlamaConfig {
    LlamaConfig(
      vocabSize: 40, hiddenSize: 24, intermediateSize: 40, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 48, tieWordEmbeddings: tied, initializerRange: 0.2)
  }

  static func batch(pairs: Int = 3, seed: UInt64 = 2) throws -> PreferenceBatch {
    let dataset = try randomPreferenceDataset(pairs: pairs, vocabulary: 40, seed: seed)
    return PreferencePairs(dataset: dataset).batch(0..<pairs)
  }

  @Test func answerLogProbabilitiesSumTheRepliesTokens() throws {
    let model = Llama(config: Self.config(), seed: 1)
    let batch = try Self.batch()
    let scores = model.answerLogProbabilities(batch).value.scalars
    let logits = model(batch.tokens, batch: batch.rows).value.scalars
    let (t, v) = (batch.sequenceLength, 40)
    for row in 0..<batch.rows {
      var total = 0.0
      for position in (batch.promptLengths[row] - 1)..<(batch.lengths[row] - 1) {
        let offset = (row * t + position) * v
        let slice = logits[offset..<(offset + v)].map(Double.init)
        let top = slice.max()!
        let logSum = top + log(slice.map { exp($0 - top) }.reduce(0, +))
        total += slice[Int(batch.tokens[row * t + position + 1])] - logSum
      }
      // Tolerance: Float32 log-softmax summed over a few tokens.
      #expect(abs(Double(scores[row]) - total) < 1e-4 * max(1, abs(total)), "row \(row)")
    }
  }

  @Test(arguments: [0.0, 0.3])
  func sigmoidLossIsLn2ForEveryPairWhenThePolicyIsTheReference(smoothing: Double) throws {
    let policy = Llama(config: Self.config(), seed: 3)
    let reference = Llama(config: Self.config(), seed: 3)
    let pairs = PreferencePairs(dataset: try randomPreferenceDataset(pairs: 6, vocabulary: 40))
    let batch = pairs.batch(0..<6)
    let criterion = DPOLoss(beta: 0.1, labelSmoothing: smoothing)
    let objective = DPOObjective(policy: policy, reference: .model(reference), criterion: criterion)
    let output = criterion(
      policy: policy.answerLogProbabilities(batch, tape: Tape()),
      reference: try objective.referenceScores(batch), answerLengths: batch.answerLengths)
    for (p, loss) in output.pairLosses.enumerated() {
      #expect(abs(loss - log(2)) < 1e-7, "pair \(p): \(loss)")
    }
    #expect(output.chosenRewards.allSatisfy { abs($0) < 1e-7 })
    let mean = try objective.loss(on: batch, tape: Tape()).loss.value.item
    #expect(abs(Double(mean) - log(2)) < 1e-6)

    // Cached reference values, computed in batches of another composition and padding.
    let cache = ReferenceLogProbabilities.compute(model: reference, pairs: pairs, batchSize: 4)
    #expect(cache.computedCount == 6)
    let cached = DPOObjective(policy: policy, reference: .cached(cache), criterion: criterion)
    let cachedOutput = criterion(
      policy: policy.answerLogProbabilities(batch), reference: try cached.referenceScores(batch),
      answerLengths: batch.answerLengths)
    for loss in cachedOutput.pairLosses {
      // Tolerance: the reference rows were padded to other widths (GEMM rounding only).
      #expect(abs(loss - log(2)) < 1e-5)
    }
  }

  @Test(arguments: [DPOLoss.Kind.sigmoid, .ipo, .hinge])
  func dpoGradientThroughTheWholeModelPassesFiniteDifferences(kind: DPOLoss.Kind) throws {
    let policy = Llama(config: Self.config(tied: kind == .ipo), seed: 4)
    let reference = Llama(config: Self.config(tied: kind == .ipo), seed: 5)
    let batch = try Self.batch(pairs: 2, seed: 6)
    let criterion = DPOLoss(kind: kind, beta: 0.5)
    let objective = DPOObjective(policy: policy, reference: .model(reference), criterion: criterion)
    let checked = checkParameterGradients(arena: policy.arena) { tape in
      (try? objective.loss(on: batch, tape: tape).loss) ?? Variable(Tensor(Float.nan))
    }
    #expect(checked == 2 * policy.arena.parameters.count)
  }

  @Test func rewardGradientThroughTheWholeModelPassesFiniteDifferences() throws {
    let model = RewardModel(config: Self.config(), seed: 8)
    // A larger head so the loss is sensitive to the trunk.
    model.score.assign(model.score.value * 20)
    let batch = try Self.batch(pairs: 3, seed: 9)
    let objective = RewardObjective(model: model)
    let checked = checkParameterGradients(arena: model.arena) { tape in
      objective.loss(on: batch, tape: tape).loss
    }
    #expect(model.arena.parameter(named: "lm_head.weight") == nil)
    #expect(model.arena.parameters.last?.name == "score.weight")
    #expect(checked == 2 * model.arena.parameters.count)
  }

  @Test func rewardIsTheHeadAtTheLastTokenOfEachRow() throws {
    let model = RewardModel(config: Self.config(), seed: 10)
    let batch = try Self.batch(pairs: 2, seed: 11)
    let rewards = model.rewards(batch).value.scalars
    let head = model.score.value.scalars
    for row in 0..<batch.rows {
      let t = batch.sequenceLength
      let sequence = Array(batch.tokens[(row * t)..<(row * t + batch.lengths[row])])
      let hidden = model.trunk.hiddenStates(sequence).value.scalars
      let last = hidden[((sequence.count - 1) * 24)..<(sequence.count * 24)]
      let expected = zip(last, head).map { $0 * $1 }.reduce(0, +)
      // Tolerance: padding changes the GEMM shapes, not the causal result.
      #expect(abs(rewards[row] - expected) < 1e-4, "row \(row)")
    }
    let alone = model.rewards(
      of: (0..<batch.rows).map { row in
        Array(
          batch.tokens[
            (row * batch.sequenceLength)..<(row * batch.sequenceLength + batch.lengths[row])])
      }, batchSize: 3)
    expectClose(alone, rewards, rtol: 0, atol: 1e-4)
  }

  @Test func rewardModelDirectoryRoundTripsAndStartsFromALanguageModel() throws {
    let directory = try temporaryDirectory("sft")
    let sft = Llama(config: Self.config(), seed: 12)
    try sft.save(to: directory)
    let model = try RewardModel(languageModelDirectory: directory, seed: 13)
    for name in sft.arena.parameters.map(\.name) where name != "lm_head.weight" {
      #expect(model.arena.parameter(named: name)!.value == sft.arena.parameter(named: name)!.value)
    }
    let saved = try temporaryDirectory("rm")
    try model.save(to: saved)
    let loaded = try RewardModel(directory: saved)
    #expect(loaded.arena.values == model.arena.values)
    let file = try SafeTensorsFile(path: saved + "/model.safetensors")
    #expect(file.contains("score.weight") && !file.contains("lm_head.weight"))
    #expect(file.info(named: "score.weight")?.shape == [1, 24])
    let config = try #require(
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: saved + "/config.json"))) as? [String: Any])
    #expect(config["architectures"] as? [String] == ["LlamaForSequenceClassification"])
    #expect(config["num_labels"] as? Int == 1)
    // A language model directory is not a reward model, and the reverse.
    #expect(throws: CheckpointError.self) { try RewardModel(directory: directory) }
    #expect(throws: (any Error).self) { try Llama(directory: saved) }
  }

  @Test(.requires(.python("torch", "transformers")))
  func transformersReadsTheRewardModelDirectoryWithTheSameRewards() throws {
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers"]).executable
    let model = RewardModel(config: Self.config(), seed: 14)
    let directory = try temporaryDirectory("rm-hf")
    try model.save(to: directory)
    let sequences: [[Int32]] = [[1, 5, 9, 33, 2], [7, 7, 3], [39, 0, 12, 18, 25, 4, 2, 2]]
    let script = """
      import json, sys
      import torch
      from transformers import LlamaForSequenceClassification
      model = LlamaForSequenceClassification.from_pretrained(sys.argv[1], attn_implementation="eager").float().eval()
      out = []
      with torch.no_grad():
          for ids in json.loads(sys.argv[2]):
              out.append(model(torch.tensor([ids])).logits[0, 0].item())
      print(json.dumps(out))
      """
    let json =
      "["
      + sequences.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }
      .joined(separator: ",") + "]"
    var stderr = ""
    let output = try #require(
      runProcess(python, ["-c", script, directory, json], errorOutput: &stderr),
      "python failed: \(stderr)")
    let theirs = try #require(try JSONSerialization.jsonObject(with: output) as? [Double])
    // Tolerance: 1e-4 absolute, as for the causal LM logits.
    expectClose(model.rewards(of: sequences), theirs.map(Float.init), rtol: 0, atol: 1e-4)
  }
}
