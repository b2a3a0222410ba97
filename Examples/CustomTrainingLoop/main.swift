// A training loop written by hand on the MiniLLM libraries, without `Trainer`: train a tokenizer
// on a text file, encode it, pretrain a small Llama with AdamW, warmup + cosine decay and
// gradient clipping, measure the held-out loss before and after, save a model directory that
// `minillm generate` and `transformers` load, and continue a prompt. Docs/CustomTrainingLoop.md
// walks through it.
//
//     swift run -c release CustomTrainingLoop --input poems.txt --out my-model --steps 200

import ArgumentParser
import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

@main
struct CustomTrainingLoop: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Pretrain a small Llama on a text file with a hand-written training loop.")

  @Option(help: "UTF-8 text; every non-empty line is one document.")
  var input: String

  @Option(help: "Where the trained model directory goes.")
  var out: String

  @Option(help: "Optimizer steps.")
  var steps = 200

  @Option(help: "Sequences per step.")
  var batchSize = 8

  @Option(help: "Tokens per sequence.")
  var seqLen = 64

  @Option(help: "Peak learning rate.")
  var lr: Float = 2e-3

  @Option(help: "Vocabulary size of the tokenizer.")
  var vocabSize = 3000

  @Option(help: "Seed of the weights, the batches and the sampling.")
  var seed: UInt64 = 0

  func run() throws {
    // 1. Text → tokenizer → one stream of ids, documents separated by EOS.
    guard let text = try? String(contentsOfFile: input, encoding: .utf8) else {
      throw ValidationError("--input: \(input) cannot be read as UTF-8 text")
    }
    let documents = text.split(separator: "\n").map {
      $0.trimmingCharacters(in: .whitespaces)
    }.filter { !$0.isEmpty }
    guard documents.count >= 20 else {
      throw ValidationError("--input: \(input) has \(documents.count) non-empty lines; need 20")
    }
    var options = SentencePieceTrainingOptions(vocabularySize: vocabSize)
    options.characterCoverage = 0.98
    options.userDefinedSymbols = ["<|im_start|>", "<|im_end|>"]  // for the ChatML template
    var lines = documents.makeIterator()
    let tokenizer = try SentencePieceTokenizer.train(options: options) { lines.next() }
    guard let eos = tokenizer.specialIDs.eos else { throw ValidationError("tokenizer has no EOS") }
    var stream: [Int32] = []
    for document in documents {
      try tokenizer.encode(document, appendingTo: &stream)
      stream.append(Int32(eos))
    }
    // The last 10% of the stream is held out.
    let split = stream.count * 9 / 10
    let (training, heldOut) = (Array(stream[..<split]), Array(stream[split...]))
    let window = seqLen + 1
    guard training.count > window * batchSize, heldOut.count >= window else {
      throw ValidationError("--input: \(stream.count) tokens are too few for --seq-len \(seqLen)")
    }
    print("\(documents.count) documents, \(stream.count) tokens, vocabulary \(vocabSize)")

    // 2. The model: every parameter lives in one arena (values, gradients, AdamW moments).
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 128, intermediateSize: 352, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: window, bosTokenId: tokenizer.specialIDs.bos,
      eosTokenIds: [eos])
    try config.validate()
    let model = Llama(config: config, seed: seed)
    print("\(model.parameterCount) parameters")

    // 3. Optimizer and schedule: AdamW with decay on matrices only, warmup then cosine.
    var optimizer = AdamW(learningRate: lr, beta1: 0.9, beta2: 0.95, weightDecay: 0.1)
    let schedule = LearningRateSchedule(
      kind: .cosine, peakLearningRate: lr, minimumLearningRate: lr / 10,
      warmupSteps: steps / 20, totalSteps: steps)

    // Held-out loss: windows of the held-out tail, no tape (nothing is recorded).
    func heldOutLoss() -> Float {
      var total: Float = 0
      let count = min(8, heldOut.count / window)
      for i in 0..<count {
        let tokens = Array(heldOut[(i * window)..<((i + 1) * window)])
        total += model.languageModelLoss(tokens).value.item
      }
      return total / Float(count)
    }
    let before = heldOutLoss()
    print("held-out loss before training: \(before)")

    // 4. The loop: random windows, forward on a tape, backward into the arena, clip, step.
    var rng = PhiloxRNG(seed: seed)
    for step in 0..<steps {
      var batch: [Int32] = []
      batch.reserveCapacity(batchSize * window)
      for _ in 0..<batchSize {
        let start = Int(rng.next() % UInt64(training.count - window))
        batch += training[start..<(start + window)]
      }
      model.arena.zeroGradients()
      let loss = model.valueAndGradient { tape in
        model.languageModelLoss(batch, batch: batchSize, tape: tape)
      }
      let norm = model.arena.clipGradients(maxNorm: 1)
      optimizer.learningRate = schedule.learningRate(atStep: step)
      optimizer.update(model.arena)
      if step % max(1, steps / 10) == 0 || step == steps - 1 {
        print(
          "step \(step + 1)/\(steps)  loss \(loss)  grad norm \(norm)  lr \(optimizer.learningRate)"
        )
      }
    }
    let after = heldOutLoss()
    print("held-out loss after training: \(after)")

    // 5. Save a model directory (config.json, model.safetensors, tokenizer files) and sample.
    try model.save(to: out)
    try ModelDirectory(path: out).installTokenizer(tokenizer, template: .chatml)
    let prompt = Array(training[0..<8])
    let sampling = SamplingOptions(temperature: 0.8, topK: 40, topP: 0.9, seed: seed)
    let continuation = model.generate(
      prompt: prompt,
      options: GenerationOptions(maxNewTokens: 24, sampling: sampling, stopTokens: [Int32(eos)]))
    let sample = try tokenizer.decode((prompt + continuation).map(Int.init))
    print("sample: \(sample)")
    let summary: [String: Any] = [
      "heldout_loss_before": Double(before), "heldout_loss_after": Double(after),
      "parameters": model.parameterCount, "model": out,
    ]
    let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
  }
}
