"""A client batch of B > 1 items: which items, the labels from the update, the evaluation.

- **The batch.** Trial i's client trains on item i and B - 1 other items of the split, drawn
  from the trial's own seeded generator (the same batch on every run and device).
- **Labels.** With B > 1 iDLG's single-label rule does not apply. The bias gradient of the
  classifier is ``g_k = mean_i (p_ik - [y_i = k])``, so class k appears
  ``n_k = B (pbar_k - g_k)`` times, with ``pbar_k`` the batch's mean softmax output. The attacker
  estimates ``pbar`` by running the server's copy of the model on random inputs (it knows the
  model, not the data: a label-count estimator of Wainakh et al.'s LLG family). A class with a
  negative bias gradient is in the batch (every softmax output is below 1), so it gets at least
  one; the rest of B goes, one at a time, to the largest remaining estimate.
- **Evaluation.** A reconstruction's items come in no particular order: they are matched to the
  private items by the assignment of least total MSE (``scipy.optimize.linear_sum_assignment``),
  then scored per item. A record holds the per-item metrics (``items``), their means, the
  per-item success rate, and ``success`` for the batch: every item judged correctly.
"""

from __future__ import annotations

import torch

from snnleak import layout, metrics
from snnleak.attacks.threat import Observation


def client_indices(split_size: int, index: int, batch: int, generator: torch.Generator) -> list:
    """Item ``index`` and ``batch - 1`` others of the split, drawn from ``generator``."""
    others = torch.randperm(split_size, generator=generator, device="cpu").tolist()
    return [index, *[j for j in others if j != index][: batch - 1]]


def label_counts(obs: Observation, probes: int = 32, seed: int = 0) -> torch.Tensor:
    """How many times each class appears in the client's batch, from the classifier's bias
    gradient and the model's mean output on random inputs: ``[K]`` integers summing to B."""
    b = obs.batch_size
    g = obs.gradients[-1].detach().double().cpu()  # the classifier's bias gradient [K]
    gen = torch.Generator().manual_seed(seed)
    shape = layout.batch_shape(obs.input_shape, probes, obs.modality)
    probe = torch.rand(shape, generator=gen, device="cpu", dtype=obs.gradients[0].dtype)
    with torch.no_grad():
        pbar = torch.softmax(obs.model(probe.to(obs.device)), -1).double().mean(0).cpu()
    raw = b * (pbar - g)  # the estimated counts
    # a class with a negative bias gradient is in the batch (p < 1 for every item): it gets at
    # least one; the rest of B goes by the largest remaining estimates
    present = torch.nonzero(g < 0).flatten()
    if len(present) > b:
        present = present[torch.argsort(g[present])[:b]]
    counts = torch.zeros_like(raw)
    counts[present] = 1
    for _ in range(b - len(present)):
        counts[torch.argmax(raw - counts)] += 1
    return counts.long()


def recover_labels(obs: Observation) -> torch.Tensor:
    """The batch's labels ``[B]`` (sorted by class) from :func:`label_counts`."""
    counts = label_counts(obs)
    labels = torch.repeat_interleave(torch.arange(len(counts)), counts)
    return labels.to(obs.device)


def match(x_hat: torch.Tensor, x: torch.Tensor) -> list[int]:
    """``order[i]``: the reconstruction matched to private item i (least total MSE)."""
    from scipy.optimize import linear_sum_assignment

    a = x_hat.reshape(len(x_hat), -1).double()
    b = x.reshape(len(x), -1).double()
    cost = torch.cdist(b, a) ** 2
    rows, cols = linear_sum_assignment(cost.numpy())
    order = [0] * len(x)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        order[r] = c
    return order


def evaluate(
    x_hat: torch.Tensor,
    labels_hat: list[int],
    x: torch.Tensor,
    y: list[int],
    judge: torch.nn.Module | None,
) -> dict:
    """Per-item metrics of a batch of images (CPU tensors ``[B, C, H, W]``) and their means."""
    x_hat = x_hat.detach().float().cpu()
    order = match(x_hat, x)
    matched = x_hat[order]
    judged = [None] * len(y)
    if judge is not None:
        where = next(judge.parameters()).device
        with torch.no_grad():
            judged = judge(matched.clamp(0, 1).to(where)).argmax(-1).tolist()
    items = []
    for i in range(len(y)):
        items.append(
            {
                "mse": metrics.mse(matched[i], x[i]),
                "psnr": metrics.psnr(matched[i], x[i]),
                "ssim": metrics.ssim(matched[i].clamp(0, 1), x[i]),
                "judge_label": judged[i],
                "success": None if judged[i] is None else judged[i] == y[i],
            }
        )
    mean = lambda key: sum(it[key] for it in items) / len(items)  # noqa: E731
    successes = [it["success"] for it in items]
    known = None not in successes
    return {
        "mse": mean("mse"),
        "l2": metrics.l2(matched, x),
        "psnr": mean("psnr"),
        "ssim": mean("ssim"),
        "judge_label": None,
        "judge_truth_label": None,
        "success": all(successes) if known else None,
        "item_success_rate": sum(successes) / len(successes) if known else None,
        "label_correct": sorted(labels_hat) == sorted(y),
        "items": items,
        "order": order,
    }
