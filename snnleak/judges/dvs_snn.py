"""DVSGestureSNN, the event-data judge, exactly as in the paper's Table I (width 64):

=====================  =====================================================================
Conv1 block            Conv2d(2, w, 3, 1, 1) -> BN -> LIF(ATan)
Conv2 block            Conv2d(w, 2w, 3, 2, 1) -> BN -> LIF -> ResidualBlock(2w)
Conv3 block            Conv2d(2w, 4w, 3, 2, 1) -> BN -> LIF -> ResidualBlock(4w)
Conv4 block            Conv2d(4w, 8w, 3, 2, 1) -> BN -> LIF -> ResidualBlock(8w)
Pooling                global average pooling over space
Classifier             Linear(8w, K), per time step
Temporal aggregation   logits averaged over the T steps
=====================  =====================================================================

ResidualBlock(c): conv3x3 -> BN -> LIF -> conv3x3 -> BN, plus the input, -> LIF. Convolutions
and batch norm act on the flattened ``[T*B, ...]`` batch; LIF neurons run multi-step on any of
the project's neuron backends. ``width`` scales the channels (64 is the paper's; the synthetic
set's judge uses a narrower one to train in minutes on a CPU).
"""

from __future__ import annotations

import torch
from torch import nn

from snnleak.errors import ConfigError
from snnleak.neurons import NeuronParams, SpikingNeuron

LIF = NeuronParams(kind="lif", tau=2.0)


class _SeqConvBN(nn.Module):
    """Conv -> BN on ``[T, B, C, H, W]`` through the flattened ``[T*B, C, H, W]`` batch."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1)))
        return y.reshape(t, b, *y.shape[1:])


class ResidualBlock(nn.Module):
    def __init__(self, c: int, neuron: NeuronParams, backend: str) -> None:
        super().__init__()
        self.a, self.b = _SeqConvBN(c, c, 1), _SeqConvBN(c, c, 1)
        self.n1, self.n2 = SpikingNeuron(neuron, backend), SpikingNeuron(neuron, backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.n2(self.b(self.n1(self.a(x))) + x)


class DVSGestureSNN(nn.Module):
    def __init__(
        self,
        in_shape: tuple[int, int, int, int],
        num_classes: int,
        width: int = 64,
        neuron: NeuronParams = LIF,
        backend: str = "reference",
    ) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)  # (T, C, H, W)
        w = width
        chans = [(in_shape[1], w, 1), (w, 2 * w, 2), (2 * w, 4 * w, 2), (4 * w, 8 * w, 2)]
        layers: list[nn.Module] = []
        for i, (cin, cout, stride) in enumerate(chans):
            layers += [_SeqConvBN(cin, cout, stride), SpikingNeuron(neuron, backend)]
            if i > 0:
                layers.append(ResidualBlock(cout, neuron, backend))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(8 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` spike frames -> ``[B, K]`` time-averaged logits."""
        if x.dim() != 5 or tuple(x.shape[2:]) != self.in_shape[1:]:
            raise ConfigError(
                f"DVSGestureSNN expects [T, B, {', '.join(map(str, self.in_shape[1:]))}]"
                f" spike frames, got {list(x.shape)}"
            )
        features = self.features(x).mean(dim=(-2, -1))  # global average pooling: [T, B, 8w]
        return self.classifier(features).mean(0)
