r"""Reconstruction metrics, in one place.

For a reconstruction :math:`\hat x` of :math:`x` (values in [0, 1] for images):

- MSE :math:`= \mathrm{mean}((\hat x - x)^2)`; PSNR :math:`= 10 \log_{10}(1 / \mathrm{MSE})` dB
  (data range 1);
- SSIM: scikit-image's ``structural_similarity`` with ``data_range=1``, channel-aware;
- l2 :math:`= \lVert \hat x - x \rVert_2` (for spike tensors, where MSE/SSIM are not meaningful);
- ASR: the fraction of reconstructions that the dataset's judge assigns to the true class.

Aggregates carry a 95% bootstrap confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def mse(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return float(((x_hat.double() - x.double()) ** 2).mean())


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    m = mse(x_hat, x)
    return math.inf if m == 0 else 10 * math.log10(1.0 / m)


def ssim(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """SSIM of one image ``[C, H, W]`` (values in [0, 1])."""
    from skimage.metrics import structural_similarity

    a = x_hat.detach().double().cpu().numpy()
    b = x.detach().double().cpu().numpy()
    if a.shape[0] == 1:
        return float(structural_similarity(a[0], b[0], data_range=1.0))
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=0))


SSIM_WINDOW = 7  # scikit-image's default window: 7 x 7, uniform, sample covariance
SSIM_K = (0.01, 0.03)


def _window_mean(t: torch.Tensor) -> torch.Tensor:
    """The means of ``t`` ``[..., H, W]`` over every w x w window inside the image: a stride-1
    average pool, summed as two one-dimensional window sums (rows, then columns): 2 w terms
    per output where the pool's window sums w * w (in float64 on the CPU, 4x to 5x faster)."""
    w = SSIM_WINDOW
    return t.unfold(-2, w, 1).sum(-1).unfold(-1, w, 1).sum(-1) / (w * w)


