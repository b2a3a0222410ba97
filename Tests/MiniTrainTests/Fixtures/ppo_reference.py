"""PPO figures of TRL's PPOTrainer (per-token KL rewards, reward whitening, GAE, advantage
whitening, clipped policy and value losses), written out with torch on fixed tensors; prints
JSON. Run with the peers' python: python ppo_reference.py

With arguments, `python ppo_reference.py CRITIC_DIR INPUT_JSON`, the value loss of TRL's separate
critic instead: CRITIC_DIR is a LlamaForSequenceClassification directory (TRL's value model, loaded
as `AutoModelForSequenceClassification.from_pretrained(reward_model_path)`), INPUT_JSON holds rows
{"tokens", "start", "old_values", "returns"} and "cliprange_value", "vf_coef". Values are
`score(backbone(tokens).hidden_states[-1])` (TRL's PolicyAndValueWrapper) read from position
`start` on; prints the value loss, the values and the gradients of vf_coef·vf_loss."""

import json
import sys

import torch


def critic_value_loss(directory, arguments):
    from transformers import LlamaForSequenceClassification

    critic = LlamaForSequenceClassification.from_pretrained(
        directory, attn_implementation="eager", torch_dtype=torch.float32)
    critic.train()
    backbone = critic.model
    vpreds, olds, rets = [], [], []
    for row in arguments["rows"]:
        ids = torch.tensor([row["tokens"]])
        hidden = backbone(input_ids=ids, output_hidden_states=True).hidden_states[-1]
        values = critic.score(hidden)[0, :, 0]
        n = len(row["old_values"])
        vpreds.append(values[row["start"]:row["start"] + n])
        olds.append(torch.tensor(row["old_values"]))
        rets.append(torch.tensor(row["returns"]))
    vpred, values, returns = torch.cat(vpreds), torch.cat(olds), torch.cat(rets)
    c = arguments["cliprange_value"]
    vpredclipped = torch.clamp(vpred, values - c, values + c)
    vf_losses1 = torch.square(vpred - returns)
    vf_losses2 = torch.square(vpredclipped - returns)
    vf_loss = 0.5 * torch.max(vf_losses1, vf_losses2).mean()
    (arguments["vf_coef"] * vf_loss).backward()
    names = ["score.weight", "model.norm.weight", "model.layers.0.self_attn.q_proj.weight",
             "model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight"]
    grads = dict(critic.named_parameters())
    print(json.dumps({
        "vf_loss": vf_loss.item(), "values": vpred.tolist(),
        "gradients": {name: grads[name].grad.flatten().tolist() for name in names},
    }))


if len(sys.argv) > 1:
    with open(sys.argv[2]) as f:
        critic_value_loss(sys.argv[1], json.load(f))
    sys.exit(0)

INVALID_LOGPROB = 1.0
torch.manual_seed(0)
rows, width, pad = 4, 6, 0
lengths_in = [3, 6, 1, 4]


# trl.trainer.utils
def first_true_indices(bools, dtype=torch.long):
    row_len = bools.size(-1)
    zero_or_index = row_len * (~bools).type(dtype) + torch.arange(row_len, dtype=dtype)
    return torch.min(zero_or_index, dim=-1).values


def masked_mean(values, mask, axis=None):
    if axis is not None:
        return (values * mask).sum(axis=axis) / mask.sum(axis=axis)
    return (values * mask).sum() / mask.sum()


def masked_var(values, mask, unbiased=True):
    mean = masked_mean(values, mask)
    centered_values = values - mean
    variance = masked_mean(centered_values**2, mask)
    if unbiased:
        mask_sum = mask.sum()
        bessel_correction = mask_sum / (mask_sum - 1)
        variance = variance * bessel_correction
    return variance


def masked_whiten(values, mask, shift_mean=True):
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened += mean
    return whitened


responses = torch.full((rows, width), pad, dtype=torch.long)
for r, n in enumerate(lengths_in):
    responses[r, :n] = torch.randint(1, 50, (n,))
logprobs_raw = torch.randn(rows, width, dtype=torch.float64) * 0.5 - 1.5
ref_raw = logprobs_raw + torch.randn(rows, width, dtype=torch.float64) * 0.4
values_raw = torch.randn(rows, width, dtype=torch.float64) * 0.7
scores = torch.tensor([1.5, -0.5, 0.25, 2.0], dtype=torch.float64)
new_logprobs_raw = logprobs_raw + torch.randn(rows, width, dtype=torch.float64) * 0.3
vpred_raw = values_raw + torch.randn(rows, width, dtype=torch.float64) * 0.4

