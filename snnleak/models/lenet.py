"""The sigmoid LeNet of DLG / iDLG and the shared convolutional geometry of its spiking twin.

Three 5x5 convolutions with padding 2 (C->12 stride 2, 12->12 stride 2, 12->12 stride 1), each
followed by a sigmoid, then one linear layer to K classes. Weights and biases are drawn from
U(-0.5, 0.5) as in DLG's ``weights_init`` (``init="dlg"``): the wide init makes gradients
informative. ``init="torch"`` draws them as PyTorch's own layers do (U(-b, b) with
b = 1/sqrt(fan_in), weights and biases), what a victim built without DLG's code gets.
"""

from __future__ import annotations

import torch
from torch import nn

from snnleak.errors import ConfigError

CHANNELS = 12
STRIDES = (2, 2, 1)
KERNEL, PADDING = 5, 2
INITS = ("dlg", "torch")  # a victim's initial weights: DLG's U(-0.5, 0.5), or torch's default


def check_shape(in_shape: tuple[int, int, int], num_classes: int) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"in_shape must be (C, H, W), got {in_shape!r}") from None
    if min(c, h, w) < 1:
        raise ConfigError(f"in_shape must be positive (C, H, W), got {in_shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return c, h, w


def feature_size(in_shape: tuple[int, int, int]) -> int:
    """Length of the flattened feature map entering the linear layer."""
    _, h, w = in_shape
    for s in STRIDES:
        h = (h + 2 * PADDING - KERNEL) // s + 1
        w = (w + 2 * PADDING - KERNEL) // s + 1
    return CHANNELS * h * w


def make_convs(in_channels: int) -> nn.ModuleList:
    chans = (in_channels, CHANNELS, CHANNELS, CHANNELS)
    return nn.ModuleList(
        nn.Conv2d(chans[i], chans[i + 1], KERNEL, stride=s, padding=PADDING)
        for i, s in enumerate(STRIDES)
    )


@torch.no_grad()
def init_uniform_(
    module: nn.Module, rng: torch.Generator | None = None, init: str = "dlg"
) -> nn.Module:
    """Every conv/linear weight and bias from U(-0.5, 0.5) (DLG's init), or, for
    ``init="torch"``, from U(-b, b) with b = 1/sqrt(fan_in): the bound of PyTorch's default
    (``kaiming_uniform_(a=sqrt(5))`` for weights, the same bound for biases), drawn from
    ``rng``."""
    if init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            bound = 0.5 if init == "dlg" else m.weight[0].numel() ** -0.5
            m.weight.uniform_(-bound, bound, generator=rng)
            if m.bias is not None:
                m.bias.uniform_(-bound, bound, generator=rng)
    return module


class LeNet(nn.Module):
    """Sigmoid LeNet: ``[B, C, H, W] -> [B, K]`` logits."""

    def __init__(
        self,
        in_shape: tuple[int, int, int] = (3, 32, 32),
        num_classes: int = 100,
        *,
        rng: torch.Generator | None = None,
        init: str = "dlg",
    ) -> None:
        super().__init__()
        self.in_shape = check_shape(in_shape, num_classes)
        self.num_classes = num_classes
        self.convs = make_convs(self.in_shape[0])
        self.fc = nn.Linear(feature_size(self.in_shape), num_classes)
        init_uniform_(self, rng, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ConfigError(
                f"LeNet expects images [B, {', '.join(map(str, self.in_shape))}], "
                f"got {list(x.shape)}"
            )
        for conv in self.convs:
            x = torch.sigmoid(conv(x))
        return self.fc(x.flatten(1))
