#!/usr/bin/env python3
"""PEFT LoRA training-throughput peer of `minillm bench train --lora-rank R`.

Usage:
  python scripts/peft_train_bench.py --config A [--rank 8] [--alpha 16] [--threads 2] [--steps 10]
                                     [--warmup 3] [--bench-dir ../shared/bench] [--json out.json]

The model is the one ../shared/bench/train_bench.py builds for the config (transformers
LlamaForCausalLM, float32, sdpa attention); `peft.get_peft_model` puts LoRA adapters (dropout 0, no
bias) on the seven projections of every layer, and torch.optim.AdamW updates the adapters alone.
One step = forward + cross-entropy over all B*T positions + backward + AdamW.step +
zero_grad(set_to_none=True), as train_bench.py times it. Prints one JSON line: step times,
tokens/s, trained parameters and the process's peak RSS.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="A")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=None, help="default 2*rank, as minillm's")
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--bench-dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    sys.path.insert(0, os.path.abspath(a.bench_dir))
    import torch
    import torch.nn.functional as F
    import peft
    from train_bench import CONFIGS, build

    torch.set_num_threads(a.threads)
    cfg = CONFIGS[a.config]
    base = build(cfg)
    lora = peft.LoraConfig(
        r=a.rank, lora_alpha=a.alpha if a.alpha is not None else 2 * a.rank, lora_dropout=0.0,
        target_modules=a.targets.split(","), bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, lora)
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)

    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, cfg["vocab"], (cfg["batch"], cfg["seq"] + 1), generator=g)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step():
        t0 = time.perf_counter()
        logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.view(-1, cfg["vocab"]), y.view(-1))
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        return t3 - t0, t1 - t0, t2 - t1, t3 - t2, loss.item()

    warm = [step() for _ in range(a.warmup)]
    times = [step() for _ in range(a.steps)]
    tot = [t[0] for t in times]
    med = statistics.median(tot)
    tokens = cfg["batch"] * cfg["seq"]
    out = dict(
        config=a.config, cfg=cfg, threads=a.threads, rank=a.rank, alpha=lora.lora_alpha,
        targets=sorted(lora.target_modules), trained_parameters=sum(p.numel() for p in trained),
        parameters=sum(p.numel() for p in base.parameters() if not p.requires_grad),
        tokens_per_step=tokens, step_s_median=med, step_s_min=min(tot), step_s_max=max(tot),
        fwd_s_median=statistics.median(t[1] for t in times),
        bwd_s_median=statistics.median(t[2] for t in times),
        opt_s_median=statistics.median(t[3] for t in times),
        tokens_per_s_median=tokens / med,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        loss_first=(warm[0] if warm else times[0])[4], loss_last=times[-1][4],
        torch=torch.__version__, peft=peft.__version__,
    )
    print(json.dumps(out))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