cases = []
for kl_coef, kl_estimator, whiten_rewards, gamma, lam, cliprange, cliprange_value, vf_coef in [
    (0.05, "k1", False, 1.0, 0.95, 0.2, 0.2, 0.1),
    (0.2, "k3", True, 0.9, 0.8, 0.1, 0.05, 0.5),
    (0.0, "k1", True, 1.0, 1.0, 0.3, 0.5, 1.0),
]:
    # PPOTrainer.train, rollout part
    sequence_lengths = first_true_indices(responses == pad) - 1
    response_idxs = torch.arange(width).repeat(rows, 1)
    padding_mask = response_idxs > sequence_lengths.unsqueeze(1)
    logprobs = torch.masked_fill(logprobs_raw, padding_mask, INVALID_LOGPROB)
    ref_logprobs = torch.masked_fill(ref_raw, padding_mask, INVALID_LOGPROB)
    sequence_lengths_p1 = sequence_lengths + 1
    padding_mask_p1 = response_idxs > (sequence_lengths_p1.unsqueeze(1))
    values = torch.masked_fill(values_raw, padding_mask_p1, 0)
    logr = ref_logprobs - logprobs
    kl = -logr if kl_estimator == "k1" else (logr.exp() - 1) - logr
    non_score_reward = -kl_coef * kl
    rewards = non_score_reward.clone()
    actual_start = torch.arange(rewards.size(0))
    actual_end = torch.where(sequence_lengths_p1 < rewards.size(1), sequence_lengths_p1, sequence_lengths)
    rewards[(actual_start, actual_end)] += scores
    if whiten_rewards:
        rewards = masked_whiten(rewards, mask=~padding_mask_p1, shift_mean=False)
        rewards = torch.masked_fill(rewards, padding_mask_p1, 0)
    lastgaelam = 0
    advantages_reversed = []
    for t in reversed(range(width)):
        nextvalues = values[:, t + 1] if t < width - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1], axis=1)
    returns = advantages + values
    advantages = masked_whiten(advantages, ~padding_mask)
    advantages = torch.masked_fill(advantages, padding_mask, 0)

    # PPOTrainer.train, one micro-batch of the whole batch
    new_logprobs = new_logprobs_raw.clone().requires_grad_(True)
    vpred_in = vpred_raw.clone().requires_grad_(True)
    nl = torch.masked_fill(new_logprobs, padding_mask, INVALID_LOGPROB)
    vpred = torch.masked_fill(vpred_in, padding_mask_p1, 0)
    vpredclipped = torch.clamp(vpred, values - cliprange_value, values + cliprange_value)
    vf_losses1 = torch.square(vpred - returns)
    vf_losses2 = torch.square(vpredclipped - returns)
    vf_loss_max = torch.max(vf_losses1, vf_losses2)
    vf_loss = 0.5 * masked_mean(vf_loss_max, ~padding_mask_p1)
    vf_clipfrac = masked_mean((vf_losses2 > vf_losses1).double(), ~padding_mask_p1)
    logprobs_diff = nl - logprobs
    ratio = torch.exp(logprobs_diff)
    pg_losses = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss_max = torch.max(pg_losses, pg_losses2)
    pg_loss = masked_mean(pg_loss_max, ~padding_mask)
    loss = pg_loss + vf_coef * vf_loss
    loss.backward()
    pg_clipfrac = masked_mean((pg_losses2 > pg_losses).double(), ~padding_mask)
    cases.append({
        "kl_coef": kl_coef, "kl_estimator": kl_estimator, "whiten_rewards": whiten_rewards,
        "gamma": gamma, "lam": lam, "cliprange": cliprange, "cliprange_value": cliprange_value,
        "vf_coef": vf_coef,
        "kl": (kl * ~padding_mask).flatten().tolist(), "rewards": rewards.flatten().tolist(),
        "advantages": advantages.flatten().tolist(), "returns": returns.flatten().tolist(),
        "pg_loss": pg_loss.item(), "vf_loss": vf_loss.item(), "loss": loss.item(),
        "pg_clipfrac": pg_clipfrac.item(), "vf_clipfrac": vf_clipfrac.item(),
        "logprob_gradient": new_logprobs.grad.flatten().tolist(),
        "value_gradient": vpred_in.grad.flatten().tolist(),
    })

print(json.dumps({
    "rows": rows, "width": width, "lengths": (sequence_lengths + 1).tolist(),
    "logprobs": logprobs_raw.flatten().tolist(), "ref": ref_raw.flatten().tolist(),
    "values": values_raw.flatten().tolist(), "scores": scores.tolist(),
    "new_logprobs": new_logprobs_raw.flatten().tolist(), "vpred": vpred_raw.flatten().tolist(),
    "cases": cases,
}))
