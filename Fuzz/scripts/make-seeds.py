#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: small valid files of each format.

Usage: make-seeds.py OUT_DIR   (one folder per target under OUT_DIR)

Everything is generated here (or copied from the repository's test fixtures), so no binary
seed is committed. Python's `sentencepiece`, when installed, trains the tokenizer.model seeds;
`zstd`, when installed, compresses a corpus seed.
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, offset, body = {}, 0, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        body += raw
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + body


def seeds_safetensors(out):
    f32 = struct.pack("<6f", *[0.5, -1, 2, 3.25, 0, 1e-3])
    write(out, "small.safetensors", safetensors([
        ("a", "F32", [2, 3], f32),
        ("b", "F16", [2], struct.pack("<2e", 1.5, -2)),
        ("c", "BF16", [1], b"\x80\x3f"),
        ("step", "I64", [], struct.pack("<q", 7)),
        ("ids", "I32", [3], struct.pack("<3i", 1, 2, 3)),
        ("bytes", "U8", [2], b"\x01\x02"),
    ], {"format": "pt", "optimizer": "adamw"}))
    write(out, "empty.safetensors", safetensors([]))
    for path in ["Tests/Fixtures/llama-tied-gqa4/model.safetensors"]:
        full = os.path.join(ROOT, path)
        if os.path.exists(full) and os.path.getsize(full) < 1 << 20:
            shutil.copy(full, os.path.join(out, os.path.basename(os.path.dirname(path)) + ".safetensors"))


def gguf_string(text):
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def gguf(metadata, tensors, alignment=32):
    """metadata: list of (key, type code, packed value); tensors: (name, dims, type, raw)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, code, value in metadata:
        out += gguf_string(key) + struct.pack("<I", code) + value
    offset, datas = 0, []
    for name, dims, kind, raw in tensors:
        out += gguf_string(name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", kind, offset)
        padded = raw + b"\0" * ((alignment - len(raw) % alignment) % alignment)
        datas.append(padded)
        offset += len(padded)
    out += b"\0" * ((alignment - len(out) % alignment) % alignment)
    return out + b"".join(datas)


def seeds_gguf(out):
    tokens = [b"<unk>", b"<s>", b"</s>", "▁a".encode(), b"b"]
    token_array = struct.pack("<IQ", 8, len(tokens)) + b"".join(
        struct.pack("<Q", len(t)) + t for t in tokens)
    scores = struct.pack("<IQ", 6, len(tokens)) + struct.pack("<5f", 0, 0, 0, -1, -2)
    metadata = [
        ("general.architecture", 8, gguf_string("llama")),
        ("general.name", 8, gguf_string("seed")),
        ("llama.context_length", 4, struct.pack("<I", 64)),
        ("llama.embedding_length", 4, struct.pack("<I", 8)),
        ("llama.rope.freq_base", 6, struct.pack("<f", 10000)),
        ("tokenizer.ggml.model", 8, gguf_string("llama")),
        ("tokenizer.ggml.tokens", 9, token_array),
        ("tokenizer.ggml.scores", 9, scores),
        ("tokenizer.ggml.add_bos_token", 7, b"\x01"),
        ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
    ]
    q8_block = struct.pack("<e", 0.5) + bytes(range(32))
    tensors = [
        ("token_embd.weight", [8, 5], 0, struct.pack("<40f", *[i / 10 for i in range(40)])),
        ("output_norm.weight", [8], 1, struct.pack("<8e", *[1] * 8)),
        ("blk.0.attn_q.weight", [32, 2], 8, q8_block * 2),
    ]
    write(out, "small.gguf", gguf(metadata, tensors))
    write(out, "aligned64.gguf", gguf(
        [("general.alignment", 4, struct.pack("<I", 64))] + metadata[:2], tensors[:2], 64))
    write(out, "empty.gguf", gguf([], []))


def seeds_config(out):
    base = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256,
        "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": [2, 3],
    }
    write(out, "base.json", json.dumps(base))
    variants = {
        "linear": {"rope_scaling": {"rope_type": "linear", "factor": 2.0}},
        "dynamic": {"rope_parameters": {"rope_type": "dynamic", "factor": 2.0,
                                         "original_max_position_embeddings": 64}},
        "llama3": {"rope_parameters": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 64,
                                        "rope_theta": 500000.0}},
        "headdim": {"head_dim": 32, "eos_token_id": 2},
    }
    for name, change in variants.items():
        write(out, name + ".json", json.dumps({**base, **change}, indent=2))
    for fixture in ["hf-tiny-llama", "llama-tied-gqa4", "llama-llama3-rope", "llama-linear-rope"]:
        path = os.path.join(ROOT, "Tests/Fixtures", fixture, "config.json")
        if os.path.exists(path):
            shutil.copy(path, os.path.join(out, fixture + ".json"))


def seeds_tokenizer(out):
    os.makedirs(out, exist_ok=True)
    try:
        import sentencepiece as spm
    except ImportError:
        print("make-seeds: python sentencepiece is absent; no tokenizer.model seeds", file=sys.stderr)
        write(out, "empty.model", b"")
        return
    text = "\n".join([
        "Hello world, this is a tiny corpus for a tokenizer.",
        "你好，世界。这是一个很小的语料库。", "The quick brown fox jumps over the lazy dog.",
        "数字 12345 and emoji 🙂 mixed together.",
    ] * 20)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w") as f:
            f.write(text)
        for kind, extra in [("bpe", dict(byte_fallback=True)), ("unigram", {})]:
            prefix = os.path.join(tmp, kind)
            spm.SentencePieceTrainer.train(
                input=corpus, model_prefix=prefix, vocab_size=400, hard_vocab_limit=False,
                model_type=kind, character_coverage=1.0, normalization_rule_name="identity",
                remove_extra_whitespaces=False, user_defined_symbols=["<|im_start|>", "<|im_end|>"],
                num_threads=1, minloglevel=2, **extra)
            shutil.copy(prefix + ".model", os.path.join(out, kind + ".model"))


def chatml_jinja():
    """The Jinja MiniLLM writes for its chatml template (ChatTemplate.jinja)."""
    def lit(s):
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    parts = [
        "{%- if messages and messages[0]['role'] == 'system' -%}"
        "{%- set system_message = messages[0]['content'] -%}"
        "{%- set loop_messages = messages[1:] -%}"
        "{%- else -%}{%- set system_message = none -%}{%- set loop_messages = messages -%}"
        "{%- endif -%}",
        "{%- if system_message is not none -%}",
        "{{ " + lit("<|im_start|>system\n") + " + system_message + " + lit("<|im_end|>\n") + " }}",
        "{%- endif -%}", "{%- for message in loop_messages -%}",
        "{%- if message['role'] == 'user' -%}{{ " + lit("<|im_start|>user\n")
        + " + message['content'] + " + lit("<|im_end|>\n") + " }}",
        "{%- elif message['role'] == 'assistant' -%}{{ " + lit("<|im_start|>assistant\n")
        + " + message['content'] + " + lit("<|im_end|>\n") + " }}",
        "{%- else -%}{{ raise_exception('template chatml has no format for ' "
        "+ message['role'] + ' messages') }}",
        "{%- endif -%}{%- endfor -%}",
        "{%- if add_generation_prompt -%}{{ " + lit("<|im_start|>assistant\n") + " }}{%- endif -%}",
    ]
    return "".join(parts)


def seeds_chat(out):
    write(out, "chatml.jinja", chatml_jinja())
    write(out, "spec.json", json.dumps({
        "name": "mine", "system": {"prefix": "<sys>", "suffix": "\n"},
        "user": {"prefix": "<u>", "suffix": "\n"}, "assistant": {"prefix": "<a>"},
        "eos": "</s>", "special_tokens": ["<u>", "<a>"]}))
    write(out, "tokenizer_config.json", json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
        "add_bos_token": True, "add_eos_token": False, "chat_template": chatml_jinja(),
        "added_tokens_decoder": {"1": {"content": "<s>", "special": True}}}))


def byte_alphabet():
    """GPT-2's byte-level characters, byte by byte."""
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def seeds_tokenizer_json(out):
    alphabet = byte_alphabet()
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("ä", "½"), ("1", "2")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = [{"id": len(vocab) + i, "content": t, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i, t in enumerate(["<|im_start|>", "<|im_end|>"])]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    variants = {
        "gpt2": (None, byte_level, True),
        "string-merges": (None, byte_level, False),
        "llama3": (None, {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated",
             "invert": False}, dict(byte_level, use_regex=False)]}, True),
        "smollm-nfc": ({"type": "NFC"}, {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True}, byte_level]}, True),
    }
    for name, (normalizer, pre, pairs) in variants.items():
        write(out, name + ".json", json.dumps({
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                        "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": name == "llama3", "vocab": vocab,
                      "merges": [[a, b] if pairs else a + " " + b for a, b in merges]}},
            ensure_ascii=False))


