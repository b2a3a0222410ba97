#!/usr/bin/env python3
"""Writes golden outputs of seeded random Hugging Face Llamas into Tests/Fixtures/<name>/.

Every fixture has one format:
  config.json + model.safetensors   save_pretrained of the model (float32)
  expected.safetensors              int64 `input_ids` [B, T], float32 `logits` [B, T, V],
                                    `grad.<param name>` for every parameter (gradient of the mean
                                    next-token cross-entropy, model(ids, labels=ids).loss),
                                    `adamw.<param name>`: every parameter after ONE AdamW step
                                    with those gradients; metadata `loss`
  expected.json                     the loss, the greedy continuation of a short prompt and its
                                    smallest top-1/top-2 margin, the AdamW hyperparameters, and
                                    `trajectory`: the losses of 10 AdamW steps on the same batch
                                    (loss before each step), as llm.c's test_gpt2 checks
                                    expected_losses; torch and transformers versions

AdamW is torch.optim.AdamW(model.parameters(), lr, betas, eps, weight_decay) over ONE group, so
the decay hits every parameter (norm weights and embeddings too).

Run with the peers' Python (scripts/peers):  .build/peers-venv/bin/python scripts/make-fixtures.py
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")

ADAMW = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
TRAJECTORY_STEPS = 10

CASES = {
    # the plain model: untied, GQA 2:1, default RoPE, HF's own initialisation (norm weights 1)
    "hf-tiny-llama": dict(
        config=dict(vocab_size=256, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                    rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                    bos_token_id=None, eos_token_id=None),
        batch=2, seq=16, seed=0, ids_seed=1234, prompt=4, new_tokens=20, random_norms=False),
    # tied embeddings, 4 query heads per kv head, large theta, odd sizes
    "llama-tied-gqa4": dict(
        config=dict(vocab_size=97, hidden_size=48, intermediate_size=100, num_hidden_layers=3,
                    num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=64,
                    rms_norm_eps=1e-6, rope_theta=500000.0, tie_word_embeddings=True),
        batch=3, seq=11, seed=11),
    # plain multi-head attention with llama3 RoPE scaling
    "llama-llama3-rope": dict(
        config=dict(vocab_size=131, hidden_size=40, intermediate_size=72, num_hidden_layers=2,
                    num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                    rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                    rope_scaling=dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0, original_max_position_embeddings=16)),
        batch=2, seq=24, seed=12),
    # linear RoPE scaling, GQA 2:1, head_dim 6
    "llama-linear-rope": dict(
        config=dict(vocab_size=64, hidden_size=36, intermediate_size=52, num_hidden_layers=2,
                    num_attention_heads=6, num_key_value_heads=3, max_position_embeddings=64,
                    rms_norm_eps=1e-5, rope_theta=1000.0, tie_word_embeddings=False,
                    rope_scaling=dict(rope_type="linear", factor=2.0)),
        batch=2, seq=9, seed=13),
}


def make(name, case):
    torch.manual_seed(case["seed"])
    config = LlamaConfig(**case["config"], attn_implementation="eager")
    model = LlamaForCausalLM(config).float().eval()
    if case.get("random_norms", True):
        # Random norm weights so the fixture checks them too (HF initialises them to 1).
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("norm.weight"):
                    p.copy_(1 + 0.1 * torch.randn_like(p))
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        os.remove(os.path.join(out, old))
    model.save_pretrained(out, safe_serialization=True)
    g = torch.Generator().manual_seed(case.get("ids_seed", case["seed"] + 1000))
    ids = torch.randint(0, config.vocab_size, (case["batch"], case["seq"]), generator=g)
    result = model(ids, labels=ids)
    result.loss.backward()
    tensors = {"input_ids": ids.to(torch.int64), "logits": result.logits.detach().float().contiguous()}
    for n, p in model.named_parameters():
        tensors["grad." + n] = p.grad.detach().float().contiguous()

    prompt_length, count = case.get("prompt", 3), case.get("new_tokens", 12)
    prompt = ids[0:1, :prompt_length]
    with torch.no_grad():
        generated = model.generate(prompt, max_new_tokens=count, do_sample=False, use_cache=True,
                                   eos_token_id=None, pad_token_id=0)
        new = generated[0, prompt_length:].tolist()
        # margins without cache
        seq = prompt
        margins = []
        for _ in range(count):
            logits = model(seq).logits[0, -1]
            top = torch.topk(logits, 2).values
            margins.append((top[0] - top[1]).item())
            seq = torch.cat([seq, logits.argmax().view(1, 1)], dim=1)
        assert seq[0, prompt_length:].tolist() == new

    # AdamW on the same batch: the weights after the first step, and the loss before each of
    # TRAJECTORY_STEPS steps (the first is the loss above).
    optimizer = torch.optim.AdamW(model.parameters(), **ADAMW)
    trajectory = []
    for step in range(TRAJECTORY_STEPS):
        if step > 0:
            optimizer.zero_grad(set_to_none=True)
            loss = model(ids, labels=ids).loss
            loss.backward()
        else:
            loss = result.loss
        trajectory.append(loss.item())
        optimizer.step()
        if step == 0:
            for n, p in model.named_parameters():
                tensors["adamw." + n] = p.detach().float().contiguous().clone()
    save_file(tensors, os.path.join(out, "expected.safetensors"), metadata={"loss": repr(result.loss.item())})
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"loss": result.loss.item(), "prompt": prompt[0].tolist(), "greedy": new,
                   "min_margin": min(margins),
                   "adamw": dict(ADAMW, betas=list(ADAMW["betas"]), groups="all parameters"),
                   "trajectory": trajectory, "torch": torch.__version__,
                   "transformers": __import__("transformers").__version__}, f, indent=1)
    if os.path.exists(os.path.join(out, "generation_config.json")):
        os.remove(os.path.join(out, "generation_config.json"))
    print(name, "loss", result.loss.item(), "min margin", min(margins), "trajectory", trajectory)


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name, case in CASES.items():
        make(name, case)
