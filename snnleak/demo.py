"""A small, real demonstration of the neuron: spikes, membrane and surrogate gradients."""

from __future__ import annotations

import torch

from snnleak.neurons import NeuronParams, multistep_trace


def neuron_demo(params: NeuronParams, backend: str = "reference", steps: int = 8) -> dict:
    """Drive one neuron with a ramp of input currents; return its trace and dS_total/dX_t.

    The gradient row shows the surrogate at work: each input step receives gradient from every
    later spike through the membrane, scaled by sigma'(H - theta) and the reset.
    """
    x = torch.linspace(0.2, 0.9, steps, dtype=torch.float64).reshape(steps, 1)
    x.requires_grad_(True)
    trace = multistep_trace(x, params, backend)
    (grad,) = torch.autograd.grad(trace.spikes.sum(), x)
    rows = {"input x_t": x.detach(), "spike s_t": trace.spikes.detach()}
    if trace.h is not None:
        rows["charge h_t"] = trace.h.detach()
    if trace.v is not None:
        rows["membrane v_t"] = trace.v.detach()
    rows["d(sum s)/d x_t"] = grad
    return {name: [round(float(v), 4) for v in t.flatten()] for name, t in rows.items()}
