"""Scoring a reconstruction against the private data: the only module that reads the truth.

An attack sees an :class:`~snnleak.threat.Observation` and returns a
:class:`~snnleak.threat.Reconstruction`; here it meets the private item (or batch) and its
label, and becomes the metric fields of a record: MSE, l2, PSNR and SSIM against the item, the
judge's label of the reconstruction (ASR: the judge names the true class), and label recovery.

A client batch's reconstruction has its items in no particular order: they are matched to the
private items by the assignment of least total MSE
(``scipy.optimize.linear_sum_assignment``), then scored per item; ``success`` is then every
item judged right.

With a :class:`~snnleak.evaluation.reference.Reference`, every item also gets its
identification against the clients' split and the prior baselines of its recovered label
(:mod:`snnleak.evaluation.reference`): whether the reconstruction gives away which record the
client held, and whether it beats what the label plus public data give.
"""

from __future__ import annotations

import torch

from snnleak import data, layout, metrics
from snnleak.evaluation.reference import Reference, identify, priors
from snnleak.threat import Reconstruction


def evaluate(
    rec: Reconstruction,
    x: torch.Tensor,
    y: int,
    info: data.DatasetInfo,
    judge: torch.nn.Module | None,
) -> dict:
    """Metrics of a batch-of-one reconstruction against the private item ``x``."""
    x_hat = layout.item(rec.x, 0, info.modality).detach().float().cpu()
    out = {"mse": metrics.mse(x_hat, x), "l2": metrics.l2(x_hat, x), "psnr": None, "ssim": None}
    if info.modality == "image":
        out["psnr"] = metrics.psnr(x_hat, x)
        out["ssim"] = metrics.ssim(x_hat.clamp(0, 1), x)
    judge_label = truth_label = None
    if judge is not None:  # the judge's label of the reconstruction, and of the private item
        with torch.no_grad():
            pair = layout.stack([x_hat, x.float()], info.modality)
            pair = pair.to(next(judge.parameters()).device)
            judge_label, truth_label = judge(pair).argmax(-1).tolist()
    out["judge_label"] = judge_label
    out["judge_truth_label"] = truth_label
    out["success"] = None if judge_label is None else judge_label == y
    return out


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


def evaluate_batch(
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


def item_level(
    x_hats: list[torch.Tensor],
    xs: list[torch.Tensor],
    ys: list[int],
    labels: list[int],
    item_metrics: list[dict],
    reference: Reference,
    judge: torch.nn.Module | None,
) -> dict:
    """The ``identification`` and ``prior`` fields of a record. Per private item ``xs[i]``
    (label ``ys[i]``): its matched reconstruction ``x_hats[i]`` and that one's metrics;
    ``labels``: the recovered labels. In a batch the recovered labels are assigned to the
    items as the reconstructions are, by the least total MSE of their public class means."""
    pool, public = reference.pool, reference.public
    out = {
        "identification": {
            "pool": pool.name,
            "pool_size": len(pool),
            "items": [identify(*p, pool) for p in zip(x_hats, xs, ys, strict=True)],
        },
        "prior": None,
    }
    if public is None:
        return out
    if len(labels) > 1:
        means = public.class_means[labels].nan_to_num()
        labels = [labels[j] for j in match(means, torch.stack(xs).float())]
    items = [priors(*p, public) for p in zip(xs, labels, item_metrics, strict=True)]
    if judge is not None:  # is the label-only prior (a class mean) judged the true class?
        where = next(judge.parameters()).device
        with torch.no_grad():
            means = layout.stack(list(public.class_means[labels].nan_to_num()), public.modality)
            judged = judge(means.to(where)).argmax(-1)
        for item, got, y in zip(items, judged.tolist(), ys, strict=True):
            item["label_only_success"] = None if item["label_only_mse"] is None else got == y
    out["prior"] = {"public": public.name, "public_size": len(public), "items": items}
    return out


def scores(
    rec: Reconstruction, x, y, info: data.DatasetInfo, judge, reference: Reference | None = None
) -> dict:
    """The label and metric fields of a record: one item, or a batch (matched per item); with
    ``reference``, the item-level fields too (:func:`item_level`)."""
    if isinstance(y, int):
        label = int(rec.label[0])
        out = {
            "true_label": y,
            "recovered_label": label,
            "label_correct": label == y,
            **evaluate(rec, x, y, info, judge),
        }
        x_hats, xs, ys, labels = [layout.item(rec.x, 0, info.modality)], [x], [y], [label]
        per_item = [out]
    else:
        labels = [int(v) for v in rec.label.tolist()]
        out = {
            "true_label": y,
            "recovered_label": labels,
            **evaluate_batch(rec.x, labels, x, y, judge),
        }
        x_hats = list(rec.x.detach().float().cpu()[out["order"]])
        xs, ys, per_item = list(x), y, out["items"]
    if reference is not None:
        out.update(item_level(x_hats, xs, ys, labels, per_item, reference, judge))
    return out


def best_scores(
    rec: Reconstruction, x, y, info: data.DatasetInfo, judge, reference: Reference | None = None
) -> dict:
    """The fields of ``best_iterate``: the best-by-loss iterate's metrics and label."""
    out = scores(rec, x, y, info, judge, reference)
    for key in ("true_label", "judge_truth_label", "items", "order"):
        out.pop(key, None)
    return out
