#!/usr/bin/env python3
"""Builds the mixed text and byte-level BPE tokenizers that `minillm bench tokenize` is run on
in Docs/Tokenizers.md: about 2.1 MB of lines drawn (seeded) from the Chinese man pages and
fortunes of the Debian packages manpages-zh and fortunes-zh (0.9 MB), this repository's Markdown
(0.6 MB) and its Swift and C sources (0.6 MB), shuffled; then a 32,000-token byte-level BPE
trained on it by Hugging Face `tokenizers` for each pre-tokenizer (Llama 3 split, Qwen2 split
with NFC, GPT-2), saved as OUT/{llama3,qwen2,gpt2}/tokenizer.json.

Usage: .build/peers-venv/bin/python scripts/bench-tokenize-corpus.py OUT
then:  minillm bench tokenize --tokenizer OUT/llama3/tokenizer.json --input OUT/mixed.txt \\
           --compare-tokenizers --python .build/peers-venv/bin/python
"""
import glob, gzip, os, random, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
chinese = []
for path in sorted(glob.glob("/usr/share/man/zh_CN/man*/*.gz"))[:400]:
    text = gzip.open(path).read().decode("utf-8", "ignore")
    for line in text.split("\n"):
        line = re.sub(r"\\f[BIRP]", "", line)
        if line.strip() and not line.startswith("."):
            chinese.append(line)
for path in ["/usr/share/games/fortunes/chinese", "/usr/share/games/fortunes/tang300"]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", open(path, encoding="utf-8", errors="ignore").read())
    chinese += [l for l in text.split("\n") if l.strip() and l.strip() != "%"]
english = []
for path in sorted(glob.glob(f"{root}/Docs/*.md")) + [f"{root}/README.md"]:
    english += [l for l in open(path, encoding="utf-8").read().split("\n") if l.strip()]
code = []
for path in sorted(glob.glob(f"{root}/Sources/**/*.swift", recursive=True)) + sorted(
        glob.glob(f"{root}/Sources/CKernels/*.c")):
    code += [l for l in open(path, encoding="utf-8").read().split("\n") if l.strip()]
rng = random.Random(1)


def take(lines, size):
    picked, total = [], 0
    while total < size:
        line = lines[rng.randrange(len(lines))]
        picked.append(line)
        total += len(line.encode())
    return picked


lines = take(chinese, 900_000) + take(english, 600_000) + take(code, 600_000)
rng.shuffle(lines)
with open(f"{out}/mixed.txt", "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")

from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers, normalizers

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
for kind in ["llama3", "qwen2", "gpt2"]:
    tok = Tokenizer(models.BPE(ignore_merges=(kind == "llama3")))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        pattern = LLAMA3 if kind == "llama3" else QWEN2
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(pattern), behavior="isolated"), byte_level])
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=32000, show_progress=False,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([f"{out}/mixed.txt"], trainer)
    os.makedirs(f"{out}/{kind}", exist_ok=True)
    tok.save(f"{out}/{kind}/tokenizer.json")
print(f"{out}/mixed.txt: {len(lines)} lines, {sum(len(l.encode()) for l in lines)} bytes")
