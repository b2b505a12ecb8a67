r"""The analytic first step: the last layer's input, read off the gradient, inverted.

For a linear last layer :math:`o = W h + b` (for LeNet5SNN: :math:`o = \frac1T \sum_t (W s_t +
b)`, so :math:`h = \bar s`, the time-averaged spike counts of the last hidden layer) and a batch
of one,

.. math::
    \partial\ell/\partial W = (\partial\ell/\partial o)\, h^\top,\qquad
    \partial\ell/\partial b = \partial\ell/\partial o
    \quad\Rightarrow\quad h = (\partial\ell/\partial W)[k] / (\partial\ell/\partial b)[k]

for any k with a non-zero bias gradient (we take the largest): the exact features, from the
observed update alone. The attack inverts them: ``feature_steps`` strong-Wolfe L-BFGS steps on
:math:`\lVert h(\tilde f_\alpha(x)) - h\rVert^2 / \lVert h \rVert^2 + \lambda\,\mathrm{TV}(x)`
through the attacker's smooth copy at the first continuation ``alpha`` (the victim itself for
an ANN), and then the smooth-proxy pipeline (:mod:`snnleak.attacks.proxy`) from there: a
pipeline of two stages under one attack name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from snnleak.attacks.graphs import graphed
from snnleak.attacks.lbfgs import RowLBFGS
from snnleak.attacks.primitives import initial_dummy
from snnleak.attacks.proxy import (
    ProxyConfig,
    SmoothProxy,
    smooth_copy,
    spiking_neurons,
    stage_lbfgs,
    trial_tv,
)
from snnleak.attacks.rows import take_rows
from snnleak.attacks.victims import check_alike, stack_victims
from snnleak.errors import ConfigError
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class AnalyticConfig:
    feature_steps: int = 20
    tv: float = 1e-3
    proxy: ProxyConfig = field(default_factory=ProxyConfig)


def observed_features(obs: Observation) -> torch.Tensor:
    """The last layer's input ``[D]``, exactly, from the observed weight and bias gradients."""
    if obs.batch_size != 1:
        raise ConfigError("the analytic attack reads one item's features: batch size 1 only")
    weight_grad, bias_grad = obs.gradients[-2], obs.gradients[-1]
    k = int(bias_grad.abs().argmax())
    if bias_grad[k] == 0:
        raise ConfigError("the last layer's bias gradient is zero: no features to read")
    return weight_grad[k] / bias_grad[k]


def invert_features_rows(
    cfg: AnalyticConfig, observations: list[Observation], rngs: list[torch.Generator]
) -> torch.Tensor:
    """Every trial's features inverted, ``[K, ...]``: ``feature_steps`` strong-Wolfe L-BFGS
    steps (a row each) on its relative feature error + TV through its smooth copy at the first
    continuation alpha (its victim for an ANN); images stay in [0, 1], and a trial whose loss
    turns non-finite stops there."""
    obs0, k = observations[0], len(observations)
    target = torch.stack([observed_features(o) for o in observations])  # [K, D]
    scale = (target**2).sum(1)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    models = None
    if spiking_neurons(obs0.model):
        models = [smooth_copy(o.model, cfg.proxy.alphas[0]) for o in observations]
    stack = stack_victims(observations, models)
    x0 = torch.stack([initial_dummy(o, g) for o, g in zip(observations, rngs, strict=True)])
    v = x0.reshape(k, -1).clone()
    opt = RowLBFGS(v, stage_lbfgs())

    def evaluate(rows: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = take_rows(v, rows).detach().clone().requires_grad_(True)
        x = leaf.reshape(len(leaf), *x0.shape[1:])
        h = stack.features(x, rows)[:, 0]
        loss = ((h - take_rows(target, rows)) ** 2).sum(1) / take_rows(scale, rows)
        loss = loss + cfg.tv * trial_tv(x)
        (grad,) = torch.autograd.grad(loss.sum(), leaf)
        return loss.detach(), grad

    if stack.graphable:
        evaluate = graphed(evaluate, v)
    alive = torch.ones(k, dtype=torch.bool, device=v.device)
    for _ in range(cfg.feature_steps):
        alive &= torch.isfinite(opt.step(evaluate, alive))
        if obs0.modality == "image":
            v.copy_(torch.where(alive[:, None], v.clamp(0, 1), v))
        if not bool(alive.any()):
            break
    return v.reshape(x0.shape)


class AnalyticInversion:
    """The analytic attack over K trial rows: each trial's features read off its own update,
    inverted (:func:`invert_features_rows`), then the smooth proxy's K rows from there."""

    name = "analytic"

    def __init__(self, config: AnalyticConfig = AnalyticConfig()) -> None:
        self.config = config

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        return self.reconstruct_trials([obs], [rng])[0]

    def reconstruct_trials(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked on its own, all K as one computation."""
        check_alike(observations)
        inits = invert_features_rows(self.config, observations, rngs)
        return SmoothProxy(self.config.proxy).reconstruct_trials(observations, rngs, inits=inits)
