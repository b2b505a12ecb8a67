"""The plain analytic attack every K = 1 run of
:class:`~snnleak.attacks.analytic.AnalyticInversion` must equal: the features inverted on one
model with ``torch.optim.LBFGS``, then the plain smooth proxy (``reference_proxy``), written
for clarity (the library runs K trial rows)."""

from __future__ import annotations

import torch
from reference_proxy import reference_proxy

from snnleak.attacks.analytic import AnalyticConfig, observed_features
from snnleak.attacks.primitives import initial_dummy
from snnleak.attacks.priors import total_variation
from snnleak.attacks.proxy import smooth_copy, spiking_neurons, stage_lbfgs
from snnleak.attacks.victims import model_features
from snnleak.threat import Observation, Reconstruction


def reference_features(cfg: AnalyticConfig, obs: Observation, rng: torch.Generator):
    target = observed_features(obs)
    scale = float((target**2).sum()) or 1.0
    model = obs.model
    if spiking_neurons(obs.model):
        model = smooth_copy(obs.model, cfg.proxy.alphas[0])
    x = initial_dummy(obs, rng).requires_grad_(True)
    opt = torch.optim.LBFGS([x], **stage_lbfgs().kwargs())

    def closure() -> torch.Tensor:
        h = model_features(model, x, obs.batch_size)[0]
        loss = ((h - target) ** 2).sum() / scale + cfg.tv * total_variation(x)
        (x.grad,) = torch.autograd.grad(loss, [x])
        return loss.detach()

    for _ in range(cfg.feature_steps):
        if not torch.isfinite(opt.step(closure)):
            break
        with torch.no_grad():
            if obs.modality == "image":
                x.clamp_(0, 1)
    return x.detach()


def reference_analytic(
    cfg: AnalyticConfig, obs: Observation, rng: torch.Generator
) -> Reconstruction:
    return reference_proxy(cfg.proxy, obs, rng, init=reference_features(cfg, obs, rng))
