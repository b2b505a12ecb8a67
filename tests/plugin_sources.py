"""Plug-in sources the tests write to a file and load as ``FILE.py:make``."""

# snnTorch, tutorial style: explicit membranes, the model's own loop over T
ST_PLUGIN = """
import snntorch as snn
from snntorch import surrogate
from torch import nn


class Net(nn.Module):
    def __init__(self, shape, classes, timesteps):
        super().__init__()
        self.timesteps = timesteps
        self.conv = nn.Conv2d(shape[0], 4, 3, stride=2, padding=1)
        self.lif = snn.Leaky(beta=0.5, spike_grad=surrogate.atan())
        self.fc = nn.Linear(4 * ((shape[1] + 1) // 2) * ((shape[2] + 1) // 2), classes)

    def forward(self, x):
        mem, out = self.lif.init_leaky(), 0
        for _ in range(self.timesteps):
            spk, mem = self.lif(self.conv(x), mem)
            out = out + self.fc(spk.flatten(1))
        return out


def make(shape, classes, timesteps):
    return Net(shape, classes, timesteps)
"""
