"""``snnleak bench accelerate``: a user's model before and after
:func:`~snnleak.accelerate.accelerate`, side by side in one process.

One gradient-matching evaluation, what an attack runs every optimiser step, is timed on the
plug-in as written and on its accelerated copy, interleaved round by round: the forward, the
parameter gradients with their graph, the matching loss against an observed update, and its
gradient to the dummy (second order). The item is the first of the dataset's test split.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch

from snnleak.device import CPU, describe
from snnleak.info import package_versions


@dataclass(frozen=True)
class AccelerateBenchConfig:
    model: str  # path/to/file.py:factory
    dataset: str = "digits"
    timesteps: int = 8
    rounds: int = 15
    threads: int = 2


def run(cfg: AccelerateBenchConfig) -> dict:
    from snnleak import data, layout
    from snnleak.gradients import dummy_gradients, gradient_distance
    from snnleak.models import plugin
    from snnleak.models.victims import accelerated

    torch.set_num_threads(cfg.threads)
    split = data.load(cfg.dataset, "test")
    info = split.info
    model = plugin.build(cfg.model, info.input_shape, info.num_classes, cfg.timesteps, 0)
    model = plugin.check(cfg.model, model, info.input_shape, info.num_classes, info.modality)
    model.train()
    fast, report = accelerated(model, info)
    x, y = split[0]
    x, y = layout.as_batch(x, info.modality), torch.tensor([y])
    true = [g.detach() for g in dummy_gradients(model, x, y)]
    gen = torch.Generator().manual_seed(0)

    def evaluation(m: torch.nn.Module) -> float:
        dummy = torch.rand(x.shape, generator=gen).requires_grad_()
        start = time.perf_counter()
        torch.autograd.grad(gradient_distance(dummy_gradients(m, dummy, y), true), dummy)
        return time.perf_counter() - start

    evaluation(model), evaluation(fast)  # warm-up: oneDNN's kernels, the fused extension
    seconds = {"original": [], "accelerated": []}
    for _ in range(cfg.rounds):
        seconds["original"].append(evaluation(model))
        seconds["accelerated"].append(evaluation(fast))
    median = {k: statistics.median(v) for k, v in seconds.items()}
    return {
        "original_ms": median["original"] * 1000,
        "accelerated_ms": median["accelerated"] * 1000,
        "ratio": median["original"] / median["accelerated"],
        "neurons": [r.line() for r in report],
        "seconds": seconds,
        "meta": {"config": asdict(cfg), **describe(CPU), "versions": package_versions()},
    }


def markdown(result: dict) -> str:
    cfg = result["meta"]["config"]
    lines = [
        f"{cfg['model']} at T={cfg['timesteps']}, one gradient-matching evaluation, "
        f"{cfg['threads']} threads, median of {cfg['rounds']} (interleaved):",
        "",
        "| model | ms | speed-up |",
        "|---|---:|---:|",
        f"| as written | {result['original_ms']:.1f} | 1.00 |",
        f"| accelerated | {result['accelerated_ms']:.1f} | {result['ratio']:.2f} |",
        "",
        *result["neurons"],
    ]
    return "\n".join(lines)
