r"""snnTorch's ``Leaky`` neuron over a whole ``[T, ...]`` sequence on the fused op.

snnTorch's ``Leaky`` (``reset_delay=True``) keeps one state, ``mem``, and resets with the
spike of the previous step, detached; it fires on ``>``:

.. math::
    R_t = \Theta_>(\mathrm{mem}_{t-1} - \theta), \qquad
    \mathrm{mem}_t = \begin{cases}
        (\beta\,\mathrm{mem}_{t-1} + X_t) - \theta R_t  & \texttt{"subtract"} \\
        \beta\,((1 - R_t)\,\mathrm{mem}_{t-1}) + X_t    & \texttt{"zero"}
    \end{cases}, \qquad
    S_t = \Theta_>(\mathrm{mem}_t - \theta)

with the ATan surrogate :math:`\tfrac{\alpha}{2} / (1 + (\tfrac{\pi}{2}\alpha u)^2)` for the
spike's gradient. The fused op's snnTorch mode (``csrc/neuron.h``, ``kSnnTorch``) computes
exactly this, in snnTorch's operation order, with its first and second derivatives, from rest
(``mem_0 = 0``). :func:`leaky_params` reads a ``Leaky`` module's settings, or says why the
fused op does not compute what that module computes.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LeakyParams:
    beta: float
    threshold: float
    alpha: float  # the ATan surrogate's
    reset: str = "subtract"  # or "zero"
    smooth: bool = False  # the ATan primitive as the spike (the smooth proxy's forward)

    def __str__(self) -> str:
        smooth = ", smooth" if self.smooth else ""
        return (
            f"snnTorch Leaky(beta={self.beta:g}, threshold={self.threshold:g}, "
            f"reset={self.reset}, atan alpha={self.alpha:g}{smooth})"
        )


def _encode(p: LeakyParams) -> tuple[list[float], int]:
    from snnleak.fused import ops

    flags = ops.SNNTORCH | ops.DETACH | (ops.HARD if p.reset == "zero" else 0)
    return [p.beta, p.threshold, 0.0, p.alpha], flags | (ops.SMOOTH if p.smooth else 0)


class FusedLeaky(nn.Module):
    """A ``Leaky`` neuron run over ``x_seq`` of shape ``[T, ...]`` in one fused call, from
    rest: returns the spikes and the membranes (snnTorch's ``spk`` and ``mem`` of every step),
    each of ``x_seq``'s shape."""

    def __init__(self, params: LeakyParams) -> None:
        super().__init__()
        self.params = params

    def forward(self, x_seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from snnleak.fused import build, ops
        from snnleak.neurons.fused_backend import _check_device

        build.load()
        _check_device(x_seq)
        params, flags = _encode(self.params)
        s, _, h = ops.neuron(x_seq, params, flags)
        return s, h

    def extra_repr(self) -> str:
        return str(self.params)


def _atan_alpha(spike_grad: object) -> float | None:
    """``alpha`` of snnTorch's ``surrogate.atan(alpha)`` (its default spike), else None."""
    if getattr(spike_grad, "__qualname__", "") != "atan.<locals>.inner":
        return None
    if getattr(spike_grad, "__module__", "") != "snntorch.surrogate":
        return None
    return float(inspect.getclosurevars(spike_grad).nonlocals["alpha"])


def leaky_params(module: nn.Module) -> LeakyParams | str:
    """The fused neuron's settings for snnTorch's ``Leaky`` ``module``, or why there are
    none (one line)."""
    import snntorch

    if type(module) is not snntorch.Leaky:
        return f"no fused kernel for snnTorch's {type(module).__name__} (Leaky only)"
    alpha = _atan_alpha(module.spike_grad)
    problems = []
    if alpha is None:
        problems.append("its spike_grad is not snntorch.surrogate.atan")
    if module.reset_mechanism not in ("subtract", "zero"):
        problems.append(f"reset_mechanism={module.reset_mechanism!r}")
    if not module.reset_delay:
        problems.append("reset_delay=False")
    for flag in ("inhibition", "state_quant", "surrogate_disable"):
        if getattr(module, flag):
            problems.append(f"{flag} is set")
    for name in ("beta", "threshold", "graded_spikes_factor"):
        value = getattr(module, name)
        if isinstance(value, nn.Parameter):
            problems.append(f"a learnable {name}")
        elif value.numel() != 1:
            problems.append(f"a {name} per neuron")
    if not problems and float(module.graded_spikes_factor) != 1.0:
        problems.append("graded spikes")
    if problems:
        return "; ".join(problems)
    return LeakyParams(
        beta=float(module.beta.clamp(0, 1)),
        threshold=float(module.threshold),
        alpha=alpha,
        reset=module.reset_mechanism,
    )
