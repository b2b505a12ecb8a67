"""``snnleak bench kernels``: the DLG step and the neuron op on every backend, side by side.

Everything runs in one process with the same thread count, interleaved round-robin so that a
change in machine load affects every backend alike; results are medians, reported as ratios.

- ``dlg_step_ms``: one DLG gradient-matching step (forward, parameter gradients with
  create_graph, matching loss, gradient to the dummy input) on LeNet5SNN, 3x32x32, 100
  classes, T = 20, batch 1, per backend; ``ann_b1`` and ``ann_bT`` are the sigmoid LeNet at batch
  1 and batch T (the same convolution work as the SNN: the floor).
- ``neuron_op_ms``: forward + backward + double backward of the neuron alone at LeNet5SNN's
  first-layer size (T = 20, 12x16x16, batch 32).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

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


# snnTorch cannot represent a gradient through the reset; it runs with detach_reset=True
DEFAULT_NEURON = NeuronParams("if")
SNNTORCH_NEURON = NeuronParams("if", detach_reset=True)


def _dlg_case(model: torch.nn.Module, x_shape, cfg: KernelBenchConfig) -> Callable[[], None]:
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.rand(x_shape, generator=g)
    y = torch.randint(0, cfg.num_classes, (x_shape[0],), generator=g)
    true_grads = parameter_gradients(model, x, y)
    x_dummy = (torch.rand(x_shape, generator=g) * 0.1 + 0.45).requires_grad_()
    labels = torch.randn(x_shape[0], cfg.num_classes, generator=g, requires_grad=True)
    return lambda: dlg_step(model, true_grads, x_dummy, labels)


def _neuron_case(run: Callable[[torch.Tensor], torch.Tensor], cfg: KernelBenchConfig):
    g = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.timesteps, cfg.op_batch, 12, 16, 16)
    x = (torch.randn(shape, generator=g) * 0.8 + 0.5).requires_grad_()
    c, u = torch.randn(shape, generator=g), torch.randn(shape, generator=g)

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


def build_cases(cfg: KernelBenchConfig) -> dict[str, dict[str, Callable[[], None]]]:
    """Every benchmarked case; a backend whose library is missing here is left out."""
    from snnleak.bench.spikingjelly_lenet import SpikingJellyLeNet

    def snn(backend: str, p: NeuronParams = DEFAULT_NEURON) -> LeNet5SNN:
        gen = torch.Generator().manual_seed(cfg.seed)
        return LeNet5SNN(
            cfg.in_shape, cfg.num_classes, cfg.timesteps, p, backend, generator=gen
        ).train()

    one = (1, *cfg.in_shape)
    dlg = {
        "ann_b1": _dlg_case(LeNet(cfg.in_shape, cfg.num_classes).train(), one, cfg),
        "ann_bT": _dlg_case(
            LeNet(cfg.in_shape, cfg.num_classes).train(), (cfg.timesteps, *cfg.in_shape), cfg
        ),
        "reference": _dlg_case(snn("reference"), one, cfg),
        "snntorch": _dlg_case(snn("snntorch", SNNTORCH_NEURON), one, cfg),
        "fused": _dlg_case(snn("fused"), one, cfg),
    }
    ops = {
        b: _neuron_case(lambda x, b=b, p=p: multistep(x, p, b), cfg)
        for b, p in (
            ("reference", DEFAULT_NEURON),
            ("snntorch", SNNTORCH_NEURON),
            ("fused", DEFAULT_NEURON),
        )
    }
    try:
        dlg["spikingjelly"] = _dlg_case(SpikingJellyLeNet(snn("reference")).train(), one, cfg)
        ops["spikingjelly"] = _neuron_case(_spikingjelly_neuron(DEFAULT_NEURON), cfg)
    except ImportError:
        pass
    return {"dlg_step_ms": dlg, "neuron_op_ms": ops}


def time_cases(cases: dict[str, Callable[[], None]], cfg: KernelBenchConfig) -> dict[str, float]:
    """Median milliseconds per call, the cases interleaved round-robin."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(cfg.warmup + cfg.repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            if i >= cfg.warmup:
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(v) for name, v in samples.items()}


def ratios(results: dict[str, dict[str, float]]) -> dict[str, float]:
    dlg, op = results["dlg_step_ms"], results["neuron_op_ms"]
    out = {
        "fused_over_ann_bT": dlg["fused"] / dlg["ann_bT"],
        "snntorch_over_fused": dlg["snntorch"] / dlg["fused"],
        "reference_over_fused_dlg": dlg["reference"] / dlg["fused"],
        "reference_over_fused_op": op["reference"] / op["fused"],
    }
    if "spikingjelly" in dlg:
        out["spikingjelly_over_fused"] = dlg["spikingjelly"] / dlg["fused"]
        out["spikingjelly_over_fused_op"] = op["spikingjelly"] / op["fused"]
    return out


def _device_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"cpu: {model}"


def run(cfg: KernelBenchConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    cases = build_cases(cfg)
    results = {section: time_cases(c, cfg) for section, c in cases.items()}
    results["ratios"] = ratios(results)
    results["meta"] = {
        "threads": cfg.threads,
        "T": cfg.timesteps,
        "torch": torch.__version__,
        "device": f"cpu ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads)",
        "config": asdict(cfg),
        "versions": package_versions(),
        "note": "snntorch runs detach_reset=True (it cannot represent a gradient through the "
        "reset); every other SNN case runs NeuronParams('if')",
    }
    return results


def markdown(results: dict) -> str:
    dlg, op = results["dlg_step_ms"], results["neuron_op_ms"]
    lines = ["| case | DLG step (ms) | neuron op (ms) |", "|---|---:|---:|"]
    for name in dlg:
        cell = f"{op[name]:.2f}" if name in op else "-"
        lines.append(f"| {name} | {dlg[name]:.2f} | {cell} |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in results["ratios"].items()]
    return "\n".join(lines)
