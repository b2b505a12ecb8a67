r"""The smooth-proxy attack: an attacker who knows it faces a spiking network (BPDA-style).

Under the paper's protocol the spike step :math:`H(v - \theta)` in the forward pass makes the
matching loss piecewise constant in the input, apart from the surrogate's local slopes, so
descent from a grey start goes nowhere (``snnleak diagnose`` measures it). The gradients
still hold the information. The attacker, who has the architecture, the weights and T (the
:class:`~snnleak.threat.Observation`), builds its **own copy** of the victim in which
the spike is the ATan surrogate's primitive

.. math::
    s_\alpha(u) = \tfrac12 + \arctan(\pi \alpha u / 2) / \pi,

in the forward pass too (``NeuronParams.smooth``; its backward is the exact derivative: the
"tied" proxy), and matches the victim's **real** observed gradients :math:`g` on it:

.. math::
    \min_x \sum_l \lVert \nabla_{W_l} \ell(\tilde f_\alpha(x), y) - g_l \rVert^2
          + \lambda\, L_s\, \mathrm{TV}(x),

with the label :math:`y` from the iDLG rule, :math:`L_s` the stage's matching loss at its start
and TV the mean absolute difference of horizontal and vertical neighbours. A continuation
schedule sharpens :math:`\alpha` (1, 2, 4 by default) towards the victim's step; each stage is
``stage_steps`` strong-Wolfe L-BFGS steps, warm-started from the last; a final polish runs on
the exact victim. The output is the stage end with the lowest matching loss **on the victim**
(observable; a polish that does not lower it is discarded), and the reconstruction's losses
are that victim loss at the start and after every stage (then the output's, when it is not the
last stage's), so a record's convergence fields are measured on the victim.

On an ANN (no spiking neuron) the proxy is the victim itself: one stage, then the polish.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from snnleak.attacks.config import LBFGSConfig, Thresholding
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.priors import total_variation
from snnleak.errors import ConfigError
from snnleak.gradients import matching_loss
from snnleak.neurons.module import SpikingNeuron
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class ProxyConfig:
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0)  # the continuation schedule
    stage_steps: int = 20  # strong-Wolfe L-BFGS steps per stage
    polish_steps: int = 20  # on the exact victim
    tv: float = 0.3  # the TV weight, times the stage's starting matching loss
    max_iter: int = 20  # L-BFGS evaluations per step
    threshold: Thresholding | None = None

    def __post_init__(self) -> None:
        if not self.alphas or not all(a > 0 for a in self.alphas):
            raise ConfigError(f"proxy alphas must be positive, got {self.alphas}")
        if self.stage_steps < 1 or self.polish_steps < 0 or self.tv < 0:
            raise ConfigError("proxy needs stage_steps >= 1, polish_steps >= 0 and tv >= 0")


def spiking_neurons(model: nn.Module) -> list[SpikingNeuron]:
    return [m for m in model.modules() if isinstance(m, SpikingNeuron)]


def smooth_copy(model: nn.Module, alpha: float) -> nn.Module:
    """The attacker's copy of ``model`` with every spike smooth at ``alpha`` (forward and
    backward); the same weights, T and everything else."""
    proxy = copy.deepcopy(model).train()
    for neuron in spiking_neurons(proxy):
        neuron.params = replace(neuron.params, smooth=True, alpha=float(alpha))
    return proxy


def stage_lbfgs(max_iter: int = 20) -> LBFGSConfig:
    """The L-BFGS of a proxy stage (and of the analytic feature inversion): lr 1, strong Wolfe,
    a history of 100, torch's tolerances."""
    return LBFGSConfig(max_iter=max_iter, history_size=100, line_search="strong_wolfe")


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


class SmoothProxy:
    """The continuation + TV + polish pipeline on the attacker's smooth copy (see the module
    docstring)."""

    name = "proxy"

    def __init__(self, config: ProxyConfig = ProxyConfig()) -> None:
        self.config = config

    def reconstruct(
        self,
        obs: Observation,
        rng: torch.Generator,
        init: torch.Tensor | None = None,
    ) -> Reconstruction:
        cfg = self.config
        true, label = list(obs.gradients), infer_label(obs)
        x = initial_dummy(obs, rng) if init is None else init.detach().clone()
        track, steps = IterateTracker(), 0

        def on_victim(x: torch.Tensor) -> float:
            return float(matching_loss(obs.model, x, label, true).detach())

        track.observe(on_victim(x), (x, label))
        snn = bool(spiking_neurons(obs.model))
        models = [smooth_copy(obs.model, a) for a in cfg.alphas] if snn else [obs.model]
        for model in models:
            x = stage(model, x, label, true, cfg.stage_steps, cfg.tv, obs.modality, cfg.max_iter)
            steps += cfg.stage_steps
            if not track.observe(on_victim(x), (x, label)):
                break
        if cfg.polish_steps and not track.diverged:
            start = track.best[0]
            polished = stage(
                obs.model, start, label, true, cfg.polish_steps, cfg.tv, obs.modality, cfg.max_iter
            )
            steps += cfg.polish_steps
            track.observe(on_victim(polished), (polished, label))
        # the pipeline's output is its best stage end on the victim; its loss ends the record
        if track.last is not track.best:
            track.losses.append(track.best_loss)
            track.last = track.best
        return finish(track, steps, cfg.threshold, (x, label), obs.modality)

    def reconstruct_batch(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked as :meth:`reconstruct` would, all together as one batched
        computation (:mod:`snnleak.attacks.proxy_batched`)."""
        from snnleak.attacks.proxy_batched import reconstruct_batched

        return reconstruct_batched(self.config, observations, rngs)
