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

from dataclasses import dataclass, replace

import torch
from torch import nn

from snnleak.attacks.config import LBFGSConfig, Thresholding
from snnleak.attacks.graphs import graphed
from snnleak.attacks.iterates import TrialsTracker, finish
from snnleak.attacks.lbfgs import RowLBFGS
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.rows import take_rows
from snnleak.attacks.victims import check_alike, stack_victims, stacked_matching_loss
from snnleak.errors import ConfigError
from snnleak.neurons.foreign import copy_model, has_smooth_forward, neuron_modules, smooth
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


def spiking_neurons(model: nn.Module) -> list[nn.Module]:
    """The spiking neurons of ``model``: snnleak's own, snnTorch's, SpikingJelly's, Norse's."""
    return [m for _, m in neuron_modules(model)]


def smooth_copy(model: nn.Module, alpha: float) -> nn.Module:
    """The attacker's copy of ``model`` with every spike smooth at ``alpha`` (forward and
    backward) where its neuron has a smooth forward (:mod:`snnleak.neurons.foreign`); the same
    weights, T and everything else. :func:`left_spiking` names the neurons that have none."""
    proxy = copy_model(model).train()
    for neuron in spiking_neurons(proxy):
        smooth(neuron, alpha)
    return proxy


def left_spiking(model: nn.Module) -> list[str]:
    """The neurons of ``model`` a smooth copy leaves spiking (no smooth forward: Norse's),
    as ``name (class)``."""
    return [
        f"{name} ({type(m).__module__}.{type(m).__qualname__})"
        for name, m in neuron_modules(model)
        if not has_smooth_forward(m)
    ]


def stage_lbfgs(max_iter: int = 20) -> LBFGSConfig:
    """The L-BFGS of a proxy stage (and of the analytic feature inversion): lr 1, strong Wolfe,
    a history of 100, torch's tolerances."""
    return LBFGSConfig(max_iter=max_iter, history_size=100, line_search="strong_wolfe")


def trial_tv(x: torch.Tensor) -> torch.Tensor:
    """:func:`~snnleak.attacks.priors.total_variation` of each trial of ``x [K, ...]``."""
    k = x.shape[0]
    vertical = (x[..., 1:, :] - x[..., :-1, :]).abs().reshape(k, -1).mean(1)
    return vertical + (x[..., :, 1:] - x[..., :, :-1]).abs().reshape(k, -1).mean(1)


def stage_rows(stack, x0, labels, steps: int, tv: float, modality: str, max_iter: int, active):
    """One stage for the trials in ``active`` at once: ``steps`` strong-Wolfe L-BFGS steps on
    each trial's matching loss (on the victim evaluator ``stack``) + tv * L_s * TV from
    ``x0 [K, ...]``, L_s the trial's matching loss at ``x0``; images stay in [0, 1]. Returns
    each trial's last finite iterate (``x0`` for the inactive): a trial whose loss or dummy
    turns non-finite stops there."""
    k, shape = x0.shape[0], x0.shape
    v = x0.detach().reshape(k, -1).clone()
    start = stacked_matching_loss(stack, x0.detach(), labels, create_graph=False).detach()
    weight = tv * start
    opt = RowLBFGS(v, stage_lbfgs(max_iter))

    def evaluate(rows: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = take_rows(v, rows).detach().clone().requires_grad_(True)
        x = leaf.reshape(len(leaf), *shape[1:])
        loss = stacked_matching_loss(stack, x, take_rows(labels, rows), rows=rows)
        loss = loss + take_rows(weight, rows) * trial_tv(x)
        (grad,) = torch.autograd.grad(loss.sum(), leaf)
        return loss.detach(), grad

    if stack.graphable:
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


class SmoothProxy:
    """The continuation + TV + polish pipeline on the attacker's smooth copy (see the module
    docstring), over K trial rows: each trial keeps its victim and smooth copies (one victim
    evaluator per continuation stage), its dummy, label, strong-Wolfe L-BFGS row (fresh at
    every stage), TV weight and iterate bookkeeping; a trial whose victim loss turns
    non-finite stops its pipeline."""

    name = "proxy"

    def __init__(self, config: ProxyConfig = ProxyConfig()) -> None:
        self.config = config

    def reconstruct(
        self, obs: Observation, rng: torch.Generator, init: torch.Tensor | None = None
    ) -> Reconstruction:
        inits = None if init is None else init[None]
        return self.reconstruct_trials([obs], [rng], inits)[0]

    def reconstruct_trials(
        self,
        observations: list[Observation],
        rngs: list[torch.Generator],
        inits: torch.Tensor | None = None,
    ) -> list[Reconstruction]:
        """Each observation attacked on its own, all K as one computation. ``inits``: the
        trials' starts ``[K, ...]`` (a pipeline's earlier stage), for the dummies drawn from
        ``rngs``."""
        cfg = self.config
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

        track = TrialsTracker(k, x.device)
        active = torch.ones(k, dtype=torch.bool, device=x.device)
        track.record(on_victim(x), (x, labels), active)
        steps = torch.zeros(k, dtype=torch.long, device=x.device)
        for stack in stages:
            x = stage_rows(stack, x, labels, cfg.stage_steps, cfg.tv, obs0.modality, cfg.max_iter,
                           active)  # fmt: skip
            steps += torch.where(active, cfg.stage_steps, 0)
            active = track.record(on_victim(x), (x, labels), active)
            if not bool(active.any()):
                break
        if cfg.polish_steps:
            polish = active & ~track.diverged
            start = track.best[0]
            polished = stage_rows(victim, start, labels, cfg.polish_steps, cfg.tv, obs0.modality,
                                  cfg.max_iter, polish)  # fmt: skip
            steps += torch.where(polish, cfg.polish_steps, 0)
            track.record(on_victim(polished), (polished, labels), polish)
        # each pipeline's output is its best stage end on the victim; its loss ends the record
        tracks, steps = track.trackers(), steps.tolist()
        out = []
        for i, t in enumerate(tracks):
            if t.last is not None and not track.last_was_best[i]:
                t.losses.append(t.best_loss)
                t.last = t.best
            out.append(finish(t, steps[i], cfg.threshold, (x[i], labels[i]), obs0.modality))
        spiking = left_spiking(obs0.model) if snn else []
        if spiking:  # said in every record: these stages ran those neurons spiking
            out = [replace(r, details={**r.details, "left_spiking": spiking}) for r in out]
        return out
