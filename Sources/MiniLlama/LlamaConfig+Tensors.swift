extension LlamaConfig {
  /// Every weight of a `LlamaForCausalLM` with this configuration, by its Hugging Face name and
  /// PyTorch shape (`[out, in]` for linear layers), in the order `transformers` lists them.
  /// `lm_head.weight` is absent when the head is tied to the embedding; a projection's `.bias`
  /// follows its `.weight` when ``biasedProjections`` lists it.
  public var tensorShapes: [(name: String, shape: [Int])] {
    let q = headCount * headDim
    let kv = kvHeadCount * headDim
    let biases = Set(biasedProjections)
    var result: [(String, [Int])] = [("model.embed_tokens.weight", [vocabSize, hiddenSize])]
    for i in 0..<layerCount {
      let p = "model.layers.\(i)."
      for (projection, shape) in [
        ("q_proj", [q, hiddenSize]), ("k_proj", [kv, hiddenSize]), ("v_proj", [kv, hiddenSize]),
        ("o_proj", [hiddenSize, q]),
      ] {
        result.append((p + "self_attn.\(projection).weight", shape))
        if biases.contains(projection) {
          result.append((p + "self_attn.\(projection).bias", [shape[0]]))
        }
      }
      result += [
        (p + "mlp.gate_proj.weight", [intermediateSize, hiddenSize]),
        (p + "mlp.up_proj.weight", [intermediateSize, hiddenSize]),
        (p + "mlp.down_proj.weight", [hiddenSize, intermediateSize]),
        (p + "input_layernorm.weight", [hiddenSize]),
        (p + "post_attention_layernorm.weight", [hiddenSize]),
      ]
    }
    result.append(("model.norm.weight", [hiddenSize]))
    if !tieWordEmbeddings { result.append(("lm_head.weight", [vocabSize, hiddenSize])) }
    return result
  }
}
