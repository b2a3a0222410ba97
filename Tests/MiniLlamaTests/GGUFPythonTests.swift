import Foundation
import MiniLlama
import TestSupport
import Testing

/// Our GGUF files read by the reference Python `gguf` package (llama.cpp's gguf-py).
@Suite("GGUF export read by Python gguf")
struct GGUFPythonTests {
  /// Reads the GGUF file with `gguf.GGUFReader`, prints every key's value and, for every tensor,
  /// whether its data equals what llama.cpp's converter makes of the Hugging Face weight: the
  /// converter's own q/k `permute` (reshape/swapaxes), then the file's storage type through
  /// `gguf.quants.quantize` (f16 by numpy, q8_0 by gguf's bit-exact port of ggml).
  static let script = """
    import json, sys
    import numpy as np
    import gguf
    from safetensors.numpy import load_file

    gguf_path, weights_path, n_head, n_kv = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    reader = gguf.GGUFReader(gguf_path)
    weights = load_file(weights_path)

    def permute(w, heads):
        return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    parts = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
             "ffn_norm": "post_attention_layernorm"}

    def hf_name(name):
        if name in names:
            return names[name]
        _, block, part, _ = name.split(".")
        return "model.layers.%s.%s.weight" % (block, parts[part])

    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        return value

    fields = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        fields[name] = {"type": int(field.types[0]), "value": plain(field.contents())}
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            fields[name]["element_type"] = int(field.types[-1])

    tensors = []
    for t in reader.tensors:
        entry = {"name": t.name, "type": int(t.tensor_type), "shape": [int(d) for d in t.shape],
                 "offset": int(t.data_offset), "bytes": int(t.n_bytes)}
        if t.name == "rope_freqs.weight":
            entry["match"] = True
            tensors.append(entry)
            continue
        w = weights[hf_name(t.name)].astype(np.float32)
        if t.name.endswith("attn_q.weight"):
            w = permute(w, n_head)
        if t.name.endswith("attn_k.weight"):
            w = permute(w, n_kv)
        try:
            expected = gguf.quants.quantize(w, gguf.GGMLQuantizationType(int(t.tensor_type)))
        except NotImplementedError:
            entry["match"] = None  # gguf-py has no quantizer for this type
            tensors.append(entry)
            continue
        entry["match"] = bool(np.ascontiguousarray(t.data).view(np.uint8).tobytes()
                              == np.ascontiguousarray(expected).view(np.uint8).tobytes())
        tensors.append(entry)
    print(json.dumps({"fields": fields, "tensors": tensors, "alignment": reader.alignment,
                      "data_offset": reader.data_offset}))
    """

  /// `value` in the form the script prints it.
  static func plain(_ value: GGUFValue) -> Any {
    switch value {
    case .string(let text): return text
    case .bool(let flag): return flag
    case .float32(let v): return Double(v)
    case .float64(let v): return v
    case .array(_, let elements): return elements.map(plain)
    default: return value.integerValue!
    }
  }

  @Test(
    .requires(.python("gguf", "numpy", "safetensors")),
    arguments: ["hf-tiny-llama", "llama-tied-gqa4", "llama-llama3-rope"],
    GGUFExportOptions.writableTypes)
  func pythonReadsEveryKeyAndTensor(fixture: String, type: GGMLType) throws {
    let python = try PythonRunner.requirePeers(importing: ["gguf", "numpy", "safetensors"])
    let (path, config, _) = try GGUFTestModel.directory(fixture: fixture)
    let out = try temporaryDirectory("gguf-py") + "/model.gguf"
    let layout = try ModelDirectory(path: path).exportGGUF(
      to: out, options: GGUFExportOptions(type: type))
    let output = try python.run([
      "-c", Self.script, out, path + "/model.safetensors", String(config.headCount),
      String(config.kvHeadCount),
    ]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let ours = try GGUFReader(path: out)

    #expect(json["alignment"] as? Int == 32)
    #expect(json["data_offset"] as? Int == layout.dataOffset)
    let fields = try #require(json["fields"] as? [String: [String: Any]])
    #expect(Set(fields.keys) == Set(ours.metadata.map(\.key)))
    for (key, value) in ours.metadata {
      let theirs = try #require(fields[key], "\(key) missing for gguf-py")
      #expect(theirs["type"] as? Int == Int(value.type.rawValue), "\(key)")
      if case .array(let elementType, _) = value {
        #expect(theirs["element_type"] as? Int == Int(elementType.rawValue), "\(key)")
      }
      let expected = Self.plain(value)
      let same = NSArray(array: [expected]).isEqual(NSArray(array: [theirs["value"] as Any]))
      #expect(same, "\(key): gguf-py read \(String(describing: theirs["value"]).prefix(200))")
    }

    let tensors = try #require(json["tensors"] as? [[String: Any]])
    #expect(tensors.map { $0["name"] as? String } == ours.tensors.map(\.name))
    for (theirs, info) in zip(tensors, ours.tensors) {
      #expect(theirs["type"] as? Int == Int(info.type.rawValue), "\(info.name)")
      #expect(theirs["shape"] as? [Int] == info.dimensions, "\(info.name)")
      #expect(theirs["offset"] as? Int == ours.dataOffset + info.offset, "\(info.name)")
      #expect(theirs["bytes"] as? Int == info.byteCount, "\(info.name)")
      // gguf-py quantizes neither q4_K nor q6_K: those blocks are checked against llama.cpp's
      // own quantization in GGUFQ4ExportTests.
      let unchecked = theirs["match"] is NSNull && [.q4_K, .q6_K].contains(info.type)
      #expect(
        theirs["match"] as? Bool == true || unchecked,
        "\(info.name) (\(info.type.name)) differs from the converter's permute + gguf.quants")
    }
  }
}
