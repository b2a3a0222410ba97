import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

@Suite("transformers interoperability")
struct TransformersInteropTests {
  static let script = """
    import json, sys
    import torch
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(sys.argv[1], attn_implementation="eager").float().eval()
    ids = torch.tensor([json.loads(sys.argv[2])])
    with torch.no_grad():
        out = model(ids, labels=ids)
    print(json.dumps({"logits": out.logits[0].tolist(), "loss": out.loss.item(),
                      "tied": model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()}))
    """

  @Test(.requires(.python("torch", "transformers")), arguments: [false, true])
  func transformersLoadsOurDirectoryUnchanged(tied: Bool) throws {
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers"]).executable
    var config = LlamaConfig(
      vocabSize: 71, hiddenSize: 32, intermediateSize: 56, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 64, ropeTheta: 50_000, tieWordEmbeddings: tied,
      initializerRange: 0.1)
    config.ropeScaling = .linear(factor: 2)
    let model = Llama(config: config, seed: 21)
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("minillm-hf-\(UUID().uuidString)").path
    try model.save(to: directory)
    let ids: [Int32] = [1, 5, 9, 70, 33, 2, 0, 18]
    let idsJSON = "[" + ids.map(String.init).joined(separator: ",") + "]"
    var stderr = ""
    let output = try #require(
      runProcess(python, ["-c", Self.script, directory, idsJSON], errorOutput: &stderr),
      "python failed: \(stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let theirs = try #require(object["logits"] as? [[Double]]).flatMap { $0.map(Float.init) }
    let ours = model(ids).value.scalars
    // Tolerance: 1e-4 absolute on every logit.
    expectClose(ours, theirs, rtol: 0, atol: 1e-4)
    let loss = try #require(object["loss"] as? Double)
    #expect(abs(Double(model.languageModelLoss(ids).value.item) - loss) <= 1e-5)
    #expect(object["tied"] as? Bool == tied)
  }
}
