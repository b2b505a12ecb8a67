"""What is installed and which neuron backends work here (for ``snnleak info`` and records)."""

from __future__ import annotations

import importlib.metadata
import platform

from snnleak.neurons.backends import BACKENDS

PACKAGES = (
    "torch",
    "torchvision",
    "snntorch",
    "norse",
    "tonic",
    "spikingjelly",
    "scikit-image",
    "click",
)


def package_versions() -> dict[str, str | None]:
    """Installed version of each package snnleak uses, ``None`` where it is not installed."""
    versions: dict[str, str | None] = {
        "snnleak": importlib.metadata.version("snnleak"),
        "python": platform.python_version(),
    }
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def backend_status() -> dict[str, dict[str, object]]:
    """For each neuron backend: whether it can run here, and if not, why (builds nothing)."""
    report = {}
    for name, backend in BACKENDS.items():
        ok, reason = backend.availability()
        report[name] = {"available": ok, "reason": reason, "description": backend.description}
    return report


def fused_status_line() -> str:
    from snnleak.fused import build

    st = build.status()
    if st["built"]:
        return f"built ({st['how']}) at {st['path']} for {', '.join(st['devices'])}"
    return str(st["reason"])
