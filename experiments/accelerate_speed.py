"""The models of the ``--accelerate`` measurement (docs/own-models.md), as plug-in factories:

- ``make``: the convolutional SNN of SpikingJelly's tutorials as its users write it (two conv +
  max-pool + multi-step ``LIFNode(tau=2, ATan)`` layers, a linear read-out averaged over T,
  ``functional.reset_net`` at the start of ``forward``);
- ``make_steps``: the SpikingJelly network in single-step mode (``step_mode="s"``, the
  default), the model's own loop calling every layer once per step;
- ``make_snntorch``: the same network in snnTorch's tutorial style (``snn.Leaky(beta=0.5,
  spike_grad=surrogate.atan())``, membranes from ``init_leaky()``, the model's own loop over
  T steps).

Measure each before and after with

    snnleak bench accelerate --model experiments/accelerate_speed.py:make --timesteps 8 --out out
    snnleak bench accelerate --model experiments/accelerate_speed.py:make_snntorch \
        --timesteps 8 --out out

or run this file, which does the first.
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torch.nn import functional as F


class CSNN(nn.Module):
    def __init__(self, shape, classes: int, timesteps: int) -> None:
        from spikingjelly.activation_based import neuron, surrogate

        super().__init__()
        self.timesteps = timesteps
        lif = dict(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m")
        self.c1, self.n1 = nn.Conv2d(shape[0], 12, 5), neuron.LIFNode(**lif)
        self.c2, self.n2 = nn.Conv2d(12, 64, 5), neuron.LIFNode(**lif)
        side = ((shape[1] - 4) // 2 - 4) // 2
        self.side = side
        self.fc = nn.Linear(64 * side * side, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        t, b = self.timesteps, x.shape[0]
        h = F.max_pool2d(self.c1(x), 2).unsqueeze(0).repeat(t, 1, 1, 1, 1)
        h = F.max_pool2d(self.c2(self.n1(h).flatten(0, 1)), 2)
        return self.fc(self.n2(h.reshape(t, b, 64, self.side, self.side)).flatten(2)).mean(0)


def make(shape, classes: int, timesteps: int) -> nn.Module:
    return CSNN(shape, classes, timesteps)


class StepwiseCSNN(nn.Module):
    def __init__(self, shape, classes: int, timesteps: int) -> None:
        from spikingjelly.activation_based import neuron, surrogate

        super().__init__()
        self.timesteps = timesteps
        lif = dict(tau=2.0, surrogate_function=surrogate.ATan())
        self.c1, self.n1 = nn.Conv2d(shape[0], 12, 5), neuron.LIFNode(**lif)
        self.c2, self.n2 = nn.Conv2d(12, 64, 5), neuron.LIFNode(**lif)
        side = ((shape[1] - 4) // 2 - 4) // 2
        self.fc = nn.Linear(64 * side * side, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        out = 0
        for _ in range(self.timesteps):
            h = self.n1(F.max_pool2d(self.c1(x), 2))
            out = out + self.fc(self.n2(F.max_pool2d(self.c2(h), 2)).flatten(1))
        return out / self.timesteps


def make_steps(shape, classes: int, timesteps: int) -> nn.Module:
    return StepwiseCSNN(shape, classes, timesteps)


class SnnTorchCSNN(nn.Module):
    def __init__(self, shape, classes: int, timesteps: int) -> None:
        import snntorch as snn
        from snntorch import surrogate

        super().__init__()
        self.timesteps = timesteps
        spike_grad = surrogate.atan()
        self.conv1 = nn.Conv2d(shape[0], 12, 5)
        self.lif1 = snn.Leaky(beta=0.5, spike_grad=spike_grad)
        self.conv2 = nn.Conv2d(12, 64, 5)
        self.lif2 = snn.Leaky(beta=0.5, spike_grad=spike_grad)
        side = ((shape[1] - 4) // 2 - 4) // 2
        self.fc = nn.Linear(64 * side * side, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = 0
        for _ in range(self.timesteps):
            spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x), 2), mem1)
            spk2, mem2 = self.lif2(F.max_pool2d(self.conv2(spk1), 2), mem2)
            out = out + self.fc(spk2.flatten(1))
        return out / self.timesteps


def make_snntorch(shape, classes: int, timesteps: int) -> nn.Module:
    return SnnTorchCSNN(shape, classes, timesteps)


if __name__ == "__main__":
    from snnleak.cli import cli

    args = sys.argv[1:] or ["--timesteps", "8", "--out", "out"]
    cli(["bench", "accelerate", "--model", f"{__file__}:make", *args])
