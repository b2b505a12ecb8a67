"""K Inverting Gradients trials (:class:`~snnleak.attacks.inverting.InvertingGradients`) as one
computation.

Each trial keeps what a solo trial has: its victim (or its smooth copy), its restarts' starting
dummies (drawn from its own generator in the solo order), its signed-Adam state (Adam is
elementwise, so one optimiser over the stacked dummies is K independent ones; every trial
shares the step count and the schedule), its objective and its choice of restart. A trial
whose objective turns non-finite keeps its dummy from then on, as a solo restart stops. Nothing
loops over trials inside a step; results equal solo runs up to float rounding (tested).
"""

from __future__ import annotations

import torch

from snnleak.attacks.graphs import graphed_call
from snnleak.attacks.inverting import InvertingConfig
from snnleak.attacks.iterates import BatchedTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.proxy import smooth_copy, spiking_neurons
from snnleak.attacks.proxy_batched import trial_tv
from snnleak.attacks.rows import where_rows
from snnleak.attacks.victims import (
    check_alike,
    stack_victims,
    stacked_matching_loss,
    trial_gradients,
)
from snnleak.device import on_cpu
from snnleak.threat import Observation, Reconstruction


def cosine_rows(stack, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each trial's 1 - cos(its dummy's parameter gradient, its observed one), ``[K]``."""
    order, k = stack.order, x.shape[0]
    grads, true = trial_gradients(stack, x, labels)
    flat = torch.cat([grads[j].reshape(k, -1) for j in order], 1)
    flat_true = torch.cat([true[j].reshape(k, -1) for j in order], 1)
    dot = torch.linalg.vecdot(flat, flat_true)
    return 1 - dot / (flat.norm(dim=1) * flat_true.norm(dim=1) + 1e-12)


def reconstruct_batched(
    cfg: InvertingConfig, observations: list[Observation], rngs: list[torch.Generator]
) -> list[Reconstruction]:
    check_alike(observations)
    obs0, k = observations[0], len(observations)
    victim = stack_victims(observations)
    stack = victim
    if cfg.on == "proxy" and spiking_neurons(obs0.model):
        stack = stack_victims(observations, [smooth_copy(o.model, cfg.alpha) for o in observations])
    labels = torch.stack([infer_label(o) for o in observations])
    # every restart's start, drawn from each trial's generator in the solo order
    starts = [
        torch.stack([initial_dummy(o, g) for _ in range(cfg.restarts)])
        for o, g in zip(observations, rngs, strict=True)
    ]
    starts = torch.stack(starts, 1)  # [restarts, K, ...]

    def on_victim(x: torch.Tensor) -> torch.Tensor:
        return stacked_matching_loss(victim, x, labels, create_graph=False).detach()

    track = BatchedTracker(k, starts.device)
    everyone = torch.ones(k, dtype=torch.bool, device=starts.device)
    track.observe(on_victim(starts[0]), (starts[0].clone(), labels), everyone)
    milestones = [round(cfg.iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)]
    ends, objectives = [], []
    for restart in range(cfg.restarts):
        x = starts[restart].clone().requires_grad_(True)

        def evaluate(x=x) -> tuple[torch.Tensor, torch.Tensor]:
            leaf = x.detach().clone().requires_grad_(True)
            loss = cosine_rows(stack, leaf, labels) + cfg.tv * trial_tv(leaf)
            (grad,) = torch.autograd.grad(loss.sum(), [leaf])
            return loss.detach(), grad

        evaluate = graphed_call(evaluate, x)
        opt = torch.optim.Adam([x], lr=cfg.lr)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
        objective = torch.full((k,), float("inf"), dtype=x.dtype, device=x.device)
        alive = everyone.clone()
        for _ in range(cfg.iterations):
            value, grad = evaluate()
            alive &= torch.isfinite(value)
            objective = torch.where(alive, value, objective)
            before = x.detach().clone()
            x.grad = grad.sign()
            with on_cpu():  # torch < 2.12 makes Adam's step counter on the default device
                opt.step()
            sched.step()
            with torch.no_grad():
                if obs0.modality == "image":
                    x.clamp_(0, 1)
                x.copy_(where_rows(alive, x, before))
            if not bool(alive.any()):
                break
        dead = ~torch.isfinite(objective) | ~alive
        objectives.append(torch.where(dead, float("inf"), objective))
        ends.append(x.detach().clone())
    ends, objectives = torch.stack(ends), torch.stack(objectives)  # [R, K, ...], [R, K]
    kept = objectives.argmin(0)  # the first restart of the lowest objective
    rows = torch.arange(k, device=kept.device)
    # the victim loss of each restart's end, the kept one last
    for p in range(cfg.restarts - 1):
        other = p + (p >= kept).long()
        end = ends[other, rows]
        track.observe(on_victim(end), (end, labels), everyone)
    best_end = ends[kept, rows]
    track.observe(on_victim(best_end), (best_end, labels), everyone)
    out = []
    for i, t in enumerate(track.trackers()):
        t.last = (best_end[i], labels[i])
        steps = cfg.iterations * cfg.restarts
        out.append(finish(t, steps, cfg.threshold, t.last, obs0.modality))
    return out
