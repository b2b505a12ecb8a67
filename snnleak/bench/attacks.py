"""``snnleak bench attacks``: trials per hour, batched against solo, side by side in one run.

Both modes run the same trials (same samples, victims and seeds) in the same process, in
alternating rounds; the result is the median wall time of a round, as trials per hour.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from snnleak.attacks import AttackSpec, LBFGSConfig
from snnleak.info import package_versions
from snnleak.trials.runner import run_trials


@dataclass(frozen=True)
class AttackBenchConfig:
    attack: str = "dlg"
    model: str = "snn"
    dataset: str = "mnist-5k"
    backend: str = "fused"
    trials: int = 8
    iterations: int = 3
    max_iter: int = 20
    timesteps: int = 20
    rounds: int = 2
    threads: int = 2


def run(cfg: AttackBenchConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    spec = AttackSpec(
        cfg.attack,
        cfg.model,
        cfg.dataset,
        backend=cfg.backend,
        timesteps=cfg.timesteps,
        iterations=cfg.iterations,
        lbfgs=LBFGSConfig(max_iter=cfg.max_iter),
    )
    times: dict[str, list[float]] = {"solo": [], "batched": []}
    for _ in range(cfg.rounds):
        for mode, k in (("solo", 1), ("batched", cfg.trials)):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                run_trials(spec, cfg.trials, 0, Path(tmp), judge=None, batch_trials=k)
                times[mode].append(time.perf_counter() - start)
    per_hour = {m: cfg.trials * 3600 / statistics.median(v) for m, v in times.items()}
    return {
        "trials_per_hour": per_hour,
        "batched_over_solo": per_hour["batched"] / per_hour["solo"],
        "seconds_per_round": times,
        "meta": {"config": asdict(cfg), "torch": torch.__version__, "versions": package_versions()},
    }


def markdown(result: dict) -> str:
    cfg = result["meta"]["config"]
    rate = result["trials_per_hour"]
    return "\n".join(
        [
            f"{cfg['attack']} on {cfg['model']} ({cfg['backend']}), {cfg['dataset']}, "
            f"{cfg['trials']} trials x {cfg['iterations']} optimiser steps, "
            f"{cfg['threads']} threads",
            "| mode | trials per hour |",
            "|---|---:|",
            f"| solo | {rate['solo']:.0f} |",
            f"| batched (K={cfg['trials']}) | {rate['batched']:.0f} |",
            f"| batched / solo | {result['batched_over_solo']:.2f} |",
        ]
    )
