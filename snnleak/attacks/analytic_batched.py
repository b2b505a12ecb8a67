"""K analytic inversions (:class:`~snnleak.attacks.analytic.AnalyticInversion`) as one
computation.

Each trial reads its own features off its own update, inverts them through its own smooth copy
(stacked: one :class:`~snnleak.models.stacked.StackedLeNet`) with its own strong-Wolfe L-BFGS (a
row of :class:`~snnleak.attacks.lbfgs.BatchedLBFGS`), and hands its estimate to the batched
smooth proxy (:mod:`snnleak.attacks.proxy_batched`). A trial whose loss turns non-finite stops
there, as solo. Nothing loops over trials inside a step (the op-count guard checks); results
equal solo runs up to float rounding (tested).
"""

from __future__ import annotations

import torch

from snnleak.attacks.analytic import AnalyticConfig, observed_features
from snnleak.attacks.graphs import graphed
from snnleak.attacks.lbfgs import BatchedLBFGS
from snnleak.attacks.primitives import initial_dummy
from snnleak.attacks.proxy import smooth_copy, spiking_neurons, stage_lbfgs
from snnleak.attacks.proxy_batched import reconstruct_batched as proxy_batched
from snnleak.attacks.proxy_batched import trial_tv
from snnleak.attacks.rows import take_rows
from snnleak.attacks.victims import StackedVictims, check_alike
from snnleak.threat import Observation, Reconstruction


def invert_features_rows(
    cfg: AnalyticConfig, observations: list[Observation], rngs: list[torch.Generator]
) -> torch.Tensor:
    """Every trial's :meth:`~snnleak.attacks.analytic.AnalyticInversion.invert_features`,
    ``[K, ...]``."""
    obs0, k = observations[0], len(observations)
    target = torch.stack([observed_features(o) for o in observations])  # [K, D]
    scale = (target**2).sum(1)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    models = None
    if spiking_neurons(obs0.model):
        models = [smooth_copy(o.model, cfg.proxy.alphas[0]) for o in observations]
    stack = StackedVictims(observations, models)
    model, params = stack.model, stack.params
    x0 = torch.stack([initial_dummy(o, g) for o, g in zip(observations, rngs, strict=True)])
    v = x0.reshape(k, -1).clone()
    opt = BatchedLBFGS(v, stage_lbfgs())

    def evaluate(rows: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = take_rows(v, rows).detach().clone().requires_grad_(True)
        x = leaf.reshape(len(leaf), *x0.shape[1:])
        h = model.features(x, params if rows is None else model.rows(rows))[:, 0]
        loss = ((h - take_rows(target, rows)) ** 2).sum(1) / take_rows(scale, rows)
        loss = loss + cfg.tv * trial_tv(x)
        (grad,) = torch.autograd.grad(loss.sum(), leaf)
        return loss.detach(), grad

    evaluate = graphed(evaluate, v)
    alive = torch.ones(k, dtype=torch.bool, device=v.device)
    for _ in range(cfg.feature_steps):
        alive &= torch.isfinite(opt.step(evaluate, alive))
        if obs0.modality == "image":
            v.copy_(torch.where(alive[:, None], v.clamp(0, 1), v))
        if not bool(alive.any()):
            break
    return v.reshape(x0.shape)


def reconstruct_batched(
    cfg: AnalyticConfig, observations: list[Observation], rngs: list[torch.Generator]
) -> list[Reconstruction]:
    check_alike(observations)
    inits = invert_features_rows(cfg, observations, rngs)
    return proxy_batched(cfg.proxy, observations, rngs, inits=inits)
