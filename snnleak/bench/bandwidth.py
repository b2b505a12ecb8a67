"""The fused neuron kernels' achieved memory bandwidth, for ``snnleak bench kernels``.

The IF/LIF kernels do a few flops per element and are bound by memory traffic, so their
figure of merit is bytes per second against what the memory can give.

- **Bytes**: every tensor each fused kernel reads or writes (its arguments and its results),
  counted with a ``TorchDispatchMode`` as the kernels are called. That is the traffic of a
  kernel that touches each element once, a lower bound on what it really moves.
- **Time**: the kernels' own time, measured around each call inside the same mode: CUDA
  events on a GPU (the kernel's device time), the wall clock on the CPU (where the call is the
  computation). It excludes the autograd glue around them.
- **Achieved** = bytes / time. On CUDA the report adds the card's peak (DDR: 2 x memory clock x
  bus width, from the device properties) and the fraction of it reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from snnleak import device as devices

FUSED_OPS = ("snnleak::neuron_fwd", "snnleak::neuron_bwd", "snnleak::neuron_bwd2")


class KernelMeter(TorchDispatchMode):
    """Counts the calls of the fused kernels, the bytes of the tensors they take and give, and
    the time they take."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.bytes = dict.fromkeys(FUSED_OPS, 0)
        self.calls = dict.fromkeys(FUSED_OPS, 0)
        self.cuda = device.type == "cuda"
        self.seconds = 0.0
        self._events: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name not in self.bytes:
            return func(*args, **(kwargs or {}))
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = func(*args, **(kwargs or {}))
            end.record()
            self._events.append((start, end))
        else:
            began = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            self.seconds += time.perf_counter() - began
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        self.bytes[name] += sum(t.numel() * t.element_size() for t in tensors)
        self.calls[name] += 1
        return out

    def kernel_seconds(self) -> float:
        """The kernels' time so far (on CUDA, once the device has finished them)."""
        if self.cuda:
            torch.cuda.synchronize()
            return self.seconds + sum(a.elapsed_time(b) for a, b in self._events) / 1e3
        return self.seconds


def peak_gbps(device: torch.device) -> float | None:
    """The memory's peak bandwidth in GB/s (a CUDA card's; None on the CPU)."""
    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    clock_khz = getattr(props, "memory_clock_rate", 0)
    width_bits = getattr(props, "memory_bus_width", 0)
    if not clock_khz or not width_bits:
        return None
    return 2 * clock_khz * 1e3 * width_bits / 8 / 1e9


def measure(step: Callable[[], None], device: torch.device, steps: int) -> dict:
    """Bytes, kernel calls and kernel time per ``step`` (one forward, backward and double
    backward of the neuron op), the achieved GB/s and, on CUDA, the peak and the fraction."""
    step()  # warm-up
    devices.synchronize(device)
    with KernelMeter(device) as meter:
        for _ in range(steps):
            step()
    seconds = meter.kernel_seconds() / steps
    total = sum(meter.bytes.values()) // steps
    out: dict = {
        "bytes_per_step": total,
        "kernel_calls_per_step": {k.split("::")[1]: v // steps for k, v in meter.calls.items()},
        "kernel_ms_per_step": seconds * 1e3,
        "achieved_gbps": total / seconds / 1e9 if seconds > 0 else None,
    }
    peak = peak_gbps(device)
    if peak is not None and out["achieved_gbps"] is not None:
        out["peak_gbps"] = peak
        out["fraction_of_peak"] = out["achieved_gbps"] / peak
    return out
