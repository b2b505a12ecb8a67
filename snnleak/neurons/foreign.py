r"""Spiking neurons as users write them (snnTorch, SpikingJelly, Norse) beside snnleak's own:
which modules of a model are neurons, and the smooth forward of those that have one.

The smooth spike is the ATan surrogate's primitive,
:math:`s_\alpha(u) = \tfrac12 + \arctan(\pi \alpha u / 2) / \pi` of the membrane above
threshold, in the forward pass too (its backward the exact derivative), as the smooth proxy
(:mod:`snnleak.attacks.proxy`) needs:

- snnleak's :class:`~snnleak.neurons.module.SpikingNeuron` and
  :class:`~snnleak.neurons.leaky.FusedLeaky`: their params' ``smooth``;
- snnTorch (``Leaky``, ``Synaptic``, ...: every neuron fires through ``spike_grad``):
  ``spike_grad`` becomes :class:`SmoothSpike`. snnTorch computes its delayed reset through
  the same function, so the smooth copy subtracts :math:`s_\alpha(m_{t-1} - \theta)\,\theta`
  each step, from rest too (:math:`s_\alpha(-\theta) > 0`);
- SpikingJelly (``IFNode``, ``LIFNode``, ...): its surrogate function's own smooth mode,
  ``spiking = False`` (its primitive; ATan's is :math:`s_\alpha`), at ``alpha``;
- Norse fires through a Heaviside whose every ``method`` is a surrogate of the backward
  only: it has no smooth forward, and its neurons stay spiking (:func:`smooth` says so).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import torch
from torch import nn

from snnleak.neurons.leaky import FusedLeaky
from snnleak.neurons.module import SpikingNeuron

OWN_NEURONS = (SpikingNeuron, FusedLeaky)

SNN_PACKAGES = ("snntorch", "spikingjelly", "norse")


def _neuron_code(module: nn.Module) -> bool:
    top = type(module).__module__.split(".")[0]
    return top in SNN_PACKAGES or isinstance(module, OWN_NEURONS)


def _surrogate(module: nn.Module) -> bool:
    return "surrogate" in type(module).__module__


def neuron_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every spiking neuron in ``model``: snnleak's own and the modules of
    snnTorch, SpikingJelly and Norse that hold no such module themselves (not a container
    such as Norse's ``SequentialState``; a surrogate function is part of its neuron)."""
    out = []
    for name, m in model.named_modules():
        if not _neuron_code(m) or _surrogate(m):
            continue
        if not any(_neuron_code(c) and not _surrogate(c) for c in m.children()):
            out.append((name, m))
    return out


class SmoothSpike:
    """snnTorch's ``spike_grad`` made smooth: :math:`s_\\alpha(u)` forward, its derivative
    backward."""

    def __init__(self, alpha: float) -> None:
        self.alpha = float(alpha)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return 0.5 + torch.atan(math.pi * self.alpha * u / 2) / math.pi


def has_smooth_forward(neuron: nn.Module) -> bool:
    """Whether :func:`smooth` can make ``neuron``'s spike smooth (not Norse's)."""
    package = type(neuron).__module__.split(".")[0]
    if isinstance(neuron, OWN_NEURONS):
        return True
    if package == "snntorch":
        return hasattr(neuron, "spike_grad")
    return package == "spikingjelly" and hasattr(
        getattr(neuron, "surrogate_function", None), "spiking"
    )


def smooth(neuron: nn.Module, alpha: float) -> bool:
    """In place: ``neuron``'s spike smooth at ``alpha``, forward and backward; False (and
    unchanged) for a neuron that has no smooth forward (Norse's, an unknown one)."""
    if not has_smooth_forward(neuron):
        return False
    if isinstance(neuron, OWN_NEURONS):
        neuron.params = replace(neuron.params, smooth=True, alpha=float(alpha))
    elif hasattr(neuron, "spike_grad"):  # snnTorch
        neuron.spike_grad = SmoothSpike(alpha)
    else:  # SpikingJelly
        neuron.surrogate_function.spiking = False
        neuron.surrogate_function.alpha = float(alpha)
    return True


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whatever state its neurons hold: a membrane left in a module
    by a forward with gradients (snnTorch's ``mem``, SpikingJelly's memories), which
    ``copy.deepcopy`` refuses, is copied detached."""
    memo = {}
    for m in model.modules():
        values = [*vars(m).values(), *m._buffers.values()]
        memories = vars(m).get("_memories")
        if isinstance(memories, dict):
            values += list(memories.values())
        for v in values:
            if isinstance(v, torch.Tensor) and not v.is_leaf:
                memo[id(v)] = v.detach().clone()
    return copy.deepcopy(model, memo)
