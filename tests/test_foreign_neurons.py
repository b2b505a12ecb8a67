"""The neurons of snnTorch, SpikingJelly and Norse in a user's model: found, described, and
made smooth by the smooth proxy where they have a smooth forward."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snnleak.attacks.proxy import left_spiking, smooth_copy, spiking_neurons
from snnleak.neurons.foreign import neuron_modules


def _s(u: torch.Tensor, alpha: float) -> torch.Tensor:
    return 0.5 + torch.atan(math.pi * alpha * u / 2) / math.pi


class SnnTorchOneStep(nn.Module):
    def __init__(self):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.lif = snn.Leaky(beta=0.5, spike_grad=surrogate.atan())

    def forward(self, x):
        spk, _ = self.lif(x, self.lif.init_leaky())
        return spk


class SpikingJellyOneStep(nn.Module):
    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import neuron, surrogate

        self.node = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m")

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        return self.node(x[None])[0]


@pytest.mark.parametrize(
    ("cls", "rest_reset"),
    [(SnnTorchOneStep, _s(torch.tensor(-1.0, dtype=torch.float64), 3.0)), (SpikingJellyOneStep, 0)],
)
def test_a_smooth_copy_fires_the_atan_primitive(cls, rest_reset):
    """One step from rest: the smooth copy's spike is s_alpha(membrane - threshold),
    differentiable, where the model spikes 0 or 1. SpikingJelly's membrane is the input;
    snnTorch's delayed reset subtracts s_alpha(0 - threshold) * threshold from it already."""
    model = cls().double()
    x = torch.linspace(0.0, 2.0, 9, dtype=torch.float64).requires_grad_()
    assert set(model(x).tolist()) <= {0.0, 1.0}
    proxy = smooth_copy(model, 3.0)
    torch.testing.assert_close(proxy(x), _s(x - rest_reset - 1.0, 3.0), rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(proxy(x).sum(), x)
    assert (grad > 0).all() and left_spiking(model) == []
    assert set(model(x).tolist()) <= {0.0, 1.0}  # the victim itself is untouched


def test_norse_neurons_are_found_and_said_to_stay_spiking():
    import norse.torch as norse

    model = norse.SequentialState(nn.Linear(4, 4), norse.LIFCell())
    ((name, cell),) = neuron_modules(model)
    assert name == "1" and spiking_neurons(model) == [cell]
    assert left_spiking(model) == ["1 (norse.torch.module.lif.LIFCell)"]
