r"""The ``snntorch`` backend: the neuron built from ``snntorch.Leaky`` and ``surrogate.atan``.

snnTorch's ``Leaky`` (default ``reset_delay=True``) keeps one state, ``mem``, which is the charged
potential H of the reference, and resets with the spike of the *previous* step, detached:

.. math::
    R_t = \Theta_>(\mathrm{mem}_{t-1} - \theta) \ (\text{detached}), \qquad
    \mathrm{mem}_t = \begin{cases}
        \beta (1 - R_t)\,\mathrm{mem}_{t-1} + I_t   & \texttt{"zero"} \\
        \beta\,\mathrm{mem}_{t-1} + I_t - \theta R_t & \texttt{"subtract"}
    \end{cases}

Mapping onto :class:`~snnleak.neurons.params.NeuronParams` (beta = 1 for IF, 1 - 1/tau for LIF):

======================================  ===========================================
reference                               snnTorch
======================================  ===========================================
hard reset, ``v_reset=0``               ``reset_mechanism="zero"``
soft reset, IF                          ``reset_mechanism="subtract"``
LIF ``decay_input=True``                input ``I_t = X_t / tau``
LIF ``decay_input=False``               input ``I_t = X_t``
======================================  ===========================================

What snnTorch cannot represent, and this backend refuses with :class:`UnsupportedConfiguration`:
a gradient through the reset (``detach_reset=False``; snnTorch always detaches it), a hard reset
to ``v_reset != 0``, a soft reset on a LIF neuron ("subtract" removes theta *after* the leak,
SpikingJelly's soft reset before it), and the smooth mode. Two differences remain where the
mapping is exact otherwise: snnTorch fires on ``>`` where the reference fires on ``>=``, and its
atan returns float32 spikes whatever the input dtype, so in float64 the gradients flowing through
the spike carry float32 rounding (about 1e-7 relative), and with a soft reset the subtraction
R * theta is formed in float32 (a theta such as 0.7 is rounded there).
"""

from __future__ import annotations

import functools

import torch

from snnleak.errors import UnsupportedConfiguration
from snnleak.neurons.params import NeuronParams
from snnleak.neurons.reference import NeuronTrace


def check_supported(p: NeuronParams) -> None:
    problems = []
    if not p.detach_reset:
        problems.append(
            "a gradient through the reset (snnTorch always detaches it; use detach_reset=True)"
        )
    if p.v_reset is not None and p.v_reset != 0.0:
        problems.append(f"a hard reset to v_reset={p.v_reset} (snnTorch resets to zero only)")
    if p.v_reset is None and p.kind == "lif":
        problems.append(
            "a soft reset on a LIF neuron (snnTorch subtracts theta after the leak, "
            "the reference before it)"
        )
    if p.smooth:
        problems.append("the smooth surrogate mode")
    if p.surrogate != "atan":
        problems.append(f"the {p.surrogate} surrogate (ATan only)")
    if problems:
        raise UnsupportedConfiguration(
            "backend 'snntorch' cannot represent "
            + "; ".join(problems)
            + "; use backend='reference' for this configuration"
        )


@functools.lru_cache(maxsize=64)
def _leaky(p: NeuronParams, dtype: torch.dtype):
    import snntorch
    from snntorch import surrogate

    beta = 1.0 if p.kind == "if" else 1.0 - 1.0 / p.tau
    # tensors, so that snnTorch does not round beta and theta to float32
    return snntorch.Leaky(
        beta=torch.tensor(beta, dtype=dtype),
        threshold=torch.tensor(p.v_threshold, dtype=dtype),
        spike_grad=surrogate.atan(alpha=p.alpha),
        reset_mechanism="subtract" if p.v_reset is None else "zero",
        init_hidden=False,
    )


def multistep_trace(x_seq: torch.Tensor, p: NeuronParams) -> NeuronTrace:
    check_supported(p)
    if x_seq.shape[0] == 0:
        return NeuronTrace(x_seq.clone(), x_seq.clone(), None)
    neuron = _leaky(p, x_seq.dtype if x_seq.is_floating_point() else torch.float32).to(x_seq.device)
    scale = 1.0 / p.tau if (p.kind == "lif" and p.decay_input) else 1.0
    mem = torch.zeros_like(x_seq[0])  # passed explicitly: no state carried between calls
    spikes, hs = [], []
    try:
        inputs = x_seq * scale if scale != 1.0 else x_seq
        for x in inputs.unbind(0):
            spk, mem = neuron(x, mem)
            spikes.append(spk.to(x_seq.dtype))  # snnTorch's atan returns float32
            hs.append(mem)
    finally:
        neuron.mem = torch.zeros(0)  # release the graph the module would otherwise hold
    # snnTorch's mem is the potential before the reset; the post-reset one is never formed
    return NeuronTrace(torch.stack(spikes), torch.stack(hs), None)
