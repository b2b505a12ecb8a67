"""LeNet5SNN written with SpikingJelly layers (IFNode with ATan), weights copied from ours.

A comparator for tests and benchmarks: SpikingJelly is how the paper built its victim. It needs
the optional ``spikingjelly`` package (the dev extra installs 2.0.0).
"""

from __future__ import annotations

import torch
from torch import nn

from snnleak.models import LeNet5SNN


class SpikingJellyLeNet(nn.Module):
    def __init__(self, model: LeNet5SNN) -> None:
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        p = model.neuron_params
        if p.kind != "if" or p.smooth:
            raise ValueError("SpikingJellyLeNet mirrors the IF LeNet5SNN only")
        mods: list[nn.Module] = []
        for conv in model.convs:
            sj_conv = layer.Conv2d(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                stride=conv.stride,
                padding=conv.padding,
                step_mode="m",
            )
            sj_conv.load_state_dict(conv.state_dict())
            # SpikingJelly's default surrogate is Sigmoid: ATan is passed explicitly
            mods += [
                sj_conv,
                neuron.IFNode(
                    v_threshold=p.v_threshold,
                    v_reset=p.v_reset,
                    surrogate_function=surrogate.ATan(alpha=p.alpha),
                    detach_reset=p.detach_reset,
                    step_mode="m",
                ),
            ]
        fc = layer.Linear(model.fc.in_features, model.fc.out_features, step_mode="m")
        fc.load_state_dict(model.fc.state_dict())
        self.net = nn.Sequential(*mods, layer.Flatten(step_mode="m"), fc)
        self.timesteps = model.timesteps
        self.to(next(model.parameters()).dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)  # SpikingJelly keeps membrane state in its modules
        x_seq = x if x.dim() == 5 else x.unsqueeze(0).repeat(self.timesteps, 1, 1, 1, 1)
        return self.net(x_seq).mean(0)
