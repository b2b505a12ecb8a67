"""``SpikingNeuron``: a thin ``nn.Module`` that holds parameters and runs a backend's neuron.

It keeps no membrane state between calls: every call starts from the resting potential, so a
model can be run thousands of times by an attack without any reset. The backend is resolved
once (on the first call, and again only if ``backend`` is changed), not on every forward.
"""

from __future__ import annotations

import torch
from torch import nn

from snnleak.errors import ConfigError
from snnleak.neurons.backends import TraceFn, check_input, get_backend
from snnleak.neurons.params import NeuronParams


class SpikingNeuron(nn.Module):
    def __init__(self, params: NeuronParams, backend: str = "reference") -> None:
        super().__init__()
        get_backend(backend)  # fail on an unknown name at construction
        if not isinstance(params, NeuronParams):
            raise ConfigError(f"params must be a NeuronParams, got {type(params).__name__}")
        self.params = params
        self.backend = backend
        self._resolved: tuple[str, TraceFn] | None = None

    def _trace_fn(self) -> TraceFn:
        resolved = self._resolved
        if resolved is None or resolved[0] != self.backend:
            resolved = self._resolved = (self.backend, get_backend(self.backend).load())
        return resolved[1]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        check_input(x_seq)
        return self._trace_fn()(x_seq, self.params).spikes

    def extra_repr(self) -> str:
        return f"{self.params}, backend={self.backend!r}"
