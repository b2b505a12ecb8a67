r"""The ``norse`` backend: Norse's functional IF / LIF steps with an ATan surrogate plugged in.

Norse's steps (``norse.torch.functional``), with dt = 1:

.. math::
    \text{IAF:}\quad v' = v + x,\quad z = \Theta_>(v' - v_{th}),\quad
        v \leftarrow (1 - z) v' + z v_{reset}

    \text{LIF:}\quad i' = i + x,\quad
        v' = v + \tau_{mem}^{-1}(v_{leak} - v + i'),\quad i \leftarrow (1 - \tau_{syn}^{-1}) i',
        \quad z = \Theta_>(v' - v_{th}),\quad v \leftarrow (1 - z) v' + z v_{reset}

Mapping onto :class:`~snnleak.neurons.params.NeuronParams`:

=============================  ================================================================
reference                      Norse
=============================  ================================================================
IF, hard reset                 ``iaf_feed_forward_step``, ``v_th=theta``, ``v_reset=Vr``
LIF, hard reset                ``lif_feed_forward_step``, ``tau_mem_inv=1/tau``,
                               ``tau_syn_inv=1`` (the current does not outlive its step),
                               ``v_leak=v_reset=Vr``
LIF ``decay_input=True``       input ``X_t``
LIF ``decay_input=False``      input ``tau * X_t`` (Norse always divides the current by tau)
initial state                  ``v = Vr``, ``i = 0``
=============================  ================================================================

Norse's ``threshold`` has no ATan; it dispatches on a method name. This backend registers the
method ``"atan"`` by wrapping that function in the two step modules (every other method passes
through unchanged). It fires on ``>``, Norse's own convention, where the reference fires on
``>=``. Norse resets with a differentiable spike and has no soft reset, so ``v_reset=None``,
``detach_reset=True`` and the smooth mode raise :class:`UnsupportedConfiguration`.
"""

from __future__ import annotations

import torch

from snnleak.errors import UnsupportedConfiguration
from snnleak.neurons.params import NeuronParams
from snnleak.neurons.reference import NeuronTrace
from snnleak.neurons.surrogate import surrogate_spike

_METHOD = "atan"


def _install_atan() -> None:
    """Register ``method="atan"`` with Norse's threshold dispatch (idempotent)."""
    from norse.torch.functional import iaf, lif

    for module in (iaf, lif):
        original = module.threshold
        if getattr(original, "_snnleak_atan", False):
            continue

        def threshold(x, method, alpha, _original=original):
            if method == _METHOD:
                return surrogate_spike(x, float(alpha), strict=True)
            return _original(x, method, alpha)

        threshold._snnleak_atan = True
        module.threshold = threshold


def check_supported(p: NeuronParams) -> None:
    problems = []
    if p.v_reset is None:
        problems.append("a soft reset (Norse resets to v_reset only)")
    if p.detach_reset:
        problems.append("a detached reset (Norse's reset always carries the spike's gradient)")
    if p.smooth:
        problems.append("the smooth surrogate mode")
    if p.surrogate != "atan":
        problems.append(f"the {p.surrogate} surrogate (ATan only)")
    if problems:
        raise UnsupportedConfiguration(
            "backend 'norse' cannot represent "
            + "; ".join(problems)
            + "; use backend='reference' for this configuration"
        )


def multistep_trace(x_seq: torch.Tensor, p: NeuronParams) -> NeuronTrace:
    check_supported(p)
    _install_atan()
    from norse.torch.functional.iaf import (
        IAFFeedForwardState,
        IAFParameters,
        iaf_feed_forward_step,
    )
    from norse.torch.functional.lif import (
        LIFFeedForwardState,
        LIFParameters,
        lif_feed_forward_step,
    )

    if x_seq.shape[0] == 0:
        return NeuronTrace(x_seq.clone(), None, x_seq.clone())
    vr = p.v_rest
    v0 = x_seq.new_full(x_seq.shape[1:], vr)
    spikes, vs = [], []
    if p.kind == "if":
        params = IAFParameters(v_th=p.v_threshold, v_reset=vr, method=_METHOD, alpha=p.alpha)
        state = IAFFeedForwardState(v=v0)
        for x in x_seq.unbind(0):
            z, state = iaf_feed_forward_step(x, state, params, dt=1.0)
            spikes.append(z)
            vs.append(state.v)
    else:
        params = LIFParameters(
            tau_syn_inv=1.0,
            tau_mem_inv=1.0 / p.tau,
            v_leak=vr,
            v_th=p.v_threshold,
            v_reset=vr,
            method=_METHOD,
            alpha=p.alpha,
        )
        state = LIFFeedForwardState(v=v0, i=torch.zeros_like(v0))
        inputs = x_seq if p.decay_input else x_seq * p.tau
        for x in inputs.unbind(0):
            z, state = lif_feed_forward_step(x, state, params, dt=1.0)
            spikes.append(z)
            vs.append(state.v)
    # Norse's steps do not expose the potential before the reset: h is not available
    return NeuronTrace(torch.stack(spikes), None, torch.stack(vs))
