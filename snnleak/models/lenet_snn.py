r"""LeNet5SNN: the DLG LeNet with multi-step IF neurons in place of the sigmoids.

For an input sequence :math:`X \in \mathbb{R}^{T \times B \times C \times H \times W}` each
convolution is applied to the flattened ``[T*B, ...]`` batch, the neuron runs over the time axis,
and the output is the temporal mean of the linear layer's per-step outputs:

.. math::
    \text{logits} = \frac{1}{T} \sum_{t=0}^{T-1} W\, s^{(3)}_t + b

Images ``[B, C, H, W]`` are replicated over the T steps (direct encoding, the paper's), or,
with ``encoding="poisson"``, drawn as Bernoulli spikes with probability the pixel value at every
step (rate coding; the gradient passes straight through the draw). The draws come from the
model's own ``rate_rng``, the client's; the server's copy of the model draws from a
generator of the server's own (:func:`snnleak.threat.server_copy`), so the attacker never knows
the client's draw. Event tensors ``[T, B, C, H, W]`` are used as they are. No membrane state is
kept between calls.
"""

from __future__ import annotations

import torch
from torch import nn

from snnleak.errors import ConfigError
from snnleak.models.lenet import check_shape, feature_size, init_uniform_, make_convs
from snnleak.neurons import NeuronParams, SpikingNeuron

ENCODINGS = ("direct", "poisson")


class LeNet5SNN(nn.Module):
    def __init__(
        self,
        in_shape: tuple[int, int, int] = (3, 32, 32),
        num_classes: int = 100,
        timesteps: int = 20,
        neuron: NeuronParams | None = None,
        backend: str = "reference",
        *,
        rng: torch.Generator | None = None,
        encoding: str = "direct",
        rate_rng: torch.Generator | None = None,
        init: str = "dlg",
    ) -> None:
        super().__init__()
        self.in_shape = check_shape(in_shape, num_classes)
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
            raise ConfigError(f"timesteps must be a positive integer, got {timesteps!r}")
        if encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
        self.num_classes = num_classes
        self.timesteps = timesteps
        self.encoding = encoding
        self.rate_rng = rate_rng or torch.Generator().manual_seed(0)
        self.neuron_params = NeuronParams(kind="if") if neuron is None else neuron
        self.convs = make_convs(self.in_shape[0])
        self.neurons = nn.ModuleList(SpikingNeuron(self.neuron_params, backend) for _ in self.convs)
        self.fc = nn.Linear(feature_size(self.in_shape), num_classes)
        init_uniform_(self, rng, init)

    @property
    def backend(self) -> str:
        return self.neurons[0].backend

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}, encoding={self.encoding!r}"

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` images -> ``[T, B, C, H, W]`` (replicated, or Poisson rate-coded);
        sequences pass."""
        if x.dim() == 4 and tuple(x.shape[1:]) == self.in_shape:
            seq = x.unsqueeze(0).expand(self.timesteps, *x.shape)
            if self.encoding == "direct":
                return seq
            draw = torch.rand(seq.shape, generator=self.rate_rng, dtype=x.dtype, device="cpu")
            spikes = (draw.to(x.device) < seq.clamp(0, 1)).to(x.dtype)
            return seq + (spikes - seq).detach()  # the gradient passes straight through
        if x.dim() == 5 and tuple(x.shape[2:]) == self.in_shape:
            if x.shape[0] != self.timesteps:
                raise ConfigError(
                    f"LeNet5SNN was built with timesteps={self.timesteps}, but the input "
                    f"sequence has T={x.shape[0]}; build it with timesteps={x.shape[0]}"
                )
            return x
        shape = ", ".join(map(str, self.in_shape))
        raise ConfigError(
            f"LeNet5SNN expects images [B, {shape}] or spike tensors [T, B, {shape}], "
            f"got {list(x.shape)}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_seq = self.encode(x)
        t, b = x_seq.shape[:2]
        h = x_seq.reshape(t * b, *x_seq.shape[2:])
        for conv, neuron in zip(self.convs, self.neurons, strict=True):
            h = conv(h)
            h = neuron(h.reshape(t, b, *h.shape[1:])).reshape(t * b, *h.shape[1:])
        out = self.fc(h.flatten(1))
        return out.reshape(t, b, -1).mean(0)
