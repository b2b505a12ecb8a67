"""``snnleak bench attacks``: trials per hour against the number of trials run together (K).

For each attack, every K in ``ks`` runs the same ``samples`` trials (the same items, victims and
seeds) through the trial runner with ``batch_trials = K`` (K = 1: one trial at a time), in the
same process, K after K within a round, over ``rounds`` rounds. First, an untimed one-step run
at each K loads the data and builds the kernels for its shapes (oneDNN compiles one per shape).
A point of the curve is ``samples`` trials over the median wall time of its rounds, victims,
updates, metrics and records included. Ratios are against K = 1, eager.

On a GPU with CUDA graphs on (the default), every K runs twice, side by side in each round:
eagerly and with its evaluations replayed from CUDA graphs (:mod:`snnleak.attacks.graphs`);
each graphed point also gives its ratio to the eager one at the same K.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from snnleak.attacks import AttackSpec, LBFGSConfig, spec_of
from snnleak.device import cuda_options, describe, resolve, using
from snnleak.errors import ConfigError
from snnleak.hostmem import keep_freed_memory
from snnleak.info import package_versions
from snnleak.trials.runner import run_trials


@dataclass(frozen=True)
class AttackBenchConfig:
    attacks: tuple[str, ...] = ("idlg",)
    ks: tuple[int, ...] = (1, 16)
    samples: int = 0  # trials per point; 0: the largest K
    model: str = "snn"
    dataset: str = "digits"
    backend: str = "fused"
    line_search: str = "none"
    iterations: int = 3
    max_iter: int = 20
    timesteps: int = 20
    rounds: int = 2
    threads: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.ks or min(self.ks) < 1:
            raise ConfigError(f"--trials takes K values of at least 1, got {self.ks}")
        if self.samples and self.samples < max(self.ks):
            raise ConfigError(f"--samples {self.samples} is below the largest K {max(self.ks)}")

    @property
    def trials(self) -> int:
        return self.samples or max(self.ks)


def bench_spec(cfg: AttackBenchConfig, attack: str) -> AttackSpec:
    return spec_of(
        attack,
        cfg.model,
        cfg.dataset,
        backend=cfg.backend,
        timesteps=cfg.timesteps,
        iterations=cfg.iterations,
        lbfgs=LBFGSConfig(max_iter=cfg.max_iter, line_search=cfg.line_search),
    )


def _timed(spec: AttackSpec, samples: int, k: int, device, graphs: bool) -> float:
    """Seconds to run ``samples`` trials of ``spec``, ``k`` at a time (CUDA graphs or not)."""
    with tempfile.TemporaryDirectory() as tmp, using(replace(cuda_options(), graphs=graphs)):
        start = time.perf_counter()
        run_trials(spec, samples, 0, Path(tmp), judge=None, batch_trials=k, device=device)
        return time.perf_counter() - start


def run(cfg: AttackBenchConfig, progress=lambda line: None) -> dict:
    torch.set_num_threads(cfg.threads)
    kept = keep_freed_memory()  # as the command line runs: every K alike
    device = resolve(cfg.device)
    graphed = device.type == "cuda" and cuda_options().graphs
    modes = (False, True) if graphed else (False,)  # with CUDA graphs or not
    curves = {}
    for attack in cfg.attacks:
        spec = bench_spec(cfg, attack)
        for k in cfg.ks:  # untimed, one step at each K: data, imports, kernels per shape
            for mode in modes:
                _timed(spec.with_(iterations=1), k, k, device, mode)
        seconds = {(k, m): [] for k in cfg.ks for m in modes}
        for _ in range(cfg.rounds):
            for k in cfg.ks:
                for mode in modes:
                    seconds[k, mode].append(_timed(spec, cfg.trials, k, device, mode))
                    graphs = " (CUDA graphs)" if mode else ""
                    progress(f"{attack} K={k}{graphs}: {seconds[k, mode][-1]:.1f} s")
        per_hour = {key: cfg.trials * 3600 / statistics.median(v) for key, v in seconds.items()}
        base = per_hour.get((1, False))
        curves[attack] = [
            {
                "k": k,
                "cuda_graphs": mode,
                "trials_per_hour": per_hour[k, mode],
                "over_k1": per_hour[k, mode] / base if base else None,
                "over_eager": per_hour[k, mode] / per_hour[k, False],
                "seconds": seconds[k, mode],
            }
            for k in cfg.ks
            for mode in modes
        ]
    return {
        "curves": curves,
        "meta": {
            "config": asdict(cfg),
            "trials": cfg.trials,
            "keep_freed_memory": kept,
            **describe(device),
            "torch": torch.__version__,
            "versions": package_versions(),
        },
    }


def markdown(result: dict) -> str:
    meta, cfg = result["meta"], result["meta"]["config"]
    lines = [
        f"{cfg['model']} ({cfg['backend']}), {cfg['dataset']}, T = {cfg['timesteps']}, "
        f"line search {cfg['line_search']}, {meta['trials']} trials x {cfg['iterations']} "
        f"optimiser steps, {meta['device_name']}, {cfg['threads']} threads",
        "",
        "| attack | K | CUDA graphs | trials per hour | over K = 1 | over eager |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for attack, curve in result["curves"].items():
        for point in curve:
            ratio = point["over_k1"]
            lines.append(
                f"| {attack} | {point['k']} | {'yes' if point['cuda_graphs'] else 'no'} | "
                f"{point['trials_per_hour']:.0f} | {'' if ratio is None else f'{ratio:.2f}'} | "
                f"{point['over_eager']:.2f} |"
            )
    return "\n".join(lines)


def chart(result: dict, path: Path) -> Path:
    """Trials per hour against K, one line per attack (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnleak.io import write_atomic

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for attack, curve in result["curves"].items():
        for mode in sorted({p["cuda_graphs"] for p in curve}):
            points = [p for p in curve if p["cuda_graphs"] == mode]
            label = f"{attack}, CUDA graphs" if mode else attack
            ax.plot([p["k"] for p in points], [p["trials_per_hour"] for p in points],
                    marker="o", linestyle="--" if mode else "-", label=label)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("trials run together (K)")
    ax.set_ylabel("trials per hour")
    meta = result["meta"]
    ax.set_title(f"bench attacks on {meta['device']} ({meta['device_name']})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    try:
        return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))
    finally:
        plt.close(fig)
