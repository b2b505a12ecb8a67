"""The ``fused`` backend: the multi-step neuron as one C++/CUDA kernel per scan (``csrc/``).

Exact to the reference in every configuration the reference supports, with first- and
second-order gradients from dedicated reverse- and forward-time scans (``snnleak.fused.ops``).
"""

from __future__ import annotations

import math

import torch

from snnleak.errors import BackendUnavailable, UnsupportedConfiguration
from snnleak.fused import build, ops
from snnleak.neurons.params import NeuronParams
from snnleak.neurons.reference import NeuronTrace


def ensure_available() -> None:
    """Build (first use) and load the library; raise BackendUnavailable if it cannot be."""
    build.load()


def availability() -> tuple[bool, str]:
    """Built, or buildable here (compiler, ninja and sources present), without building."""
    st = build.status()
    return (True, "") if st["built"] or st.get("buildable") else (False, str(st["reason"]))


def multistep_trace(x_seq: torch.Tensor, p: NeuronParams) -> NeuronTrace:
    if p.surrogate != "atan":
        raise UnsupportedConfiguration(
            f"backend 'fused' implements the ATan surrogate only, not {p.surrogate!r}; use "
            "backend='reference' for this configuration"
        )
    lib = build.load()
    if x_seq.device.type == "cuda" and not lib.cuda:
        raise BackendUnavailable(
            "backend 'fused' was built without its CUDA kernels, but the input is on a GPU; "
            "set CUDA_HOME to a CUDA toolkit and rebuild (SNNLEAK_FUSED_CUDA=1)"
        )
    if x_seq.device.type not in ("cpu", "cuda"):
        raise BackendUnavailable(f"backend 'fused' runs on cpu and cuda, not {x_seq.device}")
    steps = x_seq.shape[0]
    flat = x_seq.reshape(steps, math.prod(x_seq.shape[1:]))
    s, v, h = ops.neuron(flat, p)
    return NeuronTrace(s.view(x_seq.shape), h.view(x_seq.shape), v.view(x_seq.shape))
