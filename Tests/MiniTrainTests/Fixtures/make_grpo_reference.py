"""GRPO loss figures of TRL's GRPOTrainer.compute_loss, written out with torch on fixed tensors
(grpo_reference.json). Run with the peers' python: python make_grpo_reference.py"""

import json

import torch

torch.manual_seed(0)
rows, width, group = 4, 5, 2
logps = (torch.randn(rows, width, dtype=torch.float64) * 0.5 - 1.5)
old = logps + torch.randn(rows, width, dtype=torch.float64) * 0.3
ref = logps + torch.randn(rows, width, dtype=torch.float64) * 0.4
mask = torch.tensor(
    [[0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0]], dtype=torch.float64)
rewards = torch.tensor([1.0, 0.0, 0.25, 0.75], dtype=torch.float64)

# GRPOTrainer._generate_and_score_completions
mean = rewards.view(-1, group).mean(dim=1).repeat_interleave(group)
std = rewards.view(-1, group).std(dim=1).repeat_interleave(group)
advantages = (rewards - mean) / (std + 1e-4)

cases = []
for loss_type in ["grpo", "bnpo"]:
    for beta, eps in [(0.04, 0.2), (0.0, 0.1), (0.3, 0.05)]:
        p = logps.clone().requires_grad_(True)
        # GRPOTrainer._compute_loss
        per_token_kl = torch.exp(ref - p) - (ref - p) - 1
        coef_1 = torch.exp(p - old)
        coef_2 = torch.clamp(coef_1, 1 - eps, 1 + eps)
        per_token_loss1 = coef_1 * advantages.unsqueeze(1)
        per_token_loss2 = coef_2 * advantages.unsqueeze(1)
        per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
        if beta != 0.0:
            per_token_loss = per_token_loss + beta * per_token_kl
        if loss_type == "grpo":
            loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
        else:
            loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
        loss.backward()
        is_low = (coef_1 < 1 - eps) & (advantages.unsqueeze(1) < 0)
        is_high = (coef_1 > 1 + eps) & (advantages.unsqueeze(1) > 0)
        clip = ((is_low | is_high).double() * mask).sum() / mask.sum()
        kl = (per_token_kl * mask).sum() / mask.sum()
        cases.append({
            "loss_type": loss_type, "beta": beta, "eps": eps, "loss": loss.item(),
            "gradient": p.grad.flatten().tolist(), "kl": kl.item(), "clip_fraction": clip.item(),
        })

json.dump({
    "rows": rows, "group": group, "logps": logps.flatten().tolist(), "old": old.flatten().tolist(),
    "ref": ref.flatten().tolist(), "mask": mask.flatten().tolist(), "rewards": rewards.tolist(),
    "advantages": advantages.tolist(), "cases": cases,
}, open("grpo_reference.json", "w"), indent=1)
