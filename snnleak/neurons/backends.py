"""Neuron backends: a registry ``{name: Backend}`` and the ``multistep`` entry points.

A backend is chosen explicitly. One that cannot be loaded here raises
:class:`~snnleak.errors.BackendUnavailable` naming what is missing, chained to the error that made
it unavailable; nothing falls back silently to another backend.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from snnleak.errors import BackendUnavailable, ConfigError
from snnleak.neurons.params import NeuronParams
from snnleak.neurons.reference import NeuronTrace

TraceFn = Callable[[torch.Tensor, NeuronParams], NeuronTrace]


_LOADED: dict[str, TraceFn] = {}


@dataclass(frozen=True)
class Backend:
    name: str
    module: str  # the module holding ``multistep_trace`` (and ``check_supported`` if any)
    requires: tuple[str, ...]  # third-party packages it imports
    description: str

    def load(self) -> TraceFn:
        """The backend's ``multistep_trace``; loaded once per process (a failure is not cached,
        so a fixed environment is picked up on the next call)."""
        fn = _LOADED.get(self.name)
        if fn is None:
            self.load_packages()
            module = importlib.import_module(self.module)
            if hasattr(module, "ensure_available"):
                module.ensure_available()
            fn = _LOADED[self.name] = module.multistep_trace
        return fn

    def load_packages(self) -> None:
        for package in self.requires:
            try:
                with warnings.catch_warnings():
                    # norse and snntorch still call torch.jit.script at import time
                    warnings.filterwarnings(
                        "ignore", "`torch.jit.script` is deprecated", FutureWarning
                    )
                    importlib.import_module(package)
            except Exception as exc:  # an unusable install can raise more than ImportError
                raise BackendUnavailable(
                    f"backend {self.name!r} needs the package {package!r}, which failed to "
                    f"import ({type(exc).__name__}: {exc}); install it with "
                    f"'pip install {package}' or choose another backend"
                ) from exc

    def availability(self) -> tuple[bool, str]:
        """``(True, "")`` if the backend can run here, else ``(False, reason)``. Builds nothing:
        a backend module may define ``availability()`` to answer without its expensive load."""
        try:
            self.load_packages()
        except BackendUnavailable as exc:
            return False, str(exc)
        module = importlib.import_module(self.module)
        if hasattr(module, "availability"):
            return module.availability()
        return True, ""


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "reference",
            "snnleak.neurons.reference",
            (),
            "pure PyTorch, SpikingJelly semantics; the source of truth",
        ),
        Backend(
            "snntorch",
            "snnleak.neurons.snntorch_backend",
            ("snntorch",),
            "snntorch.Leaky with surrogate.atan",
        ),
        Backend(
            "norse",
            "snnleak.neurons.norse_backend",
            ("norse",),
            "Norse functional IAF/LIF steps with an ATan surrogate",
        ),
        Backend(
            "fused",
            "snnleak.neurons.fused_backend",
            (),
            "C++/CUDA kernels (csrc/) with exact first and second order",
        ),
    )
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown neuron backend {name!r}; choose one of: {', '.join(BACKENDS)}"
        ) from None


def check_input(x_seq: torch.Tensor) -> None:
    if not isinstance(x_seq, torch.Tensor):
        raise ConfigError(f"x_seq must be a torch.Tensor [T, ...], got {type(x_seq).__name__}")
    if x_seq.dim() < 1:
        raise ConfigError("x_seq must have a leading time axis [T, ...], got a 0-d tensor")
    if not x_seq.is_floating_point():
        raise ConfigError(
            f"x_seq must be floating point (float32 or float64), got {x_seq.dtype}; "
            "convert it with .float()"
        )


def multistep_trace(
    x_seq: torch.Tensor, params: NeuronParams, backend: str = "reference"
) -> NeuronTrace:
    """Run the neuron over ``x_seq`` (``[T, ...]``): spikes and the membrane sequences."""
    if not isinstance(params, NeuronParams):
        raise ConfigError(f"params must be a NeuronParams, got {type(params).__name__}")
    check_input(x_seq)
    return get_backend(backend).load()(x_seq, params)


def multistep(
    x_seq: torch.Tensor, params: NeuronParams, backend: str = "reference"
) -> torch.Tensor:
    """Spikes ``[T, ...]`` of the multi-step neuron on ``x_seq`` (``[T, ...]``)."""
    return multistep_trace(x_seq, params, backend).spikes
