"""``snnleak bench kernels``: the DLG step and the neuron op on every backend, side by side.

Everything runs in one process with the same thread count, interleaved round-robin so that a
change in machine load affects every case alike. Each case reports its median and quartiles;
each ratio is the median (and quartiles) of the per-round ratios, paired within a round.

- ``dlg_step_ms``: one DLG gradient-matching step (forward, parameter gradients with
  create_graph, matching loss, gradient to the dummy input) on LeNet5SNN, 3x32x32, 100
  classes, T = 20, batch 1, per backend; ``ann_b1`` and ``ann_bT`` are the sigmoid LeNet at batch
  1 and batch T (the same convolution work as the SNN: the floor); ``snntorch_loop`` is the same
  SNN written as snnTorch's tutorials do (``snn.Leaky`` stepped in a Python loop), the anchor
  for snnTorch users; ``snntorch`` is the project's one-op snnTorch backend.
- ``neuron_op_ms``: forward + backward + double backward of the neuron alone at LeNet5SNN's
  first-layer size (T = 20, 12x16x16, batch 32).
- ``fused_bandwidth``: the fused neuron kernels' bytes per neuron-op step, their own time and
  the achieved GB/s (and on CUDA the card's peak and the fraction reached):
  :mod:`snnleak.bench.bandwidth`.
- ``memory_mib``: the peak memory of one DLG step above what the case holds before it: on the
  CPU the peak RSS of a fresh process (glibc told to return large blocks, so that RSS follows
  the live memory), on CUDA ``max_memory_allocated``.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from snnleak import device as devices
from snnleak.bench import bandwidth
from snnleak.gradients import dlg_step, parameter_gradients
from snnleak.info import package_versions
from snnleak.models import LeNet, LeNet5SNN
from snnleak.neurons import NeuronParams, multistep


@dataclass(frozen=True)
class KernelBenchConfig:
    timesteps: int = 20
    in_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 100
    op_batch: int = 32
    threads: int = 2
    repeats: int = 15
    warmup: int = 3
    seed: int = 0
    device: str = "cpu"
    memory: bool = True


# snnTorch cannot represent a gradient through the reset; it runs with detach_reset=True
DEFAULT_NEURON = NeuronParams("if")
SNNTORCH_NEURON = NeuronParams("if", detach_reset=True)
MEMORY_CASES = ("ann_bT", "fused")  # the memory ratio: fused over the floor


def _dlg_case(model: torch.nn.Module, x_shape, cfg: KernelBenchConfig) -> Callable[[], None]:
    where = torch.device(cfg.device)
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.rand(x_shape, generator=g, device="cpu").to(where)
    y = torch.randint(0, cfg.num_classes, (x_shape[0],), generator=g, device="cpu").to(where)
    model = model.to(where)
    true_grads = parameter_gradients(model, x, y)
    x_dummy = (torch.rand(x_shape, generator=g, device="cpu") * 0.1 + 0.45).to(where)
    x_dummy.requires_grad_()
    labels = torch.randn(x_shape[0], cfg.num_classes, generator=g, device="cpu").to(where)
    labels.requires_grad_()
    return lambda: dlg_step(model, true_grads, x_dummy, labels)


def _neuron_case(run: Callable[[torch.Tensor], torch.Tensor], cfg: KernelBenchConfig):
    where = torch.device(cfg.device)
    g = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.timesteps, cfg.op_batch, 12, 16, 16)
    x = (torch.randn(shape, generator=g, device="cpu") * 0.8 + 0.5).to(where).requires_grad_()
    c = torch.randn(shape, generator=g, device="cpu").to(where)
    u = torch.randn(shape, generator=g, device="cpu").to(where)

    def step() -> None:
        (gx,) = torch.autograd.grad((run(x) * c).sum(), x, create_graph=True)
        torch.autograd.grad((gx * u).sum(), x)

    return step


def _spikingjelly_neuron(p: NeuronParams) -> Callable[[torch.Tensor], torch.Tensor]:
    from spikingjelly.activation_based import functional, neuron, surrogate

    node = neuron.IFNode(
        v_threshold=p.v_threshold,
        v_reset=p.v_reset,
        surrogate_function=surrogate.ATan(alpha=p.alpha),
        detach_reset=p.detach_reset,
        step_mode="m",
    )

    def run(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(node)
        return node(x)

    return run


def dlg_factories(cfg: KernelBenchConfig) -> dict[str, Callable[[], Callable[[], None]]]:
    """Every DLG-step case, as a function that builds it (so a process can build just one); a
    case whose library is missing here is left out."""

    def snn(backend: str, p: NeuronParams = DEFAULT_NEURON) -> LeNet5SNN:
        gen = torch.Generator().manual_seed(cfg.seed)
        with devices.on_cpu():
            return LeNet5SNN(
                cfg.in_shape, cfg.num_classes, cfg.timesteps, p, backend, rng=gen
            ).train()

    def ann() -> LeNet:
        with devices.on_cpu():
            return LeNet(cfg.in_shape, cfg.num_classes).train()

    def snntorch_loop() -> torch.nn.Module:
        from snnleak.bench.snntorch_lenet import SnnTorchLoopLeNet

        return SnnTorchLoopLeNet(snn("snntorch", SNNTORCH_NEURON)).train()

    def spikingjelly() -> torch.nn.Module:
        from snnleak.bench.spikingjelly_lenet import SpikingJellyLeNet

        return SpikingJellyLeNet(snn("reference")).train()

    one, batch_t = (1, *cfg.in_shape), (cfg.timesteps, *cfg.in_shape)
    out = {
        "ann_b1": lambda: _dlg_case(ann(), one, cfg),
        "ann_bT": lambda: _dlg_case(ann(), batch_t, cfg),
        "reference": lambda: _dlg_case(snn("reference"), one, cfg),
        "snntorch": lambda: _dlg_case(snn("snntorch", SNNTORCH_NEURON), one, cfg),
        "snntorch_loop": lambda: _dlg_case(snntorch_loop(), one, cfg),
        "fused": lambda: _dlg_case(snn("fused"), one, cfg),
        "spikingjelly": lambda: _dlg_case(spikingjelly(), one, cfg),
    }
    for name in left_out():
        del out[name]
    return out


def left_out() -> dict[str, str]:
    """The cases whose library is not installed here, and how to get it."""
    out = {}
    for name, module in (("snntorch_loop", "snntorch"), ("spikingjelly", "spikingjelly")):
        if importlib.util.find_spec(module) is None:
            out[name] = f"{module} is not installed here (pip install 'snnleak[bench]')"
    return out


def fused_op_case(cfg: KernelBenchConfig) -> Callable[[], None]:
    """The fused neuron op's case alone (for its bandwidth: :mod:`snnleak.bench.bandwidth`)."""
    return _neuron_case(lambda x: multistep(x, DEFAULT_NEURON, "fused"), cfg)


