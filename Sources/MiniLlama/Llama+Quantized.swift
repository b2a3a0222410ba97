import MiniAutograd
import MiniTensor

/// A model asked to train a weight stored for inference only.
public struct UntrainableWeightError: Error, CustomStringConvertible {
  /// The Hugging Face name of the first such weight.
  public let weight: String
  /// Its storage (e.g. `q8_0`).
  public let format: String

  /// Names the weight and how to get a trainable model.
  public var description: String {
    "\(weight) is stored as \(format), which is for inference only: train the Float model "
      + "(as loaded, before quantized()) and quantize it afterwards"
  }
}

extension Llama {
  /// Every projection and the head, in Hugging Face order.
  public var linearWeights: [LinearWeight] {
    blocks.flatMap(\.linearWeights) + (head.map { [$0] } ?? [])
  }

  /// The same model with each projection and the head replaced by `transform(weight)`: how the
  /// representation of every linear weight is chosen at load or conversion time. The arena
  /// (embeddings, norms, the `Float` weights) is shared with this model.
  /// - Precondition: `transform` keeps each weight's shape.
  public func mappingLinearWeights(
    _ transform: (LinearWeight) throws -> LinearWeight
  ) rethrows -> Llama {
    let newHead = try head.map { head in
      let result = try transform(head)
      precondition(
        result.shape == head.shape, "Llama: \(head.name) \(head.shape) replaced by \(result.shape)")
      return result
    }
    return Llama(
      sharing: self, blocks: try blocks.map { try $0.mappingLinearWeights(transform) },
      head: newHead)
  }

  /// The same model for q8_0 inference: every projection and the head whose input size is whole
  /// blocks of 32 stored as int8 blocks of 32 with one scale each, as ggml's `q8_0`; the others,
  /// embeddings and norms stay `Float`. The result shares this model's arena but cannot be
  /// trained (``isTrainable`` is `false`); later changes to the `Float` weights are not seen by
  /// its quantized copies.
  ///
  /// Decoding reads about a quarter of the bytes; logits differ from the `Float` model by
  /// the rounding of each weight to 8 bits.
  public func quantized() -> Llama {
    mappingLinearWeights { $0.quantizedQ8() }
  }

  /// The same model with each GGUF block weight multiplying `Float` activations (its rows
  /// dequantized block by block, as QLoRA computes over a quantized base) instead of
  /// quantizing the activations as llama.cpp does: the arithmetic of training over the blocks,
  /// so a frozen reference scores what the trained model scores. Other weights are unchanged.
  public func computingInFloat() -> Llama {
    mappingLinearWeights { weight in
      guard case .ggml(let matrix, let name) = weight, !matrix.computesInFloat else {
        return weight
      }
      return .ggml(matrix.computingInFloat(), name: name)
    }
  }

  /// Whether any projection or the head is stored quantized (``quantized()``).
  public var isQuantized: Bool { linearWeights.contains(where: \.isQuantized) }

  /// Whether a tape can train every weight: `false` once a weight is stored for inference only.
  public var isTrainable: Bool { linearWeights.allSatisfy(\.isTrainable) }

  /// Checks that the model can be trained, before a training loop starts.
  /// - Throws: `UntrainableWeightError` naming the first weight stored for inference only.
  public func checkTrainable() throws {
    if let weight = linearWeights.first(where: { !$0.isTrainable }) {
      throw UntrainableWeightError(weight: weight.name, format: weight.formatName)
    }
  }

  /// Bytes of weights one decoding step reads: every projection and the head (quantized or
  /// not), the norms and biases, and one embedding row.
  public var decodeWeightBytes: Int {
    let norms = 4 * config.hiddenSize * (2 * config.layerCount + 1)
    let biases = blocks.reduce(0) { sum, block in
      let attention = block.attention
      return sum
        + [attention.qBias, attention.kBias, attention.vBias, attention.oBias]
        .reduce(0) { $0 + 4 * ($1?.count ?? 0) }
    }
    let embeddingRow = 4 * config.hiddenSize
    return embeddingRow + norms + biases + linearWeights.reduce(0) { $0 + $1.byteCount }
  }
}
