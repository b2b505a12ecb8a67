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
from torch import nn

from snnleak.attacks.primitives import initial_dummy
from snnleak.attacks.priors import total_variation
from snnleak.attacks.proxy import (
    ProxyConfig,
    SmoothProxy,
    smooth_copy,
    spiking_neurons,
    stage_lbfgs,
)
from snnleak.errors import ConfigError
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class AnalyticConfig:
    feature_steps: int = 20
    tv: float = 1e-3
    proxy: ProxyConfig = field(default_factory=ProxyConfig)


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError("the analytic attack needs a model whose last layer is nn.Linear")
    return linears[-1]


def observed_features(obs: Observation) -> torch.Tensor:
    """The last layer's input ``[D]``, exactly, from the observed weight and bias gradients."""
    if obs.batch_size != 1:
        raise ConfigError("the analytic attack reads one item's features: batch size 1 only")
    weight_grad, bias_grad = obs.gradients[-2], obs.gradients[-1]
    k = int(bias_grad.abs().argmax())
    if bias_grad[k] == 0:
        raise ConfigError("the last layer's bias gradient is zero: no features to read")
    return weight_grad[k] / bias_grad[k]


def model_features(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The input of ``model``'s last linear layer at ``x``, ``[B, D]`` (averaged over the time
    steps a spiking model feeds it)."""
    seen = []
    hook = last_linear(model).register_forward_hook(lambda m, i, o: seen.append(i[0]))
    try:
        model(x)
    finally:
        hook.remove()
    h = seen[0]
    return h.reshape(-1, batch_size, h.shape[-1]).mean(0)


class AnalyticInversion:
    name = "analytic"

    def __init__(self, config: AnalyticConfig = AnalyticConfig()) -> None:
        self.config = config

    def invert_features(self, obs: Observation, rng: torch.Generator) -> torch.Tensor:
        cfg = self.config
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

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        init = self.invert_features(obs, rng)
        return SmoothProxy(self.config.proxy).reconstruct(obs, rng, init=init)

    def reconstruct_batch(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked as :meth:`reconstruct` would, all together as one batched
        computation (:mod:`snnleak.attacks.analytic_batched`)."""
        from snnleak.attacks.analytic_batched import reconstruct_batched
        from snnleak.attacks.victims import stackable

        if not stackable(observations):  # its stacked form needs built-in LeNets: one by one
            return [self.reconstruct(o, g) for o, g in zip(observations, rngs, strict=True)]

        return reconstruct_batched(self.config, observations, rngs)
