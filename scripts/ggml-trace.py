#!/usr/bin/env python3
"""Trace llama.cpp's decoding of a GGUF file op by op, and check each matrix product.

  .build/peers-venv/bin/python scripts/ggml-trace.py FILE.gguf --ids 1,45,200 [--norepack]
      [--save trace.pkl]

Runs llama.cpp (llama-cpp-python's C API) one token at a time as
Tests/MiniLlamaTests/GGUFQuantizedTests.swift does (n_batch 1, one thread, f32 KV cache, flash
attention off) and records every f32 tensor its graph computes through the scheduler's eval
callback (`cb_eval`): names such as attn_norm-0, Qcur-0, Vcur-0, kqv_out-0, ffn_out-0,
result_output. For each product with a quantized weight of a llama-architecture file it prints,
per position, max|Δ| / max|y| between llama.cpp's output and a float64 product of gguf-py's
dequantized weight with llama.cpp's own input row quantized as ggml's x86 code quantizes it
(q8_0 / q8_1: q = nearest-even of x · 127/max|x|, d = max|x|/127 as f16, q8_1's s = f16(d·Σq);
q8_K: ggml's reference quantize_row_q8_K_ref). A product that follows ggml gives ≈ 1e-7; the
input row's quantization is what makes that figure exact, not approximate. `--save` writes the
records (a list per position of (name, op, shape, array), and the logits) for other comparisons.
`--norepack` loads the weights without llama.cpp's repacked CPU layouts.
"""
import argparse
import ctypes
import pickle

import numpy as np
import gguf
from gguf import quants
import llama_cpp as L


class Tensor(ctypes.Structure):
    """The leading fields of ggml.h's `struct ggml_tensor` (GGML_MAX_SRC = 10)."""

    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4),
                ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16),
                ("flags", ctypes.c_int32), ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64)]


def trace(path, ids, repack):
    positions, current = [], []

    def callback(pointer, ask, _):
        if ask:
            return True
        t = ctypes.cast(pointer, ctypes.POINTER(Tensor)).contents
        if t.type == 0 and t.data:  # GGML_TYPE_F32, computed on the CPU
            ne, nb = list(t.ne), list(t.nb)
            raw = np.ctypeslib.as_array(ctypes.cast(t.data, ctypes.POINTER(ctypes.c_uint8)),
                                        shape=(nb[3] * ne[3],)).copy()
            array = np.lib.stride_tricks.as_strided(raw.view(np.float32), shape=ne[::-1],
                                                    strides=nb[::-1]).copy()
            current.append((t.name.decode(), t.op, ne, array))
        return True

    keep = L.ggml_backend_sched_eval_callback(callback)
    model_params = L.llama_model_default_params()
    model_params.use_extra_bufts = repack
    model = L.llama_model_load_from_file(path.encode(), model_params)
    params = L.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = 128, 1, 1
    params.n_threads = params.n_threads_batch = 1
    params.type_k = params.type_v = 0
    params.flash_attn_type = 0
    params.cb_eval = keep
    context = L.llama_init_from_model(model, params)
    vocabulary = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    for token in ids:
        current = []
        batch = (L.llama_token * 1)(token)
        if L.llama_decode(context, L.llama_batch_get_one(batch, 1)) != 0:
            raise SystemExit(f"llama_decode failed at token {token}")
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(context, -1), shape=(vocabulary,))
        positions.append((current, logits.copy()))
    L.llama_free(context)
    L.llama_model_free(model)
    return positions


def q8_x86(x):
    """ggml's x86 quantize_row_q8_0 / _q8_1: the values d·q (float64), d as f16, and s."""
    b = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(1)
    d = (amax / np.float32(127)).astype(np.float32)
    inverse = np.where(amax != 0, np.float32(127) / np.where(amax != 0, amax, 1), 0).astype(np.float32)
    q = np.rint((b * inverse[:, None]).astype(np.float32))
    s = (d * q.sum(1).astype(np.float32)).astype(np.float16).astype(np.float64)
    return q * d.astype(np.float16).astype(np.float64)[:, None], s


def q8_K(x):
    """ggml's quantize_row_q8_K_ref: the values d·q (float64)."""
    out = np.zeros(x.size)
    for i, row in enumerate(x.reshape(-1, 256).astype(np.float32)):
        largest = row[np.argmax(np.abs(row))]
        if largest == 0:
            continue
        iscale = np.float32(-127) / largest
        q = np.minimum(np.rint((iscale * row).astype(np.float32)), 127)
        out[256 * i:256 * (i + 1)] = q * np.float64(np.float32(1) / iscale)
    return out


def product(tensor, x):
    """The float64 product of a quantized weight with `x` quantized as ggml pairs them."""
    kind = tensor.tensor_type.name
    cols = int(tensor.shape[0])
    w = quants.dequantize(tensor.data, tensor.tensor_type).reshape(-1, cols).astype(np.float64)
    if kind in ("Q4_0", "Q8_0"):
        return w @ q8_x86(x)[0].reshape(-1)
    if kind == "Q4_1":
        # Σ d·k·(d_x·q) + m·s: the minimum meets the f16 sum s, not the quants.
        blocks = np.asarray(tensor.data).reshape(w.shape[0], -1, 20)
        m = blocks[:, :, 2:4].copy().view(np.float16).astype(np.float64)[..., 0]
        values, s = q8_x86(x)
        return (w - np.repeat(m, 32, 1)) @ values.reshape(-1) + m @ s
    if kind in ("Q4_K", "Q5_K", "Q6_K"):
        return w @ q8_K(x)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument("--ids", required=True, help="comma-separated token ids")
    parser.add_argument("--norepack", action="store_true")
    parser.add_argument("--save")
    args = parser.parse_args()
    positions = trace(args.file, [int(t) for t in args.ids.split(",")], not args.norepack)
    if args.save:
        with open(args.save, "wb") as f:
            pickle.dump(positions, f)
    tensors = {t.name: t for t in gguf.GGUFReader(args.file).tensors}
    products = {"Qcur": ("attn_q", "attn_norm"), "Kcur": ("attn_k", "attn_norm"),
                "Vcur": ("attn_v", "attn_norm"), "attn_out": ("attn_output", "kqv_out"),
                "ffn_gate": ("ffn_gate", "ffn_norm"), "ffn_up": ("ffn_up", "ffn_norm"),
                "ffn_out": ("ffn_down", "ffn_swiglu")}
    for position, (records, _) in enumerate(positions):
        first = {}
        for name, _, _, array in records:
            first.setdefault(name, array.reshape(-1).astype(np.float64))
        line = []
        for name, op, _, array in records:
            base, _, layer = name.rpartition("-")
            if base not in products or name in dict(line) or not layer.isdigit():
                continue
            weight, source = products[base]
            tensor = tensors.get(f"blk.{layer}.{weight}.weight")
            ours = product(tensor, first[f"{source}-{layer}"]) if tensor is not None else None
            if ours is None:
                continue
            y = first[name]
            line.append((name, np.abs(y - ours).max() / np.abs(y).max()))
        print(f"position {position}: " + "  ".join(f"{n} {e:.1e}" for n, e in line))


if __name__ == "__main__":
    main()
