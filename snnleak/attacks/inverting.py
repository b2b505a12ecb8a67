r"""Inverting Gradients (Geiping et al., 2020): cosine matching, a TV prior, signed Adam, restarts.

.. math::
    \min_{x \in [0,1]} 1 - \frac{\langle \nabla_W \ell(f(x), y), g\rangle}
    {\lVert \nabla_W \ell(f(x), y)\rVert\,\lVert g\rVert} + \lambda\,\mathrm{TV}(x)

over all parameters as one vector, with the label from the iDLG rule. Adam (lr 0.1) steps on the
**sign** of the input gradient, the learning rate cut tenfold at 3/8, 5/8 and 7/8 of the run;
images are boxed to [0, 1]. ``restarts`` independent starts; the one kept is the one with the
lowest final objective, which the attacker can evaluate. ``on`` chooses the model the
attacker differentiates: the victim as observed (``"victim"``, the published attack) or the
attacker's smooth copy at ``alpha`` (``"proxy"``, see :mod:`snnleak.attacks.proxy`). The
reconstruction's losses are the plain matching loss on the victim at each restart's start and
end, so records measure every attack on the same scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from snnleak.attacks.config import Thresholding
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.priors import total_variation
from snnleak.attacks.proxy import smooth_copy, spiking_neurons
from snnleak.device import on_cpu
from snnleak.errors import ConfigError
from snnleak.gradients import dummy_gradients, matching_loss
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class InvertingConfig:
    iterations: int = 200
    restarts: int = 2
    lr: float = 0.1
    tv: float = 1e-2
    on: str = "victim"  # or "proxy"
    alpha: float = 2.0
    threshold: Thresholding | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.restarts < 1 or not self.lr > 0 or self.tv < 0:
            raise ConfigError("inverting gradients needs iterations, restarts >= 1, lr > 0")
        if self.on not in ("victim", "proxy"):
            raise ConfigError(f"inverting gradients runs on 'victim' or 'proxy', not {self.on!r}")


def cosine_objective(model, x, label, true: list, flat_true: torch.Tensor) -> torch.Tensor:
    grads = dummy_gradients(model, x, label)
    flat = torch.cat([g.reshape(-1) for g in grads])
    return 1 - (flat @ flat_true) / (flat.norm() * flat_true.norm() + 1e-12)


class InvertingGradients:
    name = "ig"

    def __init__(self, config: InvertingConfig = InvertingConfig()) -> None:
        self.config = config

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        cfg = self.config
        true, label = list(obs.gradients), infer_label(obs)
        flat_true = torch.cat([g.reshape(-1) for g in true])
        model = obs.model
        if cfg.on == "proxy" and spiking_neurons(obs.model):
            model = smooth_copy(obs.model, cfg.alpha)

        def on_victim(x: torch.Tensor) -> float:
            return float(matching_loss(obs.model, x, label, true).detach())

        track, ends = IterateTracker(), []  # (objective, end of the restart)
        milestones = [round(cfg.iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)]
        for restart in range(cfg.restarts):
            x = initial_dummy(obs, rng).requires_grad_(True)
            if restart == 0:
                track.observe(on_victim(x.detach()), (x.detach().clone(), label))
            opt = torch.optim.Adam([x], lr=cfg.lr)
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
            objective = math.inf
            for _ in range(cfg.iterations):
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
            track.observe(on_victim(ends[i][1]), (ends[i][1], label))
        track.last = (ends[kept][1], label)
        return finish(track, cfg.iterations * cfg.restarts, cfg.threshold, track.last, obs.modality)

    def reconstruct_batch(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked as :meth:`reconstruct` would, all together as one batched
        computation (:mod:`snnleak.attacks.inverting_batched`)."""
        from snnleak.attacks.inverting_batched import reconstruct_batched

        return reconstruct_batched(self.config, observations, rngs)
