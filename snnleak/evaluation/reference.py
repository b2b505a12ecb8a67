r"""What a reconstruction is held against besides its own item: leakage of the client, not its
class.

A judge that names the right class, or an SSIM of 0.7, does not say that the client's own item
leaked: the label alone (iDLG reads it off the update exactly) and a public set of the same
kind give a class-typical picture. Two comparisons say what the reconstruction adds.

**Identification** (:func:`identify`). The reference pool is every item of the split the
clients come from. The reconstruction :math:`\hat x` of item :math:`x` is scored against each
pool item :math:`p` by SSIM (images: the tables' measure) and by MSE; the *rank* of the client's
own item is one plus the number of other pool items that score at least as well,

.. math:: r(\hat x, x) = 1 + \#\{p \in P,\ p \ne x : s(\hat x, p) \ge s(\hat x, x)\}

(ties count against identification; pool items equal to :math:`x` are the record itself and
are left out). The class rank counts only pool items of :math:`x`'s class. Rank 1 means the
server could tell which record the client held. A reconstruction that carries nothing of the
item ranks it uniformly: top-k chance is :math:`k / |P|`, recorded beside the ranks.

**Prior baselines** (:func:`priors`). What the label plus the attacker's public set give without
any reconstruction: *label only*, the public class mean of the label the attack recovered; and
*label + public set, oracle*, the best of that class's public items and their mean by SSIM to
the truth (by MSE for events). The oracle picks with the truth, so it is an upper bound on what
the label alone gives, never below the label-only prior. A reconstruction that does not beat it
has shown nothing the label did not already give.

Both read the truth, so they live here, with the evaluation, and never in an attack.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snnleak import data, metrics

CHUNK = 4096  # pool items scored at a time (bounds the SSIM maps' memory)


@dataclass(frozen=True)
class Pool:
    """Items of one split with their labels, held as one tensor ``[N, ...]``."""

    name: str  # "dataset/split"
    modality: str
    items: torch.Tensor  # [N, C, H, W] images, [N, T, C, H, W] events
    labels: torch.Tensor  # [N]
    class_means: torch.Tensor  # [classes, ...]; a class without items has NaN
    ssim_stats: tuple | None  # images: metrics.ssim_stats of the items, per chunk

    @staticmethod
    def of(split: data.Split) -> Pool:
        """Every item of ``split``."""
        pairs = [split[i] for i in range(len(split))]
        items = torch.stack([x.float() for x, _ in pairs])
        labels = torch.tensor([y for _, y in pairs], dtype=torch.long, device="cpu")
        classes = split.info.num_classes
        sums = torch.zeros(classes, *items.shape[1:], dtype=torch.float64, device="cpu")
        sums.index_add_(0, labels, items.double())
        counts = torch.bincount(labels, minlength=classes).double()
        means = sums / counts.reshape(-1, *[1] * (items.dim() - 1))  # 0 / 0: NaN
        stats = None
        if split.info.modality == "image":
            stats = [metrics.ssim_stats(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]
        name = f"{split.info.name}/{split.split}"
        return Pool(name, split.info.modality, items, labels, means.float(), stats)

    def copies(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]`` bool: the pool's items equal to ``x`` (the record itself, where it is in)."""
        return (self.items.flatten(1) == x.float().flatten()).all(1)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Reference:
    """The identification pool (the clients' split) and the public set of the prior baselines
    (the attacker's, None where it is not available)."""

    pool: Pool
    public: Pool | None

    @staticmethod
    def of(split: data.Split, public: data.Split | None) -> Reference:
        return Reference(Pool.of(split), None if public is None else Pool.of(public))


def scores(
    x_hat: torch.Tensor, items: torch.Tensor, modality: str, stats: list | None = None
) -> dict[str, torch.Tensor]:
    """Higher-is-better scores ``[N]`` of one reconstructed item against ``items``: SSIM (images,
    on the reconstruction clamped to [0, 1] as :func:`snnleak.evaluation.evaluate` scores it)
    and negated MSE. ``stats``: the items' :func:`~snnleak.metrics.ssim_stats` per chunk."""
    x = x_hat.detach().double().cpu()
    out: dict[str, list[torch.Tensor]] = {"ssim": [], "mse": []}
    for n, start in enumerate(range(0, len(items), CHUNK)):
        chunk = items[start : start + CHUNK].double()
        out["mse"].append((chunk - x).square_().flatten(1).mean(1).neg_())
        if modality == "image":
            known = None if stats is None else stats[n]
            out["ssim"].append(metrics.ssim_many(x.clamp(0, 1), chunk, known))
    return {k: torch.cat(v) for k, v in out.items() if v}


def identify(x_hat: torch.Tensor, x: torch.Tensor, label: int, pool: Pool) -> dict:
    """The rank of the private item ``x`` (class ``label``) among ``pool`` for the
    reconstruction ``x_hat``, by each score of :func:`scores`, overall and within the class;
    ``candidates``: the pool's size counting ``x`` once (top-k chance is k / candidates)."""
    same = pool.copies(x)  # the record itself
    in_class = pool.labels == label
    own = scores(x_hat, x.float()[None], pool.modality)
    out = {
        "candidates": 1 + int((~same).sum()),
        "class_candidates": 1 + int((in_class & ~same).sum()),
    }
    for name, score in scores(x_hat, pool.items, pool.modality, pool.ssim_stats).items():
        better = (score >= own[name]) & ~same
        out[f"rank_{name}"] = 1 + int(better.sum())
        out[f"class_rank_{name}"] = 1 + int((better & in_class).sum())
    return out


def priors(x: torch.Tensor, label_hat: int, rec_scores: dict, public: Pool) -> dict:
    """The prior baselines of private item ``x`` given the recovered label ``label_hat``:
    the label-only prior (the public class mean) and the oracle prior (the best of the class's
    public items and their mean, by SSIM to ``x``, or MSE for events), with ``beats_oracle``:
    whether the reconstruction, whose own ``rec_scores`` (``{"ssim", "mse"}``, the record's
    metrics) are given, scores strictly better than the oracle."""
    image = public.modality == "image"
    mean = public.class_means[label_hat]
    if torch.isnan(mean).any():  # no public item of that class: the label gives no picture
        return {"label": label_hat, "label_only_ssim": None, "label_only_mse": None}
    candidates = torch.cat([mean[None], public.items[public.labels == label_hat]])
    got = scores(x, candidates, public.modality)  # symmetric: SSIM and MSE to the truth
    key = "ssim" if image else "mse"
    best = int(got[key].argmax())
    oracle = {k: float(v[best]) for k, v in got.items()}
    index = None
    if best > 0:  # the index of the picked public item in the public split
        index = int(torch.nonzero(public.labels == label_hat)[best - 1])
    own = rec_scores[key] if image else -rec_scores["mse"]
    return {
        "label": label_hat,
        "label_only_ssim": float(got["ssim"][0]) if image else None,
        "label_only_mse": -float(got["mse"][0]),
        "oracle_ssim": oracle.get("ssim"),
        "oracle_mse": -oracle["mse"],
        "oracle_index": index,  # None: the class mean was the best candidate
        "beats_oracle": None if own is None else bool(own > oracle[key]),
    }
