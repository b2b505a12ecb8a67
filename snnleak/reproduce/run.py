"""One reproduction: plan the trials, run the missing ones, write the tables and figures.

Everything a run writes lives under ``out``:

- ``records.jsonl``: one record per trial, appended (and fsync'ed) as each finishes; a rerun
  skips every trial already there, so Ctrl-C loses at most the trials in flight;
- ``arrays/``: ground truth and reconstruction of the items Figures 3 and 4 show;
- ``tables/tableN.{md,csv,tex}``, ``figures/figN.png`` and ``manifest.json`` (preset, seed,
  backend, library versions, the command's target), each written atomically.

Only this process writes files; workers (see :mod:`snnleak.reproduce.executor`) return trials.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np
import torch

from snnleak import data, metrics
from snnleak.attacks.outputs import reconstruction_name
from snnleak.attacks.records import append_record, read_records, record_key
from snnleak.errors import ConfigError
from snnleak.info import package_versions
from snnleak.io import write_atomic, write_json_atomic
from snnleak.reproduce import figures, tables
from snnleak.reproduce.executor import Task, check_executor, execute
from snnleak.reproduce.plan import (
    FIGURE_ATTACKS,
    NEEDS,
    Cell,
    cells_for,
    chosen_items,
    pending_units,
)
from snnleak.reproduce.preset import Preset
from snnleak.reproduce.tables import Table

TABLE_TITLES = {"table4": "Table IV", "table5": "Table V"}


@dataclass(frozen=True)
class Run:
    """What to reproduce, with what, where; and how to spread the trials."""

    target: str
    preset: Preset
    out: Path
    backend: str | None = None  # None: the preset's
    data_root: Path | None = None
    cache_dir: Path | None = None
    executor: str = "local"
    workers: int | None = None  # None: one per core
    address: str | None = None  # a Ray cluster's address


@dataclass(frozen=True)
class Result:
    tables: tuple[Table, ...]
    files: tuple[Path, ...]
    new_records: int
    records: int


def _no_bar(total: int, initial: int, desc: str):
    class _Bar:
        def update(self, n: int = 1) -> None:
            pass

        def close(self) -> None:
            pass

    return _Bar()


def array_path(out: Path, record: dict) -> Path:
    return out / "arrays" / f"{reconstruction_name(record)}-{record['config_id']}.npz"


def _save_arrays(out: Path, record: dict, truth: torch.Tensor, recon: torch.Tensor) -> None:
    arrays = {"truth": truth.numpy(), "reconstruction": recon[0].detach().float().numpy()}
    write_atomic(array_path(out, record), lambda f: np.savez_compressed(f, **arrays))


def reproduce(
    run: Run,
    *,
    log: Callable[[str], None] = print,
    bar: Callable = _no_bar,
    on_record: Callable[[dict], None] | None = None,
) -> Result:
    """Run ``run.target``: the trials it needs that ``run.out`` lacks, then its outputs.

    ``bar(total, initial, desc)`` makes a progress bar per table (``update``, ``close``);
    ``on_record`` sees each new record once it is safely written."""
    from snnleak.judges import load_judge

    check_executor(run.executor, run.workers, run.address)
    preset, seed, out = run.preset, run.preset.seed, run.out
    backend = run.backend or preset.backend
    cells = cells_for(run.target, preset, backend)
    datasets = sorted({c.spec.dataset for c in cells})
    data6 = [preset.table6.dataset] if run.target in ("table6", "all") else []
    needed = list(dict.fromkeys([*datasets, *data6]))  # each split loaded once
    _check_data_root(needed, run)
    splits = {d: data.load(d, "test", root=run.data_root, seed=0) for d in needed}
    chosen = {c: chosen_items(c, len(splits[c.spec.dataset]), seed) for c in cells}
    split6 = splits[data6[0]] if data6 else None
    for d in datasets:  # trained here, once, before any worker needs them
        load_judge(d, data_root=run.data_root, cache_dir=run.cache_dir, log=log)

    path = out / "records.jsonl"
    by_key = {record_key(r): r for r in read_records(path)}
    shown = {  # the items Figures 3 and 4 show: the first of each Table IV cell
        c: set(chosen[c][: preset.figures.samples]) for c in cells if c.table == "table4"
    }
    queues, bars, recorded = [], {}, set(by_key)
    for table in NEEDS[run.target]:
        mine = cells_of(cells, table)
        total = sum(len(chosen[c]) * len(c.specs()) for c in mine)
        done = sum(k in by_key for c in mine for i in chosen[c] for k in c.keys(i, seed))
        bars[table] = bar(total, done, TABLE_TITLES[table])
        units = [u for c in mine for u in pending_units(c, chosen[c], seed, recorded)]
        queues.append([Task(u, run.data_root, run.cache_dir) for u in units])
    # the tables' units interleaved, so that every bar moves (and its time left means something)
    tasks = [t for group in zip_longest(*queues) for t in group if t is not None]

    new = 0
    try:
        for unit, trials in execute(tasks, run.executor, run.workers, run.address):
            for trial in trials:
                key = record_key(trial.record)
                if key in by_key:  # a unit reruns whole; keep the records already written
                    continue
                if trial.record["sample_index"] in shown.get(unit.cell, ()):
                    _save_arrays(out, trial.record, trial.truth, trial.reconstruction)
                append_record(path, trial.record)
                by_key[key] = trial.record
                new += 1
                bars[unit.cell.table].update(1)
                if on_record is not None:
                    on_record(trial.record)
    finally:
        for b in bars.values():
            b.close()

    made: list[Table] = []
    files: list[Path] = []
    if run.target in ("table4", "all"):
        infos = {d: s.info for d, s in splits.items()}
        made.append(tables.table4(cells_of(cells, "table4"), chosen, seed, by_key, infos))
    t5 = None
    if run.target in ("table5", "fig5", "all"):
        info5 = splits[preset.table5.dataset].info
        t5 = tables.table5(cells_of(cells, "table5"), chosen, seed, by_key, info5)
        if run.target != "fig5":
            made.append(t5)
    if split6 is not None:
        x, y = table6_items(split6, preset.table6.per_class)
        made.append(tables.table6(metrics.class_l2_statistics(x, y), split6.info, len(y)))
    for t in made:
        files += write_table(out / "tables", t)
    for fig in ("fig3", "fig4"):
        if run.target in (fig, "all"):
            files.append(reconstruction_figure(fig, out, cells, chosen, shown, seed, by_key))
    if t5 is not None and run.target in ("fig5", "all"):
        info5 = splits[preset.table5.dataset].info
        label = tables.data_label(info5, "DVS128 Gesture")[0]
        files.append(
            figures.threshold_sweep(
                out / "figures" / "fig5.png", t5, label, 100 / info5.num_classes
            )
        )
    files.append(
        write_json_atomic(
            out / "manifest.json",
            {
                "target": run.target,
                "preset": asdict(preset),
                "backend": backend,
                "seed": seed,
                "executor": run.executor,
                "data_root": None if run.data_root is None else str(run.data_root),
                "records": len(by_key),
                "new_records": new,
                "outputs": [str(f.relative_to(out)) for f in files],
                "versions": package_versions(),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
    )
    return Result(tuple(made), tuple(files), new, len(by_key))


def _check_data_root(datasets: list[str], run: Run) -> None:
    real = [d for d in datasets if data.get_dataset(d).real]
    if real and run.data_root is None:
        raise ConfigError(
            f"preset {run.preset.name!r} reads {', '.join(real)} from disk: pass --data-root DIR "
            f"(fetch them first with 'snnleak data info --dataset {real[0]} --data-root DIR "
            "--download'), or use --preset quick (embedded data)"
        )


def cells_of(cells: list[Cell], table: str) -> list[Cell]:
    return [c for c in cells if c.table == table]


def table6_items(split: data.Split, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test items Table VI measures: all, or the first ``per_class`` of each class."""
    taken: dict[int, int] = {}
    xs, ys = [], []
    for i in range(len(split)):
        x, y = split[i]
        if per_class and taken.get(y, 0) >= per_class:
            continue
        taken[y] = taken.get(y, 0) + 1
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.tensor(ys)


