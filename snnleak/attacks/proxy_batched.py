"""K smooth-proxy trials (:class:`~snnleak.attacks.proxy.SmoothProxy`) as one computation.

Each trial keeps what a solo trial has: its victim and its smooth copies (stacked, one
:class:`~snnleak.models.stacked.StackedLeNet` per continuation stage), its dummy, its label, its
strong-Wolfe L-BFGS (a row of :class:`~snnleak.attacks.lbfgs.BatchedLBFGS`, fresh at every
stage), its TV weight (from its own stage-start loss) and its iterate bookkeeping. A trial whose
loss or dummy turns non-finite stops its stage at its last finite iterate, and a trial whose
victim loss turns non-finite stops its pipeline, as solo. Nothing loops over trials inside a
step (the op-count guard checks); results equal solo runs up to float rounding (tested).
"""

from __future__ import annotations

import torch

from snnleak.attacks.graphs import graphed
from snnleak.attacks.iterates import BatchedTracker, finish
from snnleak.attacks.lbfgs import BatchedLBFGS
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.proxy import ProxyConfig, smooth_copy, spiking_neurons, stage_lbfgs
from snnleak.attacks.rows import take_rows
from snnleak.attacks.victims import check_alike, stack_victims, stacked_matching_loss
from snnleak.threat import Observation, Reconstruction


def trial_tv(x: torch.Tensor) -> torch.Tensor:
    """:func:`~snnleak.attacks.priors.total_variation` of each trial of ``x [K, ...]``."""
    k = x.shape[0]
    vertical = (x[..., 1:, :] - x[..., :-1, :]).abs().reshape(k, -1).mean(1)
    return vertical + (x[..., :, 1:] - x[..., :, :-1]).abs().reshape(k, -1).mean(1)


def stage_rows(stack, x0, labels, steps: int, tv: float, modality: str, max_iter: int, active):
    """:func:`~snnleak.attacks.proxy.stage` for the trials in ``active`` at once: ``steps``
    strong-Wolfe L-BFGS steps on each trial's matching loss + tv * L_s * TV from ``x0 [K, ...]``;
    returns each trial's last finite iterate (``x0`` for the inactive)."""
    k, shape = x0.shape[0], x0.shape
    v = x0.detach().reshape(k, -1).clone()
    start = stacked_matching_loss(stack, x0.detach(), labels, create_graph=False).detach()
    weight = tv * start
    opt = BatchedLBFGS(v, stage_lbfgs(max_iter))

    def evaluate(rows: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = take_rows(v, rows).detach().clone().requires_grad_(True)
        x = leaf.reshape(len(leaf), *shape[1:])
        loss = stacked_matching_loss(stack, x, take_rows(labels, rows), rows=rows)
        loss = loss + take_rows(weight, rows) * trial_tv(x)
        (grad,) = torch.autograd.grad(loss.sum(), leaf)
        return loss.detach(), grad

    evaluate = graphed(evaluate, v)
    last, alive = v.clone(), active.clone()
    for _ in range(steps):
        loss = opt.step(evaluate, alive)
        alive &= torch.isfinite(loss) & torch.isfinite(v).all(1)
        if modality == "image":
            v.copy_(torch.where(alive[:, None], v.clamp(0, 1), v))
        last = torch.where(alive[:, None], v, last)
        if not bool(alive.any()):
            break
    return last.reshape(shape)


def reconstruct_batched(
    cfg: ProxyConfig,
    observations: list[Observation],
    rngs: list[torch.Generator],
    inits: torch.Tensor | None = None,
) -> list[Reconstruction]:
    """``inits``: the trials' starts ``[K, ...]`` (a pipeline's earlier stage), for the
    dummies drawn from ``rngs``."""
    check_alike(observations)
    obs0, k = observations[0], len(observations)
    victim = stack_victims(observations)
    labels = torch.stack([infer_label(o) for o in observations])
    if inits is None:
        x = torch.stack([initial_dummy(o, g) for o, g in zip(observations, rngs, strict=True)])
    else:
        x = inits.detach().clone()
    snn = bool(spiking_neurons(obs0.model))
    if snn:
        stages = [
            stack_victims(observations, [smooth_copy(o.model, a) for o in observations])
            for a in cfg.alphas
        ]
    else:
        stages = [victim]

    def on_victim(x: torch.Tensor) -> torch.Tensor:
        return stacked_matching_loss(victim, x, labels, create_graph=False).detach()

    track = BatchedTracker(k, x.device)
    active = torch.ones(k, dtype=torch.bool, device=x.device)
    track.observe(on_victim(x), (x, labels), active)
    steps = torch.zeros(k, dtype=torch.long, device=x.device)
    for stack in stages:
        x = stage_rows(stack, x, labels, cfg.stage_steps, cfg.tv, obs0.modality, cfg.max_iter,
                       active)  # fmt: skip
        steps += torch.where(active, cfg.stage_steps, 0)
        active = track.observe(on_victim(x), (x, labels), active)
        if not bool(active.any()):
            break
    if cfg.polish_steps:
        polish = active & ~track.diverged
        start = track.best[0]
        polished = stage_rows(victim, start, labels, cfg.polish_steps, cfg.tv, obs0.modality,
                              cfg.max_iter, polish)  # fmt: skip
        steps += torch.where(polish, cfg.polish_steps, 0)
        track.observe(on_victim(polished), (polished, labels), polish)
    # each pipeline's output is its best stage end on the victim; its loss ends the record
    tracks, steps = track.trackers(), steps.tolist()
    out = []
    for i, t in enumerate(tracks):
        if t.last is not None and not track.last_was_best[i]:
            t.losses.append(t.best_loss)
            t.last = t.best
        out.append(finish(t, steps[i], cfg.threshold, (x[i], labels[i]), obs0.modality))
    return out
