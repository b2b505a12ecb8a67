r"""What every optimisation attack starts from, computed from the Observation alone.

- :func:`infer_label`: iDLG's rule. For cross entropy, :math:`\partial L/\partial W_k = (p_k -
  y_k) h`, whose row sum is negative only for the true class when the features h are
  non-negative (sigmoid outputs, spike counts).
- :func:`initial_dummy`: images near-uniform grey U(0.45, 0.55) ``[B, C, H, W]``; event tensors
  small non-negative spikes :math:`|N(0, 0.1)|` ``[T, B, C, H, W]`` (the paper's Eq. 1).
"""

from __future__ import annotations

import torch

from snnleak import layout
from snnleak.threat import Observation


def infer_label(obs: Observation) -> torch.Tensor:
    """iDLG: the class whose row of the classifier's weight gradient sums lowest; for a batch
    of B > 1, the label counts from the bias gradient (:mod:`snnleak.attacks.labels`)."""
    if obs.batch_size > 1:
        from snnleak.attacks.labels import recover_labels

        return recover_labels(obs)
    weight_grad = obs.gradients[-2]  # [K, D]: the last linear layer's weight
    return weight_grad.sum(dim=1).argmin().reshape(1).expand(obs.batch_size).clone()


def initial_dummy(obs: Observation, rng: torch.Generator) -> torch.Tensor:
    """The starting dummy, drawn on the CPU from the trial's generator (the same draw on
    every device) and placed on the observation's device."""
    dtype = obs.gradients[0].dtype
    shape = layout.batch_shape(obs.input_shape, obs.batch_size, obs.modality)
    if obs.modality == "events":  # small non-negative spikes |N(0, 0.1)|
        x = torch.randn(shape, generator=rng, dtype=dtype, device="cpu").mul_(0.1).abs_()
    else:
        x = torch.rand(shape, generator=rng, dtype=dtype, device="cpu").mul_(0.1).add_(0.45)
    return x.to(obs.device)