def seeds_corpus(out):
    fixtures = os.path.join(ROOT, "Tests/MiniTokenizeTests/Fixtures")
    samples = {
        "jsonl": '{"text": "hello"}\n{"text": "你好"}\n',
        "json": '[{"completion": "维基"}, {"completion": "百科"}]',
        "txt": "one document\nanother document\n",
        "tsv": "prompt\tchosen\trejected\n",
        "alpaca": '{"instruction": "hi", "input": "", "output": "hello", "history": [["a", "b"]]}\n',
        "sharegpt": '{"conversations": [{"from": "human", "value": "hi {{name}}"}, {"from": "gpt", "value": "ok"}]}\n',
        "dpo": '{"prompt": "p", "chosen": "c", "rejected": "r"}\n',
    }
    for index, (name, text) in enumerate(samples.items()):
        write(out, name, bytes([0]) + text.encode())
        write(out, name + "-typed", bytes([index + 1]) + text.encode())
    if os.path.isdir(fixtures):
        for index, name in enumerate(sorted(os.listdir(fixtures))):
            with open(os.path.join(fixtures, name), "rb") as f:
                data = f.read(4096)
            write(out, "fixture-" + name, bytes([0]) + data)
    if shutil.which("zstd"):
        raw = samples["jsonl"].encode()
        packed = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
        write(out, "jsonl.zst", bytes([0]) + packed)


