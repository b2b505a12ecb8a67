"""Typed wrappers of the fused neuron ops, with fake (meta) kernels and chained autograd.

The three ops of ``csrc/`` form a chain in which each is differentiable to the next order::

    neuron_fwd(x) -> (S, V, H)                   backward: neuron_bwd
    neuron_bwd(gS, gV, gH, H) -> gH_total        backward: neuron_bwd2
    neuron_bwd2(c, gS, gV, H, gH_total, mask)    backward: a clear error (third order)

``H`` is a differentiable output of the forward: the second-order cotangent on the saved H
flows back into the forward's backward as a cotangent on H (see the kernel-math note). The
input gradient is ``gX = c * gH_total`` with ``c = dH/dX`` (1, or 1/tau for LIF with
decay_input), applied here with a differentiable multiply.
"""

from __future__ import annotations

import torch

from snnleak.errors import UnsupportedConfiguration
from snnleak.neurons.params import NeuronParams

LIF, HARD, DECAY, DETACH, SMOOTH = 1, 2, 4, 8, 16
_registered = False


def encode(p: NeuronParams) -> tuple[list[float], int]:
    """``NeuronParams`` -> the ops' ``(params, flags)`` arguments."""
    params = [p.tau, p.v_threshold, p.v_rest, p.alpha]
    flags = (
        (LIF if p.kind == "lif" else 0)
        | (HARD if p.hard_reset else 0)
        | (DECAY if p.decay_input else 0)
        | (DETACH if p.detach_reset else 0)
        | (SMOOTH if p.smooth else 0)
    )
    return params, flags


def input_scale(flags: int, params: list[float]) -> float:
    return 1.0 / params[0] if (flags & LIF and flags & DECAY) else 1.0


def neuron(x: torch.Tensor, p: NeuronParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fused multi-step neuron on a ``[T, N]`` tensor: ``(spikes, v, h)``, each ``[T, N]``."""
    params, flags = encode(p)
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


# --- neuron_fwd ---------------------------------------------------------------------------


# Cotangents of unused outputs stay None (not zero tensors): the kernels skip them.


def _fwd_setup(ctx, inputs, output) -> None:
    _, params, flags = inputs
    ctx.save_for_backward(output[2])  # H
    ctx.params, ctx.flags = params, flags
    ctx.set_materialize_grads(False)


def _fwd_backward(ctx, grad_s, grad_v, grad_h):
    (h,) = ctx.saved_tensors
    if grad_s is None and grad_v is None and grad_h is None:
        return None, None, None
    gh = torch.ops.snnleak.neuron_bwd(grad_s, grad_v, grad_h, h, ctx.params, ctx.flags)
    scale = input_scale(ctx.flags, ctx.params)
    return (gh * scale if scale != 1.0 else gh), None, None


# --- neuron_bwd ---------------------------------------------------------------------------


def _bwd_setup(ctx, inputs, output) -> None:
    grad_s, grad_v, _, h, params, flags = inputs
    ctx.save_for_backward(grad_s, grad_v, h, output)
    ctx.params, ctx.flags = params, flags
    ctx.set_materialize_grads(False)


def _bwd_backward(ctx, cot_gh):
    if cot_gh is None:
        return None, None, None, None, None, None
    grad_s, grad_v, h, gh = ctx.saved_tensors
    need_s, need_v, need_hext, need_h = ctx.needs_input_grad[:4]
    mask = [need_hext, need_s, need_v, need_h]  # outputs: a, cot_gs, cot_gv, cot_h
    a, cot_gs, cot_gv, cot_h = torch.ops.snnleak.neuron_bwd2(
        cot_gh, grad_s, grad_v, h, gh, ctx.params, ctx.flags, mask
    )
    pick = [t if m else None for t, m in zip((a, cot_gs, cot_gv, cot_h), mask, strict=True)]
    return pick[1], pick[2], pick[0], pick[3], None, None


# --- neuron_bwd2 --------------------------------------------------------------------------


def _bwd2_backward(ctx, *grads):
    raise UnsupportedConfiguration(
        "backend 'fused' has exact gradients up to second order, and a third-order gradient "
        "was requested; use backend='reference' for higher orders"
    )


def register() -> None:
    """Attach fake kernels and autograd to the ops (once, after the library is loaded)."""
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

    torch.library.register_autograd(lib + "neuron_fwd", _fwd_backward, setup_context=_fwd_setup)
    torch.library.register_autograd(lib + "neuron_bwd", _bwd_backward, setup_context=_bwd_setup)
    torch.library.register_autograd(lib + "neuron_bwd2", _bwd2_backward)
    _registered = True
