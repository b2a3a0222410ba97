#!/usr/bin/env python3
"""Decode tokens/s of `minillm bench generate --model F.gguf` beside llama.cpp on the same files.

  .build/peers-venv/bin/python scripts/bench-gguf-quant.py [--dir .build/bench-gguf-quant]
      [--types Q4_0,Q4_K_M,Q8_0] [--rounds 3] [--threads 1,2] [--before OTHER_MINILLM]

Writes one random Llama model (vocab 32000, dim 768, 8 layers, 12 heads, ffn 2048, untied head:
106 M parameters) as an f32 GGUF with gguf-py (q/k rows permuted to llama.cpp's RoPE layout, a
dummy sentencepiece vocabulary), quantizes it with llama.cpp's own `llama_model_quantize` to each
type, then alternates, per type, thread count and round, our run and llama.cpp's: 16-token prompt
then 128 greedy tokens at batch 1 on each of `--threads` thread counts (llama.cpp through llama-cpp-python, as
../shared/bench/infer_bench.py `llamacpp` times it: the 128 single-token evals after the
prompt). Prints one JSON line per run and a median table at the end.
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

VOCAB, DIM, LAYERS, HEADS, FFN = 32000, 768, 8, 12, 2048
FTYPES = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q4_K_S": 14, "Q4_K_M": 15, "Q6_K": 18}


def write_f32(path):
    import gguf

    rng = np.random.default_rng(0)
    head_dim = DIM // HEADS

    def normal(*shape, scale=0.02):
        return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)

    def rope_perm(w):
        return w.reshape(HEADS, 2, head_dim // 2, w.shape[1]).swapaxes(1, 2).reshape(w.shape).copy()

    w = gguf.GGUFWriter(path, "llama")
    w.add_name("bench-gguf-quant")
    w.add_context_length(2048)
    w.add_embedding_length(DIM)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(HEADS)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    toks = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * 256
    toks += [f"\u2581t{i}".encode() for i in range(len(toks), VOCAB)]
    types += [gguf.TokenType.NORMAL] * (VOCAB - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores([0.0] * VOCAB)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_tensor("token_embd.weight", normal(VOCAB, DIM))
    resid = 0.02 / np.sqrt(2 * LAYERS)
    for i in range(LAYERS):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", np.ones(DIM, np.float32))
        w.add_tensor(b + "attn_q.weight", rope_perm(normal(DIM, DIM)))
        w.add_tensor(b + "attn_k.weight", rope_perm(normal(DIM, DIM)))
        w.add_tensor(b + "attn_v.weight", normal(DIM, DIM))
        w.add_tensor(b + "attn_output.weight", normal(DIM, DIM, scale=resid))
        w.add_tensor(b + "ffn_norm.weight", np.ones(DIM, np.float32))
        w.add_tensor(b + "ffn_gate.weight", normal(FFN, DIM))
        w.add_tensor(b + "ffn_up.weight", normal(FFN, DIM))
        w.add_tensor(b + "ffn_down.weight", normal(DIM, FFN, scale=resid))
    w.add_tensor("output_norm.weight", np.ones(DIM, np.float32))
    w.add_tensor("output.weight", normal(VOCAB, DIM))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(source, destination, ftype):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(source.encode(), destination.encode(), ctypes.byref(params))
    if status != 0:
        sys.exit(f"llama_model_quantize {destination}: status {status}")


LLAMACPP = r"""
import json, sys, time
import numpy as np
import llama_cpp
path, threads = sys.argv[1], int(sys.argv[2])
llm = llama_cpp.Llama(model_path=path, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=threads,
                      n_threads_batch=threads, verbose=False, logits_all=False)
V = llm.n_vocab()
ctx = llm._ctx.ctx
prompt = [int(t) for t in np.random.default_rng(7).integers(3, V, size=16)]
def run():
    llm.reset()
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
    llm.eval(prompt)
    t0 = time.perf_counter()
    for _ in range(128):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(V,))
        llm.eval([int(np.argmax(logits))])
    return 128 / (time.perf_counter() - t0)
run()
rates = [run() for _ in range(2)]
print(json.dumps({"decode_tokens_per_s": sum(rates) / len(rates)}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=".build/bench-gguf-quant")
    ap.add_argument("--types", default="Q4_0,Q4_K_M,Q8_0")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--minillm", default=".build/release/minillm")
    ap.add_argument("--before", default=None,
                    help="another minillm binary (an earlier build) run in the same alternation")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    f32 = os.path.join(a.dir, "model-f32.gguf")
    if not os.path.exists(f32):
        write_f32(f32)
    files = {}
    for name in a.types.split(","):
        files[name] = os.path.join(a.dir, f"model-{name}.gguf")
        if not os.path.exists(files[name]):
            quantize(f32, files[name], FTYPES[name])
    if a.rounds == 0:
        return
    counts = [int(t) for t in a.threads.split(",")]
    results = {(name, t): {"ours": [], "llama.cpp": [], "before": []} for name in files for t in counts}

    def minillm(binary, path, threads):
        out = subprocess.run(
            [binary, "bench", "generate", "--model", path, "--prompt-tokens", "16",
             "--new-tokens", "128", "--repeats", "2", "--threads", str(threads)],
            check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    for round in range(a.rounds):
        for (name, threads), r in results.items():
            path = files[name]
            if a.before:
                r["before"].append(minillm(a.before, path, threads)["decode_tokens_per_s"])
            ours = minillm(a.minillm, path, threads)
            r["ours"].append(ours["decode_tokens_per_s"])
            out = subprocess.run([sys.executable, "-c", LLAMACPP, path, str(threads)], check=True,
                                 capture_output=True, text=True).stdout
            theirs = json.loads(out.strip().splitlines()[-1])["decode_tokens_per_s"]
            r["llama.cpp"].append(theirs)
            print(json.dumps({"round": round, "type": name, "threads": threads,
                              "ours": r["ours"][-1], "llama.cpp": theirs,
                              "before": r["before"][-1] if a.before else None,
                              "load_average": os.getloadavg()[0],
                              "weights": ours.get("weights"),
                              "foreign_cores": ours.get("foreign_cores")}), flush=True)
    def cell(values):
        return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"

    before = " before |" if a.before else ""
    print(f"| type | threads |{before} ours | llama.cpp | ours / llama.cpp |")
    print("|---|---|" + ("---|" if a.before else "") + "---|---|---|")
    for (name, threads), r in results.items():
        o, t = statistics.median(r["ours"]), statistics.median(r["llama.cpp"])
        b = f" {cell(r['before'])} |" if a.before else ""
        print(f"| {name} | {threads} |{b} {cell(r['ours'])} | {cell(r['llama.cpp'])} | {o / t:.2f} |")


if __name__ == "__main__":
    main()
