"""One reproduction: plan the trials, run the missing ones, write the tables and figures.

Everything a run writes lives under ``out``:

- ``records.jsonl``: one record per trial, appended (and fsync'ed) as each finishes, through the
  one resumable loop (:mod:`snnleak.attacks.loop`): a rerun skips every trial already there, so
  Ctrl-C loses at most the trials in flight; one run at a time holds ``out``;
- ``arrays/``: ground truth and reconstruction of the items Figures 3 and 4 show, written before
  the record that names them (a resume remakes any that is missing);
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
from snnleak.attacks.loop import Cell, Unit, chosen_items, is_done, pending_units, run_units
from snnleak.attacks.outputs import reconstruction_name
from snnleak.attacks.records import RecordLog
from snnleak.attacks.runner import check_memory
from snnleak.data.base import download_hint
from snnleak.errors import ConfigError
from snnleak.info import package_versions
from snnleak.io import claim_folder, write_atomic, write_json_atomic
from snnleak.reproduce import figures, tables
from snnleak.reproduce.executor import Task, check_executor, execute
from snnleak.reproduce.plan import FIGURE_ATTACKS, NEEDS, cells_for
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


@dataclass(frozen=True)
class FigureArrays:
    """The loop's outputs here: arrays of the items the figures show (the first of each
    Table IV cell), ground truth and reconstruction."""

    out: Path
    shown: dict  # Cell -> set of item indices

    def paths(self, cell: Cell, record: dict) -> list[Path]:
        if record["sample_index"] not in self.shown.get(cell, ()):
            return []
        return [array_path(self.out, record)]

    def write(self, cell: Cell, trial) -> None:
        for path in self.paths(cell, trial.record):
            arrays = {
                "truth": trial.truth.numpy(),
                "reconstruction": trial.reconstruction[0].detach().float().numpy(),
            }
            write_atomic(path, lambda f, a=arrays: np.savez_compressed(f, **a))


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
    for c in cells:
        check_memory(c.spec, splits[c.spec.dataset].info, min(c.batch_trials, c.samples))
    split6 = splits[data6[0]] if data6 else None
    with claim_folder(out):
        for d in datasets:  # trained here, once, before any worker needs them
            load_judge(d, data_root=run.data_root, cache_dir=run.cache_dir, log=log)
        log_ = RecordLog(out / "records.jsonl", warn=log)
        shown = {  # the items Figures 3 and 4 show: the first of each Table IV cell
            c: set(chosen[c][: preset.figures.samples]) for c in cells if c.table == "table4"
        }
        outputs = FigureArrays(out, shown)

        def done(cell: Cell, index: int) -> bool:
            return is_done(log_, outputs, cell, index, seed)

        queues, bars = [], {}
        for table in NEEDS[run.target]:
            mine = cells_of(cells, table)
            total = sum(len(chosen[c]) * len(c.specs()) for c in mine)
            finished = sum(k in log_ for c in mine for i in chosen[c] for k in c.keys(i, seed))
            bars[table] = bar(total, finished, TABLE_TITLES[table])
            queues.append([u for c in mine for u in pending_units(c, chosen[c], seed, done)])
        # the tables' units interleaved, so that every bar moves (and its time left means
        # something)
        units = [u for group in zip_longest(*queues) for u in group if u is not None]

        def run_all(units: list[Unit]):
            tasks = [Task(u, run.data_root, run.cache_dir) for u in units]
            return execute(tasks, run.executor, run.workers, run.address)

        def recorded(cell: Cell, record: dict) -> None:
            bars[cell.table].update(1)
            if on_record is not None:
                on_record(record)

        try:
            new = run_units(units, log_, run_all, outputs, recorded)
        finally:
            for b in bars.values():
                b.close()
        by_key = log_.by_key
        result = _outputs(run, cells, chosen, shown, splits, split6, by_key, new, backend)
    return result


def _outputs(run, cells, chosen, shown, splits, split6, by_key, new, backend) -> Result:
    """The tables, figures and manifest of ``run`` from its records."""
    preset, seed, out = run.preset, run.preset.seed, run.out
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
            f"(fetch each first with '{download_hint(real[0])}'), or use --preset quick "
            "(embedded data)"
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