def build_cases(cfg: KernelBenchConfig) -> dict[str, dict[str, Callable[[], None]]]:
    """Every benchmarked case, built."""
    dlg = {name: make() for name, make in dlg_factories(cfg).items()}
    ops = {
        b: _neuron_case(lambda x, b=b, p=p: multistep(x, p, b), cfg)
        for b, p in (
            ("reference", DEFAULT_NEURON),
            ("snntorch", SNNTORCH_NEURON),
            ("fused", DEFAULT_NEURON),
        )
    }
    if "spikingjelly" in dlg:
        ops["spikingjelly"] = _neuron_case(_spikingjelly_neuron(DEFAULT_NEURON), cfg)
    return {"dlg_step_ms": dlg, "neuron_op_ms": ops}


def time_cases(cases: dict[str, Callable[[], None]], cfg: KernelBenchConfig) -> dict[str, list]:
    """Milliseconds per call, per round: the cases interleaved round-robin."""
    where = torch.device(cfg.device)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(cfg.warmup + cfg.repeats):
        for name, fn in cases.items():
            devices.synchronize(where)
            start = time.perf_counter()
            fn()
            devices.synchronize(where)
            if i >= cfg.warmup:
                samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def spread(values: list[float]) -> dict[str, float]:
    """Median and quartiles."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"median": statistics.median(values), "q1": q[0], "q3": q[2]}


# (name, numerator, denominator, section): every ratio is "how many times slower than"
RATIOS = (
    ("fused_over_ann_bT", "fused", "ann_bT", "dlg_step_ms"),
    ("spikingjelly_over_fused", "spikingjelly", "fused", "dlg_step_ms"),
    ("snntorch_loop_over_fused", "snntorch_loop", "fused", "dlg_step_ms"),
    ("snntorch_over_fused", "snntorch", "fused", "dlg_step_ms"),
    ("reference_over_fused_dlg", "reference", "fused", "dlg_step_ms"),
    ("reference_over_fused_op", "reference", "fused", "neuron_op_ms"),
    ("spikingjelly_over_fused_op", "spikingjelly", "fused", "neuron_op_ms"),
)
# the project's speed targets: (ratio, bound, "max" or "min")
TARGETS = {
    "fused_over_ann_bT": (1.15, "max"),
    "spikingjelly_over_fused": (3.5, "min"),
    "snntorch_loop_over_fused": (8.0, "min"),
    "memory_fused_over_ann_bT": (1.3, "max"),
}


def ratios(samples: dict[str, dict[str, list]]) -> dict[str, dict[str, float]]:
    """Each ratio's median and quartiles over the rounds, paired within a round."""
    out = {}
    for name, num, den, section in RATIOS:
        s = samples[section]
        if num in s and den in s:
            out[name] = spread([a / b for a, b in zip(s[num], s[den], strict=True)])
    return out


