"""The plain GRNN every K = 1 run of :class:`~snnleak.attacks.grnn.GRNN` must equal: one
trial, its generator as an ``nn.Module``, ``torch.optim.RMSprop``, written for clarity (the
library runs K trial rows, the generators under ``torch.func.vmap``)."""

from __future__ import annotations

import torch

from snnleak.attacks.grnn import GRNN, original_wasserstein, wasserstein
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.priors import grnn_total_variation
from snnleak.gradients import dummy_gradients, gradient_distance
from snnleak.threat import Observation, Reconstruction


def reference_grnn(attack: GRNN, obs: Observation, rng: torch.Generator) -> Reconstruction:
    cfg = attack.config
    gen, z = attack.generator_and_noise(obs, rng)
    opt = torch.optim.RMSprop(gen.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    true = list(obs.gradients)
    flat_true = torch.cat([g.reshape(-1) for g in true])
    wd = wasserstein if cfg.wasserstein == "sorted" else original_wasserstein
    params = list(gen.parameters())
    track, steps = IterateTracker(), 0
    with torch.no_grad():
        x, probs = gen(z)
    initial = (x.detach().clone(), probs.detach().clone())
    for step in range(cfg.rmsprop_steps):
        opt.zero_grad(set_to_none=True)
        x, probs = gen(z)
        dummy = dummy_gradients(obs.model, x, probs)
        flat = torch.cat([g.reshape(-1) for g in dummy])
        loss = (
            gradient_distance(dummy, true)
            + wd(flat, flat_true)
            + cfg.tv_weight * grnn_total_variation(x)
        )
        if not track.record(float(loss.detach()), (x.detach().clone(), probs.detach().clone())):
            break
        steps = step + 1
        for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
            p.grad = g
        opt.step()
    return finish(track, steps, cfg.threshold, initial, obs.modality)
