r"""The ATan surrogate spike function.

With :math:`x = H - \theta` and :math:`\kappa = \pi\alpha/2`:

.. math::
    S(x) = \Theta(x) = [x \ge 0]                                   \quad\text{(forward)}

    \sigma'(x) = \frac{\alpha/2}{1 + (\kappa x)^2}                  \quad\text{(used as } dS/dx)

    \sigma''(x) = -\frac{\alpha\kappa^2 x}{(1 + (\kappa x)^2)^2}

    \sigma(x) = \arctan(\kappa x)/\pi + 1/2                          \quad\text{(smooth mode)}

The backward is written with differentiable torch ops on the saved input, so autograd can
differentiate it again: the second-order gradient that gradient matching needs is exact
(it picks up :math:`\sigma''`). This matches SpikingJelly's ``surrogate.ATan()`` (fires on
``>=``). ``strict=True`` fires on ``>`` instead, the convention of snnTorch and Norse, for the
backends built on them.
"""

from __future__ import annotations

import math

import torch


def atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """sigma'(x) = (alpha/2) / (1 + (pi*alpha*x/2)^2)."""
    kx = (math.pi / 2 * alpha) * x
    return (alpha / 2) / (1 + kx * kx)


def atan_grad2(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """sigma''(x) = -alpha * kappa^2 * x / (1 + (kappa x)^2)^2."""
    kappa = math.pi / 2 * alpha
    kx = kappa * x
    d = 1 + kx * kx
    return -alpha * kappa * kappa * x / (d * d)


def atan_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """The smooth ATan: atan(pi*alpha*x/2)/pi + 1/2, whose derivative is exactly sigma'."""
    return torch.atan((math.pi / 2 * alpha) * x) / math.pi + 0.5


class _ATanSpike(torch.autograd.Function):
    @staticmethod
    def forward(x: torch.Tensor, alpha: float, strict: bool) -> torch.Tensor:
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, alpha, _ = inputs
        ctx.save_for_backward(x)
        ctx.alpha = alpha

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        # differentiable ops only: under create_graph this backward is itself differentiable
        return grad_output * atan_grad(x, ctx.alpha), None, None


def atan_spike(
    x: torch.Tensor, alpha: float = 2.0, *, smooth: bool = False, strict: bool = False
) -> torch.Tensor:
    """Spike of ``x = H - theta`` with the ATan surrogate gradient.

    Args:
        x: membrane potential minus threshold.
        alpha: surrogate sharpness.
        smooth: return the smooth primitive instead of the Heaviside (exact gradients).
        strict: fire on ``x > 0`` (snnTorch/Norse) instead of ``x >= 0`` (SpikingJelly).
    """
    if smooth:
        return atan_primitive(x, alpha)
    return _ATanSpike.apply(x, alpha, strict)