def _status_kib(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+)", text, re.M).group(1))


def _memory_child(cfg: KernelBenchConfig, name: str, queue) -> None:
    torch.set_num_threads(cfg.threads)
    step = dlg_factories(cfg)[name]()
    step()  # warm: lazy initialisation is not the step's memory
    base = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
    step()
    queue.put((_status_kib("VmHWM") - base) / 1024)


def step_memory_mib(cfg: KernelBenchConfig, name: str) -> float | None:
    """Peak memory (MiB) of one DLG step of case ``name`` above what it held before."""
    where = torch.device(cfg.device)
    if where.type == "cuda":
        step = dlg_factories(cfg)[name]()
        step()
        torch.cuda.synchronize(where)
        base = torch.cuda.memory_allocated(where)
        torch.cuda.reset_peak_memory_stats(where)
        step()
        torch.cuda.synchronize(where)
        return (torch.cuda.max_memory_allocated(where) - base) / 2**20
    if not Path("/proc/self/clear_refs").exists():
        return None
    ctx = multiprocessing.get_context("spawn")
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # inherited by the spawned child: RSS follows the live memory
    try:
        queue = ctx.Queue()
        proc = ctx.Process(target=_memory_child, args=(cfg, name, queue))
        proc.start()
        value = queue.get(timeout=600)
        proc.join()
        return value
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(cfg: KernelBenchConfig) -> dict:
    where = devices.resolve(cfg.device)
    cfg = KernelBenchConfig(**{**asdict(cfg), "device": str(where)})
    torch.set_num_threads(cfg.threads)
    samples = {section: time_cases(c, cfg) for section, c in build_cases(cfg).items()}
    results: dict = {
        section: {name: spread(v) for name, v in cases.items()}
        for section, cases in samples.items()
    }
    results["ratios"] = ratios(samples)
    if cfg.memory:
        mem = {name: step_memory_mib(cfg, name) for name in MEMORY_CASES}
        results["memory_mib"] = mem
        if all(mem.values()):
            value = mem["fused"] / mem["ann_bT"]
            results["ratios"]["memory_fused_over_ann_bT"] = {
                "median": value,
                "q1": value,
                "q3": value,
            }
    results["fused_bandwidth"] = bandwidth.measure(fused_op_case(cfg), where, cfg.repeats)
    results["targets"] = {
        name: {
            "bound": bound,
            "kind": kind,
            "met": met(results["ratios"][name]["median"], bound, kind),
        }
        for name, (bound, kind) in TARGETS.items()
        if name in results["ratios"]
    }
    results["meta"] = {
        "threads": cfg.threads,
        "T": cfg.timesteps,
        "torch": torch.__version__,
        **devices.describe(where),
        "config": asdict(cfg),
        "versions": package_versions(),
        "raw_ms": samples,
        "left_out": left_out(),
        "note": "snntorch cases run detach_reset=True (snnTorch cannot represent a gradient "
        "through the reset); every other SNN case runs NeuronParams('if')",
    }
    return results


def met(value: float, bound: float, kind: str) -> bool:
    return value <= bound if kind == "max" else value >= bound
