"""``reproduce --dry-run``: what a target would cost, before any of it runs.

Every cell of the target is planned as the real run plans it (same cells, same samples, the
same trials run together: ``batch_trials``, ``"auto"`` resolved for the device). For each
distinct kind of cell (attack, model, neuron, threshold mode, data shape, K) a few optimiser
steps of K real trials run together are timed at the data's shape, on the device the run would
use, after one warm-up step; the hours are ``seconds per trial-step x steps x trials /
workers``. The real datasets need not be here: a real set is timed on random tensors of its
shape (a step's cost does not depend on the pixel values). Judge training is not counted.

On the CPU each worker runs one torch thread, one worker per core (as ``--executor local``
does); on a GPU, one worker per GPU. A timed L-BFGS step counts all its closure evaluations,
while a real step may stop early: the estimate errs on the high side. The summary also says
how many such machines (``--executor ray``) finish the target in 24 hours.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace

import torch

from snnleak import data
from snnleak import device as devices
from snnleak.attacks.base import reconstruct_many
from snnleak.attacks.config import AttackSpec
from snnleak.attacks.factory import STEP_FIELDS, build_attack
from snnleak.client import observe
from snnleak.models.victims import build_victim
from snnleak.reproduce.batching import resolve_batches
from snnleak.reproduce.plan import cells_for
from snnleak.reproduce.preset import Preset
from snnleak.seeding import trial_rng


@dataclass(frozen=True)
class CostRow:
    table: str
    attack: str
    dataset: str
    model: str
    cells: int
    trials: int  # optimisations (Algorithm 1 shares one among its thresholds)
    steps: int  # optimiser steps per trial
    seconds_per_step: float  # per trial, with `batch` trials run together
    batch: int = 1  # trials run together (the largest of the row's cells)

    @property
    def trials_per_hour(self) -> float:
        return 3600 / (self.seconds_per_step * self.steps) if self.seconds_per_step else 0.0

    @property
    def device_hours(self) -> float:
        return self.seconds_per_step * self.steps * self.trials / 3600


def steps_of(spec: AttackSpec) -> int:
    """Optimiser steps of one trial: the spec's, or its attack's default."""
    if spec.settings.steps is not None:
        return spec.settings.steps
    config = getattr(build_attack(spec), "config", None)
    return int(getattr(config, STEP_FIELDS.get(spec.attack, ""), 1))


def seconds_per_step(
    spec: AttackSpec, info: data.DatasetInfo, steps: int, device: torch.device, k: int = 1
) -> float:
    """Wall seconds of one optimiser step of one trial on ``device``, with ``k`` trials run
    together as the run runs them (the batched step's time over ``k``; mean over ``steps``)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(info.input_shape, generator=g, device="cpu")
    if info.modality == "events":
        x = (x < 0.1).float()
    xb = (x.unsqueeze(1) if info.modality == "events" else x.unsqueeze(0)).to(device)
    observations = [
        observe(
            build_victim(spec.victim, info, trial_rng(0, i, "victim"), device),
            xb,
            torch.tensor([1], device=device),
            info.modality,
        )
        for i in range(k)
    ]
    rngs = [trial_rng(0, i, "attack") for i in range(k)]
    reconstruct_many(build_attack(spec.with_(iterations=1)), observations, rngs)  # warm-up
    attack = build_attack(spec.with_(iterations=steps))
    rngs = [trial_rng(0, i, "attack") for i in range(k)]
    devices.synchronize(device)
    start = time.perf_counter()
    recs = reconstruct_many(attack, observations, rngs)
    devices.synchronize(device)
    return (time.perf_counter() - start) / max(1, max(r.steps for r in recs)) / k


def _kind(spec: AttackSpec) -> AttackSpec:
    """The spec with what does not change a step's cost made equal (so it is timed once)."""
    threshold = spec.settings.threshold and replace(spec.settings.threshold, level=0.5)
    return spec.with_(iterations=None, split="train", threshold=threshold)


def estimate(
    target: str,
    preset: Preset,
    backend: str,
    device: torch.device,
    steps: int = 2,
    on_row=None,
) -> list[CostRow]:
    """One row per (table, attack, dataset, model) of ``target``, each timed with the trials
    run together as the run will (``batch_trials`` resolved for ``device``)."""
    cells = cells_for(target, resolve_batches(preset, device), backend)
    timed: dict[tuple, float] = {}
    groups: dict[tuple, dict] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if device.type == "cpu" else threads)  # as a worker runs
    try:
        for cell in cells:
            spec = cell.spec
            info = data.info_of(spec.dataset)
            k = cell.batch_trials
            key = (_kind(spec), info.input_shape, k)
            if key not in timed:
                timed[key] = seconds_per_step(spec, info, steps, device, k)
            g = groups.setdefault(
                (cell.table, spec.attack, spec.dataset, spec.model),
                {"cells": 0, "trials": 0, "work": 0.0, "steps": 0, "batch": 1},
            )
            g["batch"] = max(g["batch"], k)
            n = steps_of(spec)
            g["cells"] += 1
            g["trials"] += cell.samples
            g["work"] += timed[key] * n * cell.samples
            g["steps"] = max(g["steps"], n)
    finally:
        torch.set_num_threads(threads)
    rows = []
    for (table, attack, dataset, model), g in groups.items():
        per_step = g["work"] / max(1, g["steps"] * g["trials"])
        row = CostRow(
            table, attack, dataset, model, g["cells"], g["trials"], g["steps"], per_step, g["batch"]
        )
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def workers_for(device: torch.device) -> int:
    if device.type == "cuda":
        return 1  # per GPU: the estimate is for one card
    return os.cpu_count() or 1


def summary(rows: list[CostRow], device: torch.device) -> str:
    """A markdown table per row and per table, in device-hours and wall hours."""
    workers = workers_for(device)
    unit = "GPU" if device.type == "cuda" else "CPU"
    lines = [
        f"| table | attack | dataset | model | cells | trials | steps | K | s/step | "
        f"trials/h | {unit}-h |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.table} | {r.attack} | {r.dataset} | {r.model} | {r.cells} | {r.trials} "
            f"| {r.steps} | {r.batch} | {r.seconds_per_step:.4f} "
            f"| {r.trials_per_hour * workers:.0f} | {r.device_hours:.2f} |"
        )
    per_table: dict[str, list] = {}
    for r in rows:
        t = per_table.setdefault(r.table, [0, 0.0])
        t[0] += r.trials
        t[1] += r.device_hours
    where = "one GPU" if device.type == "cuda" else f"here, {workers} worker(s)"
    lines += ["", f"| table | trials | {unit}-hours | wall hours ({where}) |"]
    lines += ["|---|---:|---:|---:|"]
    for table, (trials, hours) in per_table.items():
        lines.append(f"| {table} | {trials} | {hours:.2f} | {hours / workers:.2f} |")
    trials = sum(t[0] for t in per_table.values())
    total = sum(t[1] for t in per_table.values())
    lines.append(f"| total | {trials} | {total:.2f} | {total / workers:.2f} |")
    machines = math.ceil(total / workers / 24) if total else 0
    per_machine = "GPU" if device.type == "cuda" else f"{workers}-core"
    lines += [
        "",
        f"K: trials run together; s/step: per trial; trials/h: of one {per_machine} machine. "
        f"To finish in 24 hours: {machines} such machine(s) (`--executor ray`).",
    ]
    return "\n".join(lines)
