"""The ``fused`` backend: the multi-step neuron as one C++/CUDA kernel per scan (``csrc/``).

Exact to the reference in every configuration the reference supports, with first- and
second-order gradients from dedicated reverse- and forward-time scans whose autograd chain runs
in C++ (``snnleak.fused.ops``). A configuration is encoded into the ops' arguments once and
cached, so a forward pays for no Python repacking.
"""

from __future__ import annotations

import functools

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


@functools.lru_cache(maxsize=256)
def encode(p: NeuronParams) -> tuple[list[float], int]:
    """``NeuronParams`` -> the ops' ``(params, flags)`` arguments (cached per configuration;
    the returned list is shared: do not mutate it)."""
    if p.surrogate != "atan":
        raise UnsupportedConfiguration(
            f"backend 'fused' implements the ATan surrogate only, not {p.surrogate!r}; use "
            "backend='reference' for this configuration"
        )
    params = [p.tau, p.v_threshold, p.v_rest, p.alpha]
    flags = (
        (ops.LIF if p.kind == "lif" else 0)
        | (ops.HARD if p.hard_reset else 0)
        | (ops.DECAY if p.decay_input else 0)
        | (ops.DETACH if p.detach_reset else 0)
        | (ops.SMOOTH if p.smooth else 0)
    )
    return params, flags


def _check_device(x_seq: torch.Tensor) -> None:
    kind = x_seq.device.type
    if kind == "cpu":
        return
    if kind != "cuda":
        raise BackendUnavailable(f"backend 'fused' runs on cpu and cuda, not {x_seq.device}")
    if not build.load().cuda:
        raise BackendUnavailable(
            "backend 'fused' was built without its CUDA kernels, but the input is on a GPU; "
            "set CUDA_HOME to a CUDA toolkit and rebuild (SNNLEAK_FUSED_CUDA=1)"
        )


def multistep_trace(x_seq: torch.Tensor, p: NeuronParams) -> NeuronTrace:
    params, flags = encode(p)
    _check_device(x_seq)
    s, v, h = ops.neuron(x_seq, params, flags)  # the ops keep the [T, ...] shape
    return NeuronTrace(s, h, v)
