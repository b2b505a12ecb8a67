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


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    return torch.sum(-target_probs * F.log_softmax(logits, -1), -1).mean()


def dummy_gradients(
    model: nn.Module, x_dummy: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """dL(x', target)/dW with create_graph; ``target`` is class indices (hard labels) or
    probabilities ``[B, K]`` (soft labels)."""
    logits = model(x_dummy)
    if target.dtype in (torch.int64, torch.int32):
        loss = F.cross_entropy(logits, target)
    else:
        loss = soft_cross_entropy(logits, target)
    return torch.autograd.grad(loss, list(model.parameters()), create_graph=True)


def gradient_distance(
    dummy: tuple[torch.Tensor, ...],
    true: list[torch.Tensor],
    weights: list[float] | None = None,
) -> torch.Tensor:
    """sum_l w_l ||dummy_l - true_l||^2 (w_l = 1 unless ``weights`` are given)."""
    if weights is None:
        return sum(((d - t) ** 2).sum() for d, t in zip(dummy, true, strict=True))
    return sum(w * ((d - t) ** 2).sum() for d, t, w in zip(dummy, true, weights, strict=True))


def layer_weights(true: list[torch.Tensor], norm: str) -> list[float] | None:
    r"""The weights :math:`w_l` of :func:`gradient_distance` for a loss normalisation:
    ``"none"`` (None: DLG's plain sum), ``"global"`` (:math:`1/\sum_l \lVert g_l\rVert^2`) or
    ``"layer"`` (:math:`1/\lVert g_l\rVert^2`, a layer with a zero gradient keeps weight 1).
    They use only the observed gradient, which the attacker has."""
    if norm == "none":
        return None
    squares = [float((t.double() ** 2).sum()) for t in true]
    if norm == "global":
        total = sum(squares)
        return [1.0 / total if total > 0 else 1.0] * len(true)
    if norm == "layer":
        return [1.0 / s if s > 0 else 1.0 for s in squares]
    raise ValueError(f"unknown loss normalisation {norm!r}")


def matching_loss(
    model: nn.Module,
    x_dummy: torch.Tensor,
    target: torch.Tensor,
    true_grads,
    weights: list[float] | None = None,
) -> torch.Tensor:
    """D(x', y'): the distance between the update ``(x_dummy, target)`` would give and the
    observed one (``target``: class indices, or probabilities such as a soft label's
    softmax); differentiable in ``x_dummy`` and ``target``."""
    return gradient_distance(dummy_gradients(model, x_dummy, target), list(true_grads), weights)


def dlg_step(
    model: nn.Module,
    true_grads: list[torch.Tensor],
    x_dummy: torch.Tensor,
    label_logits: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient-matching step: ``(D, dD/dx')`` (forward, parameter gradients with
    create_graph, matching loss, gradient to the dummy input)."""
    loss = matching_loss(model, x_dummy, F.softmax(label_logits, -1), true_grads)
    (grad,) = torch.autograd.grad(loss, x_dummy)
    return loss.detach(), grad


def relative_mismatch(
    model: nn.Module,
    true_grads,
    x_dummy: torch.Tensor,
    target: torch.Tensor | None,
) -> float | None:
    r"""How well a reconstruction explains the observed update, on one scale for every attack
    and setting: :math:`\sum_l \lVert g'_l - g_l \rVert^2 / \sum_l \lVert g_l \rVert^2` at
    ``x_dummy`` and its label ``target``. Observable by the attacker (it needs no ground
    truth); ``None`` without a target."""
    if target is None:
        return None
    true = list(true_grads)
    total = float(sum((t.double() ** 2).sum() for t in true))
    value = float(gradient_distance(dummy_gradients(model, x_dummy, target), true).detach())
    return value / total if total > 0 else None
