"""Writes optimizer_reference.json: PyTorch's AdamW (two parameter groups), SGD with momentum,
clip_grad_norm_ and transformers' learning-rate schedules on small hand-sized cases, for
Tests/MiniTrainTests/OptimizerReferenceTests.swift.

Run with a Python that has torch and transformers:  python make_optimizer_reference.py
"""

import json
import math
import os

import torch
from transformers.optimization import (
    get_constant_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_linear_schedule_with_warmup,
    get_wsd_schedule,
)

torch.manual_seed(0)
SHAPES = {"w": [3, 4], "b": [4], "e": [5, 3]}
STEPS = 4


def tensors():
    g = torch.Generator().manual_seed(1)
    values = {k: torch.randn(*s, generator=g) * 0.5 for k, s in SHAPES.items()}
    grads = [{k: torch.randn(*s, generator=g) for k, s in SHAPES.items()} for _ in range(STEPS)]
    return values, grads


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def run(make_optimizer, clip=None, schedule=None):
    values, grads = tensors()
    params = {k: torch.nn.Parameter(v.clone()) for k, v in values.items()}
    opt = make_optimizer(params)
    sched = schedule(opt) if schedule else None
    norms, lrs = [], []
    for step in range(STEPS):
        for k, p in params.items():
            p.grad = grads[step][k].clone()
        if clip is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), clip)))
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        if sched:
            sched.step()
    return {
        "norms": norms,
        "lrs": lrs,
        "after": {k: flat(p) for k, p in params.items()},
    }


values, grads = tensors()
out = {
    "shapes": SHAPES,
    "steps": STEPS,
    "initial": {k: flat(v) for k, v in values.items()},
    "gradients": [{k: flat(g[k]) for k in SHAPES} for g in grads],
}

# AdamW with baby-llama2-chinese's two groups: decay on matrices only; the no-decay group at half the lr.
out["adamw_groups"] = run(
    lambda p: torch.optim.AdamW(
        [
            {"params": [p["w"], p["e"]], "weight_decay": 0.1},
            {"params": [p["b"]], "weight_decay": 0.0, "lr": 5e-3},
        ],
        lr=1e-2, betas=(0.9, 0.95), eps=1e-8,
    ),
    clip=1.0,
    schedule=lambda o: get_cosine_with_min_lr_schedule_with_warmup(o, 1, STEPS, min_lr_rate=0.1),
)
# SGD with momentum and (coupled) weight decay, gradients clipped to 0.5.
out["sgd_momentum"] = run(
    lambda p: torch.optim.SGD(list(p.values()), lr=0.1, momentum=0.9, weight_decay=0.01),
    clip=0.5,
)
out["sgd_nesterov"] = run(
    lambda p: torch.optim.SGD(list(p.values()), lr=0.05, momentum=0.8, nesterov=True),
)

# Schedules: factor of the initial lr at steps 0..total+1.
dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def factors(make, total):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make(opt)
    result = []
    for _ in range(total + 2):
        result.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return result


out["schedules"] = [
    {"kind": "cosine", "warmup": 3, "total": 10, "min_ratio": 0.0,
     "factors": factors(lambda o: get_cosine_with_min_lr_schedule_with_warmup(o, 3, 10, min_lr_rate=0.0), 10)},
    {"kind": "cosine", "warmup": 2, "total": 9, "min_ratio": 0.1,
     "factors": factors(lambda o: get_cosine_with_min_lr_schedule_with_warmup(o, 2, 9, min_lr_rate=0.1), 9)},
    {"kind": "linear", "warmup": 3, "total": 10, "min_ratio": 0.0,
     "factors": factors(lambda o: get_linear_schedule_with_warmup(o, 3, 10), 10)},
    {"kind": "constant", "warmup": 4, "total": 8, "min_ratio": 0.0,
     "factors": factors(lambda o: get_constant_schedule_with_warmup(o, 4), 8)},
    {"kind": "wsd", "warmup": 2, "total": 12, "decay": 4, "min_ratio": 0.1,
     "factors": factors(lambda o: get_wsd_schedule(o, 2, 4, num_training_steps=12, min_lr_ratio=0.1), 12)},
]

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizer_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
    f.write("\n")
print("wrote", path)
