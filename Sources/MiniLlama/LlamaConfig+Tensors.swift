extension LlamaConfig {
  /// Every weight of a `LlamaForCausalLM` with this configuration, by its Hugging Face name and
  /// PyTorch shape (`[out, in]` for linear layers), in the order `transformers` lists them.
  /// `lm_head.weight` is absent when the head is tied to the embedding.
  public var tensorShapes: [(name: String, shape: [Int])] {
    let q = headCount * headDim
    let kv = kvHeadCount * headDim
    var result: [(String, [Int])] = [("model.embed_tokens.weight", [vocabSize, hiddenSize])]
    for i in 0..<layerCount {
      let p = "model.layers.\(i)."
      result += [
        (p + "self_attn.q_proj.weight", [q, hiddenSize]),
        (p + "self_attn.k_proj.weight", [kv, hiddenSize]),
        (p + "self_attn.v_proj.weight", [kv, hiddenSize]),
        (p + "self_attn.o_proj.weight", [hiddenSize, q]),
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
