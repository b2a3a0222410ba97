import Foundation
import MiniLlama
import PipelineTestSupport
import TestSupport
import Testing

/// `Examples/CustomTrainingLoop` as Docs/CustomTrainingLoop.md runs it: it must learn (held-out
/// loss falls) and leave a model directory that loads and chats.
@Suite(
  .requires(.all(.built("CustomTrainingLoop"), .built("minillm"), ChineseCorpus.requirement)))
struct CustomTrainingLoopTests {
  @Test func learnsAndSavesALoadableModel() throws {
    try ChineseCorpus.requirement.check()
    let executable = try requireBuiltExecutable(named: "CustomTrainingLoop")
    let (texts, source) = try #require(ChineseCorpus.documents())
    let directory = try temporaryDirectory("custom-loop")
    let input = directory + "/input.txt"
    let lines = texts.map { $0.replacingOccurrences(of: "\n", with: "") }
    try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
    var errors = ""
    let output = runProcess(
      executable,
      ["--input", input, "--out", directory + "/model", "--steps", "80", "--seq-len", "48"],
      errorOutput: &errors)
    let text = output.map { String(decoding: $0, as: UTF8.self) }
    try #require(text != nil, "CustomTrainingLoop failed on \(source): \(errors)")
    let last = try #require(text!.split(separator: "\n").last)
    let summary = try #require(
      try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
    let before = try #require(summary["heldout_loss_before"] as? Double)
    let after = try #require(summary["heldout_loss_after"] as? Double)
    // From ≈ ln(vocabulary) at initialisation, well down after 80 steps.
    #expect(after < before - 1.0, "held-out loss \(before) → \(after)")
    let model = try Llama(directory: directory + "/model")
    let tokenizer = try ModelDirectory(path: directory + "/model").loadTokenizer()
    #expect(model.config.vocabSize == tokenizer.vocabularySize)
    #expect(try ModelDirectory(path: directory + "/model").loadChatTemplate() == .chatml)
    // The guide's next command: the directory works with `minillm generate`.
    let minillm = try requireBuiltExecutable(named: "minillm")
    let generated = runProcess(
      minillm,
      ["generate", "--model", directory + "/model", "--prompt", "春眠", "--max-new-tokens", "24"],
      errorOutput: &errors)
    let continuation = try #require(
      generated.map { String(decoding: $0, as: UTF8.self) }, "minillm generate: \(errors)")
    #expect(!continuation.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
  }
}