def write_table(folder: Path, t: Table) -> list[Path]:
    """``t`` as markdown, CSV and LaTeX, each written atomically."""
    paths = []
    for ext, render in (
        ("md", tables.to_markdown),
        ("csv", tables.to_csv),
        ("tex", tables.to_latex),
    ):
        text = render(t).encode()
        paths.append(write_atomic(folder / f"{t.name}.{ext}", lambda f, b=text: f.write(b)))
    return paths


def reconstruction_figure(
    fig: str, out: Path, cells: list[Cell], chosen: dict, shown: dict, seed: int, by_key: dict
) -> Path:
    """Fig. 3 (DLG, iDLG) or Fig. 4 (GRNN): per dataset and shown item, the ground truth and
    each attack's reconstruction on LeNet and SNN-LeNet."""
    mine = [c for c in cells if c.table == "table4" and c.spec.attack in FIGURE_ATTACKS[fig]]
    papers = list(dict.fromkeys(c.paper_dataset for c in mine))
    rows = []
    for paper in papers:
        row_cells = [c for c in mine if c.paper_dataset == paper]
        for i in chosen[row_cells[0]]:
            if i not in shown[row_cells[0]]:
                continue
            cols = []
            for c in row_cells:
                record = by_key.get(c.keys(i, seed)[0])
                p = None if record is None else array_path(out, record)
                name = f"{figures.NAMES[c.spec.attack]}\n{figures.NAMES[c.spec.model]}"
                cols.append((name, p if p is not None and p.exists() else None))
            rows.append((f"{paper}\n({row_cells[0].spec.dataset} #{i})", cols))
    title = {"fig3": "Fig. 3: DLG and iDLG", "fig4": "Fig. 4: GRNN"}[fig]
    return figures.reconstructions(out / "figures" / f"{fig}.png", rows, title)
