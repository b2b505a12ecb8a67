"""Where computation runs: ``--device {auto,cpu,cuda,cuda:N}`` resolved once, described in records.

Random draws stay on the CPU, from the seeded CPU generators, and move to the device afterwards,
so a trial draws the same victim, dummy and noise on every device (results then differ only by
floating-point rounding). Modules are built on the CPU (:func:`on_cpu`) for the same reason and
moved with ``.to(device)``. No code path relies on torch's default device: a test runs an attack
with the default set to ``meta``.
"""

from __future__ import annotations

import contextlib
import platform
import re
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from snnleak.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
CPU = torch.device("cpu")
_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve(spec: str | torch.device | None) -> torch.device:
    """``auto`` (cuda when available, else cpu), ``cpu``, ``cuda`` or ``cuda:N``, checked here:
    a device that is not present is one clear error."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = "auto" if spec is None else str(spec).strip().lower()
    if not _SPEC.match(spec):
        raise ConfigError(
            f"unknown device {spec!r}; choose auto, cpu, cuda or cuda:N (N a GPU index)"
        )
    if spec == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else CPU
    if spec == "cpu":
        return CPU
    if not torch.cuda.is_available():
        raise ConfigError(
            f"--device {spec} needs a CUDA GPU, but torch sees none here "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use --device cpu"
        )
    index = int(spec.split(":")[1]) if ":" in spec else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(
            f"--device {spec}: this machine has {count} GPU(s) (cuda:0 to cuda:{count - 1})"
        )
    return torch.device("cuda", index)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def name(device: torch.device) -> str:
    """The hardware: the GPU's name, or the CPU's model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def describe(device: torch.device) -> dict:
    """What a record or manifest says about where it was computed: on a GPU, also how
    (CUDA graphs, and torch's fp32 precisions as set: ``"none"`` is torch's default, TF32 for
    cuDNN convolutions)."""
    where = {"device": str(device), "device_name": name(device)}
    if device.type == "cuda":
        where["cuda"] = {
            "graphs": cuda_options().graphs,
            "conv_precision": torch.backends.cudnn.conv.fp32_precision,
            "matmul_precision": torch.backends.cuda.matmul.fp32_precision,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "channels_last": cuda_options().channels_last,
        }
    return where


@dataclass(frozen=True)
class CudaOptions:
    """How CUDA computes (``--cuda-graphs/--no-cuda-graphs``, ``--tf32/--no-tf32``,
    ``--cudnn-benchmark``); nothing here changes a CPU run.

    - ``graphs``: each attack evaluation (forward, parameter gradients with ``create_graph``,
      matching loss, its gradient) is captured once in a CUDA graph and replayed
      (:mod:`snnleak.attacks.graphs`), which checks its first replay against eager;
    - ``tf32``: TF32 convolutions and matmuls (torch's own default turns them on for
      convolutions; snnleak computes in IEEE fp32 unless asked);
    - ``cudnn_benchmark``: cuDNN times its algorithms per shape and keeps the fastest;
    - ``channels_last``: batched trials keep their feature maps channels-last (NHWC) on the
      GPU too, as they always do on the CPU (:mod:`snnleak.models.stacked`).
    """

    graphs: bool = True
    tf32: bool = False
    cudnn_benchmark: bool = False
    channels_last: bool = False


_OPTIONS = [CudaOptions()]


def cuda_options() -> CudaOptions:
    """The options in force (:func:`using`)."""
    return _OPTIONS[-1]


@contextlib.contextmanager
def using(options: CudaOptions) -> Iterator[CudaOptions]:
    """Compute under ``options`` (torch's TF32 and cuDNN flags included) inside the block,
    and put everything back after it."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    before = (matmul.fp32_precision, conv.fp32_precision, torch.backends.cudnn.benchmark)
    precision = "tf32" if options.tf32 else "ieee"
    matmul.fp32_precision = conv.fp32_precision = precision
    torch.backends.cudnn.benchmark = options.cudnn_benchmark
    _OPTIONS.append(options)
    try:
        yield options
    finally:
        _OPTIONS.pop()
        matmul.fp32_precision, conv.fp32_precision, torch.backends.cudnn.benchmark = before


def channels_last(device: torch.device) -> bool:
    """Whether batched trials keep their feature maps channels-last on ``device``: always on
    the CPU (oneDNN's grouped backward passes are 2x to 7x faster so), on a GPU with
    ``--channels-last``."""
    return device.type == "cpu" or cuda_options().channels_last


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def on_cpu() -> Iterator[None]:
    """Build modules here: their initial draws come from the CPU generators, as on every
    device, whatever torch's default device is."""
    with torch.device("cpu"):
        yield
