r"""Gradient matching, the core computation of DLG-style attacks.

The server observes the client's per-parameter gradients
:math:`g_l = \partial L(x, y)/\partial W_l`.
For a dummy input :math:`x'` and dummy label logits :math:`\hat y'`, DLG minimises

.. math::
    D(x', \hat y') = \sum_l \lVert \partial L(x', \mathrm{softmax}(\hat y'))/\partial W_l - g_l
    \rVert_2^2

with the soft-label cross entropy :math:`L(x', p) = -\sum_k p_k \log \mathrm{softmax}(f(x'))_k`.
Its gradient with respect to :math:`x'` differentiates the parameter gradient: a second-order
quantity that every neuron backend must get exactly right.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def parameter_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """What the client shares: d CE(model(x), y) / dW for every parameter (detached)."""
    loss = F.cross_entropy(model(x), y)
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


def soft_cross_entropy(logits: torch.Tensor, label_logits: torch.Tensor) -> torch.Tensor:
    return torch.sum(-F.softmax(label_logits, -1) * F.log_softmax(logits, -1), -1).mean()


def matching_loss(
    model: nn.Module,
    true_grads: list[torch.Tensor],
    x_dummy: torch.Tensor,
    label_logits: torch.Tensor,
) -> torch.Tensor:
    """D(x', y'): differentiable with respect to ``x_dummy`` and ``label_logits``."""
    params = list(model.parameters())
    dummy_loss = soft_cross_entropy(model(x_dummy), label_logits)
    dummy_grads = torch.autograd.grad(dummy_loss, params, create_graph=True)
    return sum(((d - t) ** 2).sum() for d, t in zip(dummy_grads, true_grads, strict=True))


def dlg_step(
    model: nn.Module,
    true_grads: list[torch.Tensor],
    x_dummy: torch.Tensor,
    label_logits: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient-matching step: ``(D, dD/dx')`` (forward, parameter gradients with
    create_graph, matching loss, gradient to the dummy input)."""
    loss = matching_loss(model, true_grads, x_dummy, label_logits)
    (grad,) = torch.autograd.grad(loss, x_dummy)
    return loss.detach(), grad