class Thrift:
    """Thrift compact protocol, the encoding of Parquet's metadata."""

    def __init__(self):
        self.out = bytearray()
        self.last = [0]

    def varint(self, value):
        while value >= 0x80:
            self.out.append(value & 0x7F | 0x80)
            value >>= 7
        self.out.append(value)

    def field(self, fid, ftype):
        delta = fid - self.last[-1]
        if 0 < delta <= 15:
            self.out.append(delta << 4 | ftype)
        else:
            self.out.append(ftype)
            self.varint((fid << 1) ^ (fid >> 63))
        self.last[-1] = fid

    def i32(self, fid, value, ftype=5):
        self.field(fid, ftype)
        self.varint((value << 1) ^ (value >> 63))

    def i64(self, fid, value):
        self.i32(fid, value, ftype=6)

    def binary(self, fid, data):
        self.field(fid, 8)
        self.varint(len(data))
        self.out += data

    def begin_struct(self, fid):
        self.field(fid, 12)
        self.last.append(0)

    def end_struct(self):
        self.out.append(0)
        self.last.pop()

    def list_header(self, fid, count, etype):
        self.field(fid, 9)
        self.out.append(count << 4 | etype)

    def list_struct(self):
        self.last.append(0)


def parquet_plain(column, values):
    """A hand-made Parquet file: one required UTF-8 column, one row group, one uncompressed
    PLAIN data page (version 1)."""
    data = b"".join(struct.pack("<I", len(v)) + v for v in values)
    page = Thrift()
    page.i32(1, 0)  # DATA_PAGE
    page.i32(2, len(data))
    page.i32(3, len(data))
    page.begin_struct(5)
    page.i32(1, len(values))
    page.i32(2, 0)  # PLAIN
    page.i32(3, 3)  # RLE
    page.i32(4, 3)
    page.end_struct()
    page.out.append(0)
    chunk = bytes(page.out) + data
    meta = Thrift()
    meta.i32(1, 1)
    meta.list_header(2, 2, 12)
    meta.list_struct()
    meta.binary(4, b"schema")
    meta.i32(5, 1)
    meta.end_struct()
    meta.list_struct()
    meta.i32(1, 6)  # BYTE_ARRAY
    meta.i32(3, 0)  # REQUIRED
    meta.binary(4, column.encode())
    meta.i32(6, 0)  # UTF8
    meta.end_struct()
    meta.i64(3, len(values))
    meta.list_header(4, 1, 12)
    meta.list_struct()
    meta.list_header(1, 1, 12)
    meta.list_struct()
    meta.i64(2, 4)
    meta.begin_struct(3)
    meta.i32(1, 6)
    meta.list_header(2, 1, 5)
    meta.varint(0)
    meta.list_header(3, 1, 8)
    meta.varint(len(column.encode()))
    meta.out += column.encode()
    meta.i32(4, 0)  # UNCOMPRESSED
    meta.i64(5, len(values))
    meta.i64(6, len(chunk))
    meta.i64(7, len(chunk))
    meta.i64(9, 4)
    meta.end_struct()
    meta.end_struct()
    meta.i64(2, len(chunk))
    meta.i64(3, len(values))
    meta.end_struct()
    meta.out.append(0)
    footer = bytes(meta.out)
    return b"PAR1" + chunk + footer + struct.pack("<I", len(footer)) + b"PAR1"


