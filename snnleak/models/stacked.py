r"""K independent victims (LeNet or LeNet5SNN) evaluated as one computation.

The K models' convolutions become one grouped convolution (``groups=K``: trial k's channels
are the k-th block), their neurons one elementwise scan, their classifiers one batched matrix
product. Parameters are stacked along a leading trial axis, so trial k's parameter gradient is
the k-th block of the stacked gradient, and a sum of per-trial losses differentiates each trial
independently (no parameter is shared between trials).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snnleak.errors import ConfigError
from snnleak.models.lenet import LeNet
from snnleak.models.lenet_snn import LeNet5SNN
from snnleak.neurons import multistep


class StackedLeNet(nn.Module):
    def __init__(self, models: list[LeNet | LeNet5SNN]) -> None:
        super().__init__()
        first = models[0]
        if not all(
            type(m) is type(first)
            and m.in_shape == first.in_shape
            and m.num_classes == first.num_classes
            for m in models
        ):
            raise ConfigError("stacked victims must share one architecture")
        self.k = len(models)
        self.spiking = isinstance(first, LeNet5SNN)
        self.in_shape, self.num_classes = first.in_shape, first.num_classes
        if self.spiking:
            self.timesteps, self.neuron_params = first.timesteps, first.neuron_params
            self.backend = first.backend
        convs = [m.convs for m in models]
        self.conv_meta = [(c.stride, c.padding) for c in first.convs]
        self.conv_w = nn.ParameterList(
            nn.Parameter(torch.cat([cs[i].weight.detach() for cs in convs]))
            for i in range(len(first.convs))
        )
        self.conv_b = nn.ParameterList(
            nn.Parameter(torch.cat([cs[i].bias.detach() for cs in convs]))
            for i in range(len(first.convs))
        )
        self.fc_w = nn.Parameter(torch.stack([m.fc.weight.detach() for m in models]))
        self.fc_b = nn.Parameter(torch.stack([m.fc.bias.detach() for m in models]))

    def trial_parameters(self, grads: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        """Split stacked tensors (parameters or their gradients) into per-trial lists, in the
        order of a single model's ``parameters()`` (conv1 w, b, conv2 w, b, ..., fc w, b)."""
        n = len(self.conv_w)
        out = []
        for k in range(self.k):
            per = []
            for i in range(n):
                per += [grads[i].chunk(self.k)[k], grads[n + i].chunk(self.k)[k]]
            per += [grads[2 * n][k], grads[2 * n + 1][k]]
            out.append(per)
        return out

    def ordered_parameters(self) -> list[nn.Parameter]:
        return [*self.conv_w, *self.conv_b, self.fc_w, self.fc_b]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``[K, B, C, H, W]`` or events ``[T, K, B, C, H, W]`` -> logits ``[K, B, O]``."""
        if self.spiking and x.dim() == 5:  # images, replicated over time
            x = x.unsqueeze(0).expand(self.timesteps, *x.shape)
        t = x.shape[0] if self.spiking else 1
        if not self.spiking:
            x = x.unsqueeze(0)
        _, k, b = x.shape[:3]
        if k != self.k:
            raise ConfigError(f"expected {self.k} trials on the trial axis, got {k}")
        h = x.permute(0, 2, 1, 3, 4, 5).reshape(t * b, k * x.shape[3], *x.shape[4:])
        for w, bias, (stride, padding) in zip(
            self.conv_w, self.conv_b, self.conv_meta, strict=True
        ):
            h = F.conv2d(h, w, bias, stride=stride, padding=padding, groups=self.k)
            if self.spiking:
                h = multistep(
                    h.reshape(t, b, *h.shape[1:]), self.neuron_params, self.backend
                ).reshape(t * b, *h.shape[1:])
            else:
                h = torch.sigmoid(h)
        h = h.reshape(t, b, k, -1)  # trial k's channels are the k-th block
        out = torch.einsum("tbkf,kof->tbko", h, self.fc_w) + self.fc_b
        return out.mean(0).transpose(0, 1)  # [K, B, O]
