"""``SpikingNeuron``: a thin ``nn.Module`` that holds parameters and calls :func:`multistep`.

It keeps no membrane state between calls: every call starts from the resting potential, so a
model can be run thousands of times by an attack without any reset.
"""

from __future__ import annotations

import torch
from torch import nn

from snnleak.neurons.backends import get_backend, multistep
from snnleak.neurons.params import NeuronParams


class SpikingNeuron(nn.Module):
    def __init__(self, params: NeuronParams, backend: str = "reference") -> None:
        super().__init__()
        get_backend(backend)  # fail on an unknown name at construction
        self.params = params
        self.backend = backend

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return multistep(x_seq, self.params, self.backend)

    def extra_repr(self) -> str:
        return f"{self.params}, backend={self.backend!r}"