def ssim_stats(items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""What :func:`ssim_many` needs of ``items`` ``[N, C, H, W]`` alone, to compute once for
    many reconstructions (float64): the window means :math:`\mu_y`, :math:`\mu_y^2 + C_1` and
    :math:`\sigma_y^2 + C_2`."""
    w = SSIM_WINDOW
    y = items.detach().double().cpu()
    mean = _window_mean(y)
    square = mean * mean
    variance = (_window_mean(y * y) - square).mul_(w * w / (w * w - 1))
    return mean, square.add_(SSIM_K[0] ** 2), variance.add_(SSIM_K[1] ** 2)


def ssim_many(
    x_hat: torch.Tensor,
    items: torch.Tensor,
    stats: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    r"""SSIM of one image ``x_hat`` ``[C, H, W]`` against each of ``items`` ``[N, C, H, W]``
    (values in [0, 1]): ``[N]`` float64, equal to :func:`ssim` item by item (tested).
    ``stats``: :func:`ssim_stats` of ``items``, when they are at hand.

    scikit-image's ``structural_similarity`` with ``data_range=1``: local means, variances and
    the covariance over 7 x 7 uniform windows (sample covariance, :math:`N_w/(N_w - 1)`),
    :math:`S = (2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2) / ((\mu_x^2 + \mu_y^2 + C_1)
    (\sigma_x^2 + \sigma_y^2 + C_2))` with :math:`C_i = K_i^2`, averaged over the windows that
    lie inside the image (scikit-image crops the border its filter padded) and over channels.
    Here the windows inside the image are exactly those of a stride-1 average pool. The
    items' own terms come from ``stats``; per item the rest costs one product image, its
    window means and a few operations on the window maps, most of them in place."""
    cov_norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)
    c1, c2 = (k * k for k in SSIM_K)
    x = x_hat.detach().double().cpu()[None]
    y = items.detach().double().cpu()
    uy, square_y, variance_y = ssim_stats(y) if stats is None else stats
    ux, square_x, variance_x = ssim_stats(x)
    both = uy * ux
    covariance = (_window_mean(x * y) - both).mul_(2 * cov_norm).add_(c2)  # 2 sigma_xy + C2
    numerator = both.mul_(2).add_(c1).mul_(covariance)
    # x's terms carry C1 and C2 too; each sum takes them once
    denominator = (square_y + (square_x - c1)).mul_(variance_y + (variance_x - c2))
    return numerator.div_(denominator).flatten(1).mean(1)


def l2(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(x_hat.double() - x.double()))


def _resample(rng, groups: list[np.ndarray], resamples: int) -> list[np.ndarray]:
    """Two-stage bootstrap draws: the groups with replacement, then each drawn group's rows with
    replacement (rows of ``[n, ...]`` arrays); one concatenated draw per resample."""
    out = []
    for _ in range(resamples):
        picked = rng.integers(0, len(groups), len(groups))
        out.append(
            np.concatenate(
                [g[rng.integers(0, len(g), len(g))] for g in map(groups.__getitem__, picked)]
            )
        )
    return out


def _split(v: np.ndarray, groups: Sequence | None) -> list[np.ndarray] | None:
    """``v``'s rows per group (in first-seen order), or None for one group or none given."""
    if groups is None or len(set(groups)) < 2:
        return None
    keys = list(dict.fromkeys(groups))
    return [v[[i for i, g in enumerate(groups) if g == k]] for k in keys]


def mean_ci(
    values: Sequence[float],
    seed: int = 0,
    resamples: int = 2000,
    level: float = 0.95,
    groups: Sequence | None = None,
) -> tuple[float, float, float]:
    """Mean with a percentile bootstrap confidence interval: ``(mean, low, high)``. With
    ``groups`` (one key per value: the broadcast model a client's item was attacked on), the
    bootstrap resamples the groups, then the values within each, so the interval covers the
    variation between models as well as between items."""
    kept = [
        (x, None if groups is None else groups[i])
        for i, x in enumerate(values)
        if x is not None and math.isfinite(x)
    ]
    v = np.asarray([x for x, _ in kept], dtype=float)
    if len(v) == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    split = _split(v, None if groups is None else [g for _, g in kept])
    if split is None:
        means = v[rng.integers(0, len(v), (resamples, len(v)))].mean(axis=1)
    else:
        means = np.asarray([d.mean() for d in _resample(rng, split, resamples)])
    alpha = (1 - level) / 2
    return float(v.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_difference_ci(
    a: Sequence[float],
    b: Sequence[float],
    statistic: str = "median",
    seed: int = 0,
    resamples: int = 2000,
    level: float = 0.95,
    groups: Sequence | None = None,
) -> tuple[float, float, float]:
    """``stat(a) - stat(b)`` over paired values (item i of ``a`` beside item i of ``b``), with a
    percentile bootstrap interval that resamples the pairs together: ``(diff, low, high)``.
    ``statistic``: ``"median"`` or ``"mean"``. Pairs with a missing value are left out. With
    ``groups`` (one key per pair), the groups are resampled first, then the pairs in each."""
    kept = [
        ((x, y), None if groups is None else groups[i])
        for i, (x, y) in enumerate(zip(a, b, strict=True))
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    if not kept:
        return (math.nan, math.nan, math.nan)
    stat = {"median": np.median, "mean": np.mean}[statistic]
    v = np.asarray([p for p, _ in kept], dtype=float)
    rng = np.random.default_rng(seed)
    split = _split(v, None if groups is None else [g for _, g in kept])
    if split is None:
        picks = v[rng.integers(0, len(v), (resamples, len(v)))]  # [resamples, n, 2]
        diffs = stat(picks[..., 0], axis=1) - stat(picks[..., 1], axis=1)
    else:
        diffs = np.asarray(
            [stat(d[:, 0]) - stat(d[:, 1]) for d in _resample(rng, split, resamples)]
        )
    alpha = (1 - level) / 2
    point = float(stat(v[:, 0]) - stat(v[:, 1]))
    return point, float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1 - alpha))


def asr(judge_labels: Sequence[int], true_labels: Sequence[int]) -> float:
    """Attack success rate: the fraction of reconstructions the judge assigns to the true class."""
    if len(judge_labels) != len(true_labels) or not judge_labels:
        raise ValueError("asr needs equally many (and at least one) judge and true labels")
    return sum(int(a == b) for a, b in zip(judge_labels, true_labels, strict=True)) / len(
        true_labels
    )


Stats = tuple[float, float, float, float]  # mean, std, min, max


def class_l2_statistics(
    x: torch.Tensor, y: torch.Tensor, self_pairs: bool = False
) -> dict[str, Stats]:
    r"""Intra- and inter-class l2 distances of items ``x[i]`` with labels ``y[i]`` (Table VI).

    For each class c: intra = :math:`\lVert x_i - x_j \rVert_2` over pairs i < j both in c
    (i <= j with ``self_pairs``: each item's zero distance to itself counts, which the paper's
    intra-class minimum of 0.00 suggests); inter = the same over i in c, j not in c. Mean and
    (population) std are per class, then averaged over the classes that have such pairs; min
    and max are over all pairs.
    """
    flat = x.reshape(len(x), -1).double()
    dist = torch.cdist(flat, flat).clamp_min(0)
    out: dict[str, list] = {"intra": [], "inter": []}
    eye = torch.eye(len(x), dtype=torch.bool, device=x.device)
    for c in torch.unique(y):
        rows = y == c
        same = (rows[:, None] & rows[None, :]) & ~eye
        pairs = {
            "intra": dist[torch.triu(same | (eye & rows[:, None]), diagonal=0)]
            if self_pairs
            else dist[torch.triu(same, diagonal=1)],
            "inter": dist[rows[:, None] & ~rows[None, :]],
        }
        for kind, d in pairs.items():
            if len(d):
                out[kind].append(d)
    stats = {}
    for kind, per_class in out.items():
        if not per_class:
            stats[kind] = (math.nan,) * 4
            continue
        every = torch.cat(per_class)
        stats[kind] = (
            float(torch.stack([d.mean() for d in per_class]).mean()),
            float(torch.stack([d.std(correction=0) for d in per_class]).mean()),
            float(every.min()),
            float(every.max()),
        )
    return stats
