"""Estimate the CPU cost of `snnleak reproduce all --preset paper` from a measured slice.

For every kind of cell of the paper preset (attack x dataset x model for Table IV; DLG/iDLG
with Algorithm 1 or 2 for Table V) this times a few optimiser steps of one real trial at the
paper's shapes (MNIST 1x28x28 / 10 classes, CIFAR-100 3x32x32 / 100, LFW 3x32x32 / 5,749
identities, DVS128 Gesture 20x2x128x128 / 11) with one torch thread, as each worker of
`--executor local` runs, and extrapolates linearly to the preset's steps and samples. Inputs are
random tensors of those shapes: the real datasets need not be here, and the cost of a step does
not depend on the pixel values (an L-BFGS step may stop before its 20 evaluations; counting
all of them, as this does for the steps it times, errs on the high side).

    python experiments/paper_cost.py [--steps 2] [--backend fused] [--out cost.json]

Judge training is not counted (minutes to hours, once per dataset).
"""

from __future__ import annotations

import argparse
import time

import torch

from snnleak import data
from snnleak.attacks.config import AttackSpec, LBFGSConfig, Thresholding, spec_of
from snnleak.attacks.factory import build_attack
from snnleak.client import observe
from snnleak.data import DatasetInfo
from snnleak.info import package_versions
from snnleak.io import write_json_atomic
from snnleak.models.victims import build_victim
from snnleak.reproduce import load_preset
from snnleak.seeding import trial_rng

REAL = {"MNIST": "mnist", "CIFAR-100": "cifar100", "LFW": "lfw", "DVS128 Gesture": "dvsgesture"}


def info_of(paper: str) -> DatasetInfo:
    """The paper's data by shape only (random tensors stand in: the cost is all we measure)."""
    return data.info_of(REAL[paper])


def seconds_per_step(spec: AttackSpec, info: DatasetInfo, steps: int) -> float:
    """Wall seconds of one optimiser step of one trial (the mean over ``steps`` steps)."""
    g = torch.Generator().manual_seed(0)
    victim = build_victim(spec.victim, info, trial_rng(0, 0, "victim"))
    x = torch.rand(info.input_shape, generator=g)
    if info.modality == "events":
        x = (x < 0.1).float()
    xb = x.unsqueeze(1) if info.modality == "events" else x.unsqueeze(0)
    obs = observe(victim, xb, torch.tensor([1]), info.modality)
    build_attack(spec.with_(iterations=1)).reconstruct(obs, trial_rng(0, 0, "attack"))
    attack = build_attack(spec.with_(iterations=steps))  # timed after that warm-up step
    start = time.perf_counter()
    rec = attack.reconstruct(obs, trial_rng(0, 0, "attack"))
    return (time.perf_counter() - start) / max(1, rec.steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--steps", type=int, default=2, help="optimiser steps timed per cell")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--out", default=None, help="write the estimate as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    preset = load_preset(args.preset)
    backend = args.backend or preset.backend
    t4, t5 = preset.table4, preset.table5
    rows = []
    for attack in ("dlg", "idlg", "grnn"):
        for paper, _ in t4.datasets:
            for model in ("ann", "snn"):
                spec = spec_of(
                    attack,
                    model,
                    "digits",  # only its name is checked; the shapes are the paper's
                    backend=backend,
                    timesteps=t4.timesteps,
                    lbfgs=LBFGSConfig(max_iter=t4.lbfgs_max_iter),
                )
                step = seconds_per_step(spec, info_of(paper), args.steps)
                rows.append(
                    ("table4", attack, paper, model, step, t4.iterations_of(attack), t4.samples)
                )
    for attack in ("dlg", "idlg"):
        # Algorithm 1: one optimisation serves every threshold; Algorithm 2: one per threshold
        for mode, runs in (("post", 1), ("in", len(t5.thresholds))):
            spec = spec_of(
                attack,
                "snn",
                "dvs-synth",
                backend=backend,
                threshold=Thresholding(0.5, mode),
                lbfgs=LBFGSConfig(max_iter=t5.lbfgs_max_iter),
            )
            step = seconds_per_step(spec, info_of("DVS128 Gesture"), args.steps)
            rows.append(
                (
                    "table5",
                    attack,
                    f"DVS128 Gesture ({mode})",
                    "snn",
                    step,
                    t5.iterations,
                    runs * t5.samples,
                )
            )
    total = 0.0
    print(
        f"{'table':7} {'attack':5} {'data':28} {'model':5} "
        f"{'s/step':>8} {'steps':>6} {'trials':>7} {'CPU-h':>9}"
    )
    out_rows = []
    for table, attack, paper, model, step, iters, trials in rows:
        hours = step * iters * trials / 3600
        total += hours
        print(
            f"{table:7} {attack:5} {paper:28} {model:5} "
            f"{step:8.3f} {iters:6d} {trials:7d} {hours:9.1f}"
        )
        out_rows.append(
            dict(
                table=table,
                attack=attack,
                data=paper,
                model=model,
                seconds_per_step=step,
                steps=iters,
                trials=trials,
                cpu_hours=hours,
            )
        )
    print(f"total: {total:.0f} CPU-hours (one torch thread per trial; judge training not counted)")
    if args.out:
        write_json_atomic(
            args.out,
            {
                "preset": preset.source,
                "backend": backend,
                "steps_timed": args.steps,
                "rows": out_rows,
                "cpu_hours": total,
                "versions": package_versions(),
            },
        )


if __name__ == "__main__":
    main()
