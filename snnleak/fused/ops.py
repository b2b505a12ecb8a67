"""Typed wrappers of the fused neuron ops, with their fake (meta) kernels.

The three ops of ``csrc/`` form a chain in which each is differentiable to the next order::

    neuron_fwd(x) -> (S, V, H)                   backward: neuron_bwd
    neuron_bwd(gS, gV, gH, H) -> gH_total        backward: neuron_bwd2
    neuron_bwd2(c, gS, gV, H, gH_total, mask)    backward: a clear error (third order)

The chain's autograd lives in C++ (``csrc/neuron_autograd.cpp``, the Autograd dispatch key),
so no backward of an attack step passes through Python. This module knows nothing of the
neuron's Python types: it takes the ops' own ``(params, flags)`` arguments, which
:mod:`snnleak.neurons.fused_backend` encodes once per configuration.
"""

from __future__ import annotations

import torch

# bit flags of the ops' ``flags`` argument (csrc/neuron.h: enum Flag)
LIF, HARD, DECAY, DETACH, SMOOTH, SNNTORCH = 1, 2, 4, 8, 16, 32
_registered = False


def neuron(
    x: torch.Tensor, params: list[float], flags: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused multi-step neuron on a ``[T, ...]`` tensor (seen as ``[T, N]``): ``(spikes, v, h)``,
    each of the input's shape."""
    return torch.ops.snnleak.neuron_fwd(x.contiguous(), params, flags)


def kernel_calls() -> dict[str, int]:
    """Sentinel: how many times each kernel has run in this process."""
    counts = torch.ops.snnleak.kernel_calls()
    names = ("fwd", "bwd", "bwd2")
    return {
        f"{dev}_{op}": counts[3 * d + i]
        for d, dev in enumerate(("cpu", "cuda"))
        for i, op in enumerate(names)
    }


def register() -> None:
    """Attach fake kernels to the ops (once, after the library is loaded), for tracing."""
    global _registered
    if _registered:
        return
    lib = "snnleak::"

    @torch.library.register_fake(lib + "neuron_fwd")
    def _(x, params, flags):
        return torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)

    @torch.library.register_fake(lib + "neuron_bwd")
    def _(grad_s, grad_v, grad_h, h, params, flags):
        return torch.empty_like(h)

    @torch.library.register_fake(lib + "neuron_bwd2")
    def _(cot_gh, grad_s, grad_v, h, gh, params, flags, output_mask):
        return tuple(torch.empty_like(h) if m else h.new_empty(0) for m in output_mask)

    _registered = True
