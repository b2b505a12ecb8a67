"""The plain smooth-proxy attack every K = 1 run of
:class:`~snnleak.attacks.proxy.SmoothProxy` must equal: one trial, one model at a time,
``torch.optim.LBFGS``, written for clarity (the library runs K trial rows)."""

from __future__ import annotations

import math

import torch
from torch import nn

from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.priors import total_variation
from snnleak.attacks.proxy import ProxyConfig, smooth_copy, spiking_neurons, stage_lbfgs
from snnleak.gradients import matching_loss
from snnleak.threat import Observation, Reconstruction


def stage(
    model: nn.Module,
    x0: torch.Tensor,
    label: torch.Tensor,
    true: list,
    steps: int,
    tv: float,
    modality: str,
    max_iter: int = 20,
) -> torch.Tensor:
    """``steps`` strong-Wolfe L-BFGS steps on ``model``'s matching loss + tv * L_s * TV from
    ``x0``; images stay in [0, 1]. A non-finite loss reverts to the last finite iterate."""
    x = x0.detach().clone().requires_grad_(True)
    start = float(matching_loss(model, x, label, true).detach())
    weight = tv * start
    opt = torch.optim.LBFGS([x], **stage_lbfgs(max_iter).kwargs())

    def closure() -> torch.Tensor:
        loss = matching_loss(model, x, label, true)
        if weight:
            loss = loss + weight * total_variation(x)
        (x.grad,) = torch.autograd.grad(loss, [x])
        return loss.detach()

    last = x.detach().clone()
    for _ in range(steps):
        loss = float(opt.step(closure))
        if not math.isfinite(loss) or not torch.isfinite(x).all():
            break
        with torch.no_grad():
            if modality == "image":
                x.clamp_(0, 1)
        last = x.detach().clone()
    return last


def reference_proxy(
    cfg: ProxyConfig, obs: Observation, rng: torch.Generator, init: torch.Tensor | None = None
) -> Reconstruction:
    true, label = list(obs.gradients), infer_label(obs)
    x = initial_dummy(obs, rng) if init is None else init.detach().clone()
    track, steps = IterateTracker(), 0

    def on_victim(x: torch.Tensor) -> float:
        return float(matching_loss(obs.model, x, label, true).detach())

    track.record(on_victim(x), (x, label))
    snn = bool(spiking_neurons(obs.model))
    models = [smooth_copy(obs.model, a) for a in cfg.alphas] if snn else [obs.model]
    for model in models:
        x = stage(model, x, label, true, cfg.stage_steps, cfg.tv, obs.modality, cfg.max_iter)
        steps += cfg.stage_steps
        if not track.record(on_victim(x), (x, label)):
            break
    if cfg.polish_steps and not track.diverged:
        start = track.best[0]
        polished = stage(
            obs.model, start, label, true, cfg.polish_steps, cfg.tv, obs.modality, cfg.max_iter
        )
        steps += cfg.polish_steps
        track.record(on_victim(polished), (polished, label))
    # the pipeline's output is its best stage end on the victim; its loss ends the record
    if track.last is not track.best:
        track.losses.append(track.best_loss)
        track.last = track.best
    return finish(track, steps, cfg.threshold, (x, label), obs.modality)
