"""The model of the ``--accelerate`` measurement (docs/own-models.md): the convolutional SNN of
SpikingJelly's tutorials as its users write it (two conv + max-pool + multi-step
``LIFNode(tau=2, ATan)`` layers, a linear read-out averaged over T, ``functional.reset_net`` at
the start of ``forward``), as a plug-in factory. Measure it before and after with

    snnleak bench accelerate --model experiments/accelerate_speed.py:make --timesteps 8 --out out

or run this file, which does the same.
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


if __name__ == "__main__":
    from snnleak.cli import cli

    args = sys.argv[1:] or ["--timesteps", "8", "--out", "out"]
    cli(["bench", "accelerate", "--model", f"{__file__}:make", *args])
