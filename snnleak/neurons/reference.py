r"""Reference multi-step IF/LIF neuron: the single source of truth for every backend.

Semantics are SpikingJelly's ``activation_based`` ``IFNode`` / ``LIFNode`` (``step_mode="m"``,
``surrogate.ATan()``). Per neuron, for t = 0 .. T-1, with V_{-1} = V_init (Vr for a hard reset,
0 for a soft reset) and Vr taken as 0 inside the LIF charge for a soft reset:

.. math::
    H_t = \begin{cases}
        V_{t-1} + X_t                                   & \text{IF} \\
        V_{t-1} + (X_t - (V_{t-1} - V_r)) / \tau        & \text{LIF, decay\_input} \\
        V_{t-1} - (V_{t-1} - V_r) / \tau + X_t          & \text{LIF, no decay\_input}
    \end{cases}

    S_t = \Theta(H_t - \theta) \quad (\text{ATan surrogate})

    V_t = \begin{cases}
        S_t V_r + (1 - S_t) H_t      & \text{hard reset} \\
        H_t - \theta S_t             & \text{soft reset}
    \end{cases}

With ``detach_reset`` the S inside the reset is a constant. The sequence is built by looping the
pure :func:`step`, so the single step and the sequence cannot drift apart. Autograd through this
code gives exact first- and second-order gradients (the surrogate's backward is differentiable).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from snnleak.neurons.params import NeuronParams
from snnleak.neurons.surrogate import surrogate_spike


class NeuronTrace(NamedTuple):
    """Output sequences of a multi-step neuron, each ``[T, ...]``.

    ``h`` is the charged potential before reset (the quantity compared with the threshold);
    ``v`` is the membrane after reset (SpikingJelly's ``v_seq``). A backend whose library does
    not expose one of them leaves it ``None`` rather than recomputing it outside the library.
    """

    spikes: torch.Tensor
    h: torch.Tensor | None
    v: torch.Tensor | None


def charge(x: torch.Tensor, v: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """H_t from the input X_t and the previous membrane V_{t-1}."""
    if p.kind == "if":
        return v + x
    if p.decay_input:
        return v + (x - (v - p.v_rest)) / p.tau
    return v - (v - p.v_rest) / p.tau + x


def reset(h: torch.Tensor, s: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """V_t from H_t and S_t."""
    s_r = s.detach() if p.detach_reset else s
    if p.v_reset is None:
        return h - p.v_threshold * s_r
    return s_r * p.v_reset + (1.0 - s_r) * h


def step(
    x: torch.Tensor, v: torch.Tensor, p: NeuronParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One time step: ``(x_t, v_{t-1}) -> (s_t, h_t, v_t)``."""
    h = charge(x, v, p)
    s = surrogate_spike(h - p.v_threshold, p.alpha, smooth=p.smooth, family=p.surrogate)
    return s, h, reset(h, s, p)


def initial_state(x_seq: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    return x_seq.new_full(x_seq.shape[1:], p.v_rest)


def multistep_trace(x_seq: torch.Tensor, p: NeuronParams) -> NeuronTrace:
    """Run :func:`step` over the leading time axis of ``x_seq`` (``[T, ...]``)."""
    if x_seq.dim() == 0:
        raise ValueError("x_seq must have a leading time axis [T, ...], got a scalar")
    if x_seq.shape[0] == 0:
        return NeuronTrace(x_seq.clone(), x_seq.clone(), x_seq.clone())
    v = initial_state(x_seq, p)
    spikes, hs, vs = [], [], []
    for x in x_seq.unbind(0):
        s, h, v = step(x, v, p)
        spikes.append(s)
        hs.append(h)
        vs.append(v)
    return NeuronTrace(torch.stack(spikes), torch.stack(hs), torch.stack(vs))
