"""LeNet5SNN written as an snnTorch user would: ``snn.Leaky`` stepped over time in a Python loop.

The idiomatic anchor of ``bench kernels`` (snnTorch's tutorials loop ``Leaky`` over
``num_steps``; the project's ``snntorch`` backend instead runs the whole time axis as one op).
Weights are copied from a :class:`~snnleak.models.LeNet5SNN`; with direct encoding it computes
the same logits as that model on the ``snntorch`` backend (tested), so only the way the time
axis is run differs.
"""

from __future__ import annotations

import torch
from torch import nn

from snnleak.models import LeNet5SNN


class SnnTorchLoopLeNet(nn.Module):
    def __init__(self, model: LeNet5SNN) -> None:
        super().__init__()
        import snntorch
        from snntorch import surrogate

        from snnleak.neurons.snntorch_backend import check_supported

        p = model.neuron_params
        check_supported(p)
        if p.kind != "if":
            raise ValueError("SnnTorchLoopLeNet mirrors the IF LeNet5SNN only")
        self.convs = nn.ModuleList(
            nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding)
            for c in model.convs
        )
        self.convs.load_state_dict(model.convs.state_dict())
        self.fc = nn.Linear(model.fc.in_features, model.fc.out_features)
        self.fc.load_state_dict(model.fc.state_dict())
        self.lifs = nn.ModuleList(
            snntorch.Leaky(
                beta=1.0,
                threshold=p.v_threshold,
                spike_grad=surrogate.atan(alpha=p.alpha),
                reset_mechanism="subtract" if p.v_reset is None else "zero",
                init_hidden=False,
            )
            for _ in self.convs
        )
        self.timesteps = model.timesteps
        self.to(next(model.parameters()).dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``[B, C, H, W]``, presented at every step (direct encoding)."""
        mems = [lif.init_leaky() for lif in self.lifs]
        total = 0
        for _ in range(self.timesteps):
            h = x
            for i, (conv, lif) in enumerate(zip(self.convs, self.lifs, strict=True)):
                h, mems[i] = lif(conv(h), mems[i])
            total = total + self.fc(h.flatten(1))
        return total / self.timesteps
