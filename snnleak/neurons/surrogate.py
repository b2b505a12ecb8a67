r"""Surrogate spike functions: ATan (the paper's, SpikingJelly's ``surrogate.ATan()``) and, for
ablations, three other families.

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

The other families (reference backend only), each normalised so that its derivative
integrates to 1 (like ATan's) and written with differentiable ops, with its smooth primitive:

- ``sigmoid``: :math:`\sigma(x) = 1/(1 + e^{-\alpha x})`, :math:`\sigma' = \alpha
  \sigma(1 - \sigma)`;
- ``fast_sigmoid`` (SuperSpike): :math:`\sigma' = (\alpha/2) / (1 + \alpha|x|)^2`,
  :math:`\sigma = 1/2 + \alpha x / (2(1 + \alpha|x|))`;
- ``triangle``: :math:`\sigma' = \alpha \max(0, 1 - \alpha|x|)`, :math:`\sigma` its
  piecewise-quadratic integral from 0 to 1 over :math:`|x| \le 1/\alpha`.
"""

from __future__ import annotations

import math

import torch


def atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """sigma'(x) = (alpha/2) / (1 + (pi*alpha*x/2)^2)."""
    kx = (math.pi / 2 * alpha) * x
    return (alpha / 2) / (1 + kx * kx)


def atan_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """The smooth ATan: atan(pi*alpha*x/2)/pi + 1/2, whose derivative is exactly sigma'."""
    return torch.atan((math.pi / 2 * alpha) * x) / math.pi + 0.5


def sigmoid_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return torch.sigmoid(alpha * x)


def sigmoid_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


def fast_sigmoid_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return 0.5 + alpha * x / (2 * (1 + alpha * x.abs()))


def fast_sigmoid_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    d = 1 + alpha * x.abs()
    return (alpha / 2) / (d * d)


def triangle_primitive(x: torch.Tensor, alpha: float) -> torch.Tensor:
    u = (alpha * x).clamp(-1, 1)
    return 0.5 + u - u * u.abs() / 2


def triangle_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return alpha * (1 - alpha * x.abs()).clamp_min(0)


# family -> (surrogate derivative, smooth primitive)
SURROGATES = {
    "atan": (atan_grad, atan_primitive),
    "sigmoid": (sigmoid_grad, sigmoid_primitive),
    "fast_sigmoid": (fast_sigmoid_grad, fast_sigmoid_primitive),
    "triangle": (triangle_grad, triangle_primitive),
}


class _SurrogateSpike(torch.autograd.Function):
    @staticmethod
    def forward(x: torch.Tensor, alpha: float, strict: bool, family: str) -> torch.Tensor:
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, alpha, _, family = inputs
        ctx.save_for_backward(x)
        ctx.alpha, ctx.family = alpha, family

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad = SURROGATES[ctx.family][0]
        # differentiable ops only: under create_graph this backward is itself differentiable
        return grad_output * grad(x, ctx.alpha), None, None, None


def surrogate_spike(
    x: torch.Tensor,
    alpha: float = 2.0,
    *,
    smooth: bool = False,
    strict: bool = False,
    family: str = "atan",
) -> torch.Tensor:
    """Spike of ``x = H - theta`` with a surrogate gradient (ATan unless ``family`` says).

    Args:
        x: membrane potential minus threshold.
        alpha: surrogate sharpness.
        smooth: return the smooth primitive instead of the Heaviside (exact gradients).
        strict: fire on ``x > 0`` (snnTorch/Norse) instead of ``x >= 0`` (SpikingJelly).
        family: the surrogate family (``SURROGATES``); ``atan`` unless an ablation asks.
    """
    if smooth:
        return SURROGATES[family][1](x, alpha)
    return _SurrogateSpike.apply(x, alpha, strict, family)