def seeds_parquet(out):
    values = ["hello", "你好，世界", "", "emoji 🙂"]
    write(out, "text-plain.parquet", parquet_plain("text", [v.encode() for v in values]))
    write(out, "content-plain.parquet", parquet_plain("content", [b"one", b"two"]))
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        return
    table = pyarrow.table({"instruction": ["hi", "你好"], "input": ["", "x"], "output": ["a", None]})
    path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    for codec in ["none", "snappy", "zstd", "gzip"]:
        for dictionary in [False, True]:
            pyarrow.parquet.write_table(table, path, compression=codec, use_dictionary=dictionary)
            with open(path, "rb") as f:
                write(out, "alpaca-%s-%s.parquet" % (codec, "dict" if dictionary else "plain"), f.read())


def seeds_shards(out, preference):
    if preference:
        line = '{"prompt_ids": [1, 2], "chosen_ids": [3, 4], "rejected_ids": [5]}\n'
        index = {"format": "minillm-dpo", "version": 1, "files": [{"name": "shard-00000.jsonl", "pairs": 1}]}
    else:
        line = '{"input_ids": [1, 2, 3, 4], "loss_mask": [0, 0, 1, 1]}\n'
        index = {"format": "minillm-sft", "version": 1, "files": [{"name": "shard-00000.jsonl", "samples": 1}]}
    write(out, "shard", b"\0" + (line * 3).encode())
    write(out, "index", b"\1" + json.dumps(index).encode())


def manifest_body(step, files):
    text = '{\n  "format": "minillm-checkpoint",\n  "version": 1,\n  "step": %d,\n  "files": [\n' % step
    text += ",\n".join('    {"name": "%s", "bytes": %d, "sha256": "%s"}' % f for f in files)
    return (text + "\n  ],\n").encode()


def seeds_manifest(out):
    config, state = b"{}\n", b"x"
    files = [("config.json", len(config), hashlib.sha256(config).hexdigest()),
             ("trainer_state.json", len(state), hashlib.sha256(state).hexdigest())]
    body = manifest_body(3, files)
    whole = body + ('  "manifest_sha256": "%s"\n}\n' % hashlib.sha256(body).hexdigest()).encode()
    write(out, "body", b"\1" + body)
    write(out, "whole", b"\0" + whole)


def seeds_trainer_state(out):
    rng = {"seed": 7, "stream": 1397773395, "counter": 3, "word": 2}
    state = {
        "format": "minillm-trainer-state", "version": 1, "optimizer": "adamw",
        "learning_rate": 0.0003,
        "progress": {"step": 3, "tokens_seen": 1536, "skipped_steps": 0, "consecutive_skips": 0,
                     "rollbacks": 0, "elapsed_seconds": 1.5, "last_eval_loss": 4.2},
        "schedule": {"kind": "cosine", "peak_learning_rate": 0.0003, "minimum_learning_rate": 3e-5,
                     "warmup_steps": 1, "total_steps": 10, "decay_steps": 2},
        "configuration": {"total_steps": 10, "accumulation_steps": 1, "max_gradient_norm": 1.0,
                          "evaluate_every": 5, "checkpoint_every": 5, "keep_last": 3, "keep_every": 0,
                          "max_consecutive_skips": 3, "max_rollbacks": 5},
    }
    cursors = {
        "sft": {"epoch": 0, "position": 2, "shuffle_rng": rng, "sample_count": 8, "token_count": 64},
        "windows": {"epoch": 1, "position": 0, "shuffle_rng": rng, "window_count": 8},
        "pairs": {"epoch": 0, "position": 1, "shuffle_rng": rng, "pair_count": 4},
    }
    for name, cursor in cursors.items():
        write(out, name + ".json", json.dumps({**state, "data_cursor": cursor}, indent=2))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    seeds_safetensors(os.path.join(out, "FuzzSafeTensors"))
    seeds_gguf(os.path.join(out, "FuzzGGUF"))
    seeds_config(os.path.join(out, "FuzzLlamaConfig"))
    seeds_tokenizer(os.path.join(out, "FuzzTokenizerModel"))
    seeds_tokenizer_json(os.path.join(out, "FuzzTokenizerJSON"))
    seeds_chat(os.path.join(out, "FuzzChatTemplate"))
    seeds_corpus(os.path.join(out, "FuzzCorpusReader"))
    seeds_parquet(os.path.join(out, "FuzzParquet"))
    seeds_shards(os.path.join(out, "FuzzSFTShard"), preference=False)
    seeds_shards(os.path.join(out, "FuzzPreferenceShard"), preference=True)
    seeds_manifest(os.path.join(out, "FuzzCheckpointManifest"))
    seeds_trainer_state(os.path.join(out, "FuzzTrainerState"))


if __name__ == "__main__":
    main()
