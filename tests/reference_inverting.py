"""The plain Inverting Gradients every K = 1 run of
:class:`~snnleak.attacks.inverting.InvertingGradients` must equal: one trial, one restart at a
time, ``torch.optim.Adam``, written for clarity (the library runs K trial rows)."""

from __future__ import annotations

import math

import torch

from snnleak.attacks.inverting import InvertingConfig
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.priors import total_variation
from snnleak.attacks.proxy import smooth_copy, spiking_neurons
from snnleak.device import on_cpu
from snnleak.gradients import dummy_gradients, matching_loss
from snnleak.threat import Observation, Reconstruction


def cosine_objective(model, x, label, true: list, flat_true: torch.Tensor) -> torch.Tensor:
    grads = dummy_gradients(model, x, label)
    flat = torch.cat([g.reshape(-1) for g in grads])
    return 1 - (flat @ flat_true) / (flat.norm() * flat_true.norm() + 1e-12)


def reference_inverting(
    cfg: InvertingConfig, obs: Observation, rng: torch.Generator
) -> Reconstruction:
    true, label = list(obs.gradients), infer_label(obs)
    flat_true = torch.cat([g.reshape(-1) for g in true])
    model = obs.model
    if cfg.on == "proxy" and spiking_neurons(obs.model):
        model = smooth_copy(obs.model, cfg.alpha)

    def on_victim(x: torch.Tensor) -> float:
        return float(matching_loss(obs.model, x, label, true).detach())

    track, ends = IterateTracker(), []  # (objective, end of the restart)
    milestones = [round(cfg.adam_steps * f) for f in (3 / 8, 5 / 8, 7 / 8)]
    for restart in range(cfg.restarts):
        x = initial_dummy(obs, rng).requires_grad_(True)
        if restart == 0:
            track.record(on_victim(x.detach()), (x.detach().clone(), label))
        opt = torch.optim.Adam([x], lr=cfg.lr)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
        objective = math.inf
        for _ in range(cfg.adam_steps):
            loss = cosine_objective(model, x, label, true, flat_true)
            loss = loss + cfg.tv * total_variation(x)
            objective = float(loss.detach())
            if not math.isfinite(objective):
                break
            (grad,) = torch.autograd.grad(loss, [x])
            x.grad = grad.sign()
            with on_cpu():  # torch < 2.12 makes Adam's step counter on the default device
                opt.step()
            sched.step()
            with torch.no_grad():
                if obs.modality == "image":
                    x.clamp_(0, 1)
        ends.append((objective if math.isfinite(objective) else math.inf, x.detach().clone()))
    # the restart kept is the one with the lowest objective; its victim loss comes last
    kept = min(range(len(ends)), key=lambda i: ends[i][0])
    for i in [*(i for i in range(len(ends)) if i != kept), kept]:
        track.record(on_victim(ends[i][1]), (ends[i][1], label))
    track.last = (ends[kept][1], label)
    return finish(track, cfg.adam_steps * cfg.restarts, cfg.threshold, track.last, obs.modality)
