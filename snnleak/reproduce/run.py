"""One reproduction: plan the trials, run the missing ones, write the tables and figures.

Everything a run writes lives under ``out``:

- ``records.jsonl``: one record per trial, appended (and fsync'ed) as each finishes, through the
  one resumable loop (:mod:`snnleak.trials.loop`): a rerun skips every trial already there, so
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

from snnleak import data
from snnleak.data.base import download_hint
from snnleak.device import cuda_options
from snnleak.device import resolve as resolve_device
from snnleak.errors import ConfigError
from snnleak.info import package_versions
from snnleak.io import claim_folder, write_json_atomic
from snnleak.reporting import Table
from snnleak.reproduce import sweep
from snnleak.reproduce.batching import resolve_batches
from snnleak.reproduce.executor import Task, check_executor, devices_of, execute
from snnleak.reproduce.outputs import FigureArrays, write_table
from snnleak.reproduce.plan import Plan, cells_for
from snnleak.reproduce.preset import Preset
from snnleak.reproduce.results import tables_and_figures
from snnleak.trials.loop import Cell, Unit, chosen_items, is_done, pending_units, run_units
from snnleak.trials.records import RecordLog
from snnleak.trials.runner import check_cell

TABLE_TITLES = {
    "table4": "Table IV",
    "table5": "Table V",
    "sweep": "Sweep",
    "adaptive": "Adaptive",
    "ablations": "Ablations",
}


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
    device: str = "cpu"  # auto, cpu, cuda (one worker per GPU) or cuda:N
    tables_only: bool = False  # the outputs from OUT's records alone: no trial, no judge


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


def planned(run: Run) -> Preset:
    """``run``'s preset with its trials run together chosen for its device (the manifest keeps
    the preset as given: ``"auto"``)."""
    return resolve_batches(run.preset, resolve_device(run.device))


def plan_run(run: Run) -> Plan:
    """The cells of ``run.target``, their items and data; every check on the input is here."""
    preset, seed = run.preset, run.preset.seed
    cells = cells_for(run.target, planned(run), run.backend or preset.backend)
    wanted = [(c.spec.dataset, c.spec.split) for c in cells]
    if run.target in ("table6", "all"):
        wanted.append((preset.table6.dataset, "test"))
    wanted = list(dict.fromkeys(wanted))  # each split loaded once
    _check_data_root([d for d, _ in wanted], run)
    splits = {(d, s): data.load(d, s, root=run.data_root, seed=0) for d, s in wanted}
    chosen = {
        c: check_cell(c, splits[(c.spec.dataset, c.spec.split)], seed, run.data_root)[0]
        for c in cells
    }
    shown = {  # the items Figures 3 and 4 show: the first of each Table IV cell
        c: set(chosen[c][: preset.figures.samples])
        for c in cells
        if c.table in ("table4", "adaptive") and not c.spec.rehearsal
    }
    return Plan(cells, chosen, splits, shown)


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
    preset, out = run.preset, run.out
    if run.tables_only and run.target in ("sweep", "defenses", "table2"):
        raise ConfigError(
            f"--tables-only rebuilds tables from trial records; {run.target} chooses or trains "
            "as it goes: run it without --tables-only"
        )
    if run.target == "defenses":
        return _defenses(run, log, bar)
    plan = plan_run(run)
    if run.tables_only:
        return _tables_only(run, plan)
    with claim_folder(out):
        judged = sorted({c.spec.dataset for c in plan.cells})
        if run.target == "table2":
            judged = judge_datasets(preset)
        for d in judged:  # trained here, once, before any worker needs them
            load_judge(
                d,
                data_root=run.data_root,
                cache_dir=run.cache_dir,
                require_imagenet=preset.judges.require_imagenet,
                log=log,
                device=resolve_device(run.device),
            )
        records = RecordLog(out / "records.jsonl", warn=log)
        outputs = FigureArrays(out, plan.shown)
        new = _run_cells(run, plan.cells, plan.chosen, records, outputs, bar, on_record)
        if run.target == "sweep":  # the second phase: the choice on held-out items
            return _sweep_choice(run, plan, records, outputs, bar, on_record, new)
        return _outputs(run, plan, records.by_key, new)


def _tables_only(run: Run, plan: Plan) -> Result:
    """The tables and figures of ``run`` from the records (and figure arrays) in ``run.out``,
    running nothing: what a reader does with shipped records to check every number."""
    path = run.out / "records.jsonl"
    if not path.exists():
        raise ConfigError(f"--tables-only reads {path}, which does not exist: pass --out DIR")
    with claim_folder(run.out):
        records = RecordLog(path, warn=lambda m: None)
        outputs = FigureArrays(run.out, plan.shown)
        seed = run.preset.seed
        trials = [(c, i) for c in plan.cells for i in plan.chosen[c]]
        missing = sum(not is_done(records, outputs, c, i, seed) for c, i in trials)
        if missing:
            raise ConfigError(
                f"--tables-only: {missing} of the {len(trials)} trials of {run.target} (or their "
                f"figure arrays) are not in {run.out}; rerun without --tables-only to run "
                "them, or check --preset and --samples against the run that made the records"
            )
        return _outputs(run, plan, records.by_key, 0)


def _sweep_choice(run, plan, records, outputs, bar, on_record, new: int) -> Result:
    """The sweep's second phase: choose per (model, dataset) on the tuning items, then run the
    choice and the default setting on held-out items, and write the table."""
    preset, seed = run.preset, run.preset.seed
    backend = run.backend or preset.backend
    tune = {c.spec.dataset: plan.chosen[c] for c in plan.cells}  # a dataset's cells share them
    choice = sweep.choose(preset, backend, tune, seed, records.by_key)
    cells = sweep.sweep_cells(planned(run), backend, choice)
    chosen = {c: chosen_items(c, len(plan.split_of(c)), seed) for c in cells}
    new += _run_cells(run, cells, chosen, records, outputs, bar, on_record)
    held_out = {c.spec.dataset: chosen[c][len(tune[c.spec.dataset]) :] for c in cells}
    table = sweep.table(preset, backend, tune, held_out, seed, records.by_key, choice)
    return _finish(run, [table], [], records.by_key, new)


def _run_cells(run, cells, chosen, records, outputs, bar, on_record) -> int:
    """The one loop over ``cells``: skip what is done, run the rest (interleaving the tables'
    units, so that every table's progress bar moves), write outputs and records."""
    seed = run.preset.seed

    def done(cell: Cell, index: int) -> bool:
        return is_done(records, outputs, cell, index, seed)

    queues, bars = [], {}
    for table in dict.fromkeys(c.table for c in cells):
        mine = cells_of(cells, table)
        total = sum(len(chosen[c]) * len(c.specs()) for c in mine)
        finished = sum(k in records for c in mine for i in chosen[c] for k in c.keys(i, seed))
        bars[table] = bar(total, finished, TABLE_TITLES.get(table, table))
        queues.append([u for c in mine for u in pending_units(c, chosen[c], seed, done)])
    units = [u for group in zip_longest(*queues) for u in group if u is not None]

    def run_all(units: list[Unit]):
        tasks = [Task(u, run.data_root, run.cache_dir, run.device, cuda_options()) for u in units]
        return execute(tasks, run.executor, run.workers, run.address)

    def recorded(cell: Cell, record: dict) -> None:
        bars[cell.table].update(1)
        if on_record is not None:
            on_record(record)

    try:
        return run_units(units, records, run_all, outputs, recorded)
    finally:
        for b in bars.values():
            b.close()


def _defenses(run: Run, log: Callable[[str], None], bar: Callable) -> Result:
    """``reproduce defenses``: federations on Flower, one per model and defense."""
    from snnleak.judges import JUDGES, load_judge
    from snnleak.reproduce import defenses

    plan, device = run.preset.defenses, resolve_device(run.device)
    with claim_folder(run.out):
        judge = None
        if plan.dataset in JUDGES:
            judge = load_judge(
                plan.dataset,
                data_root=run.data_root,
                cache_dir=run.cache_dir,
                log=log,
                device=device,
            ).model
        rows = defenses.run(
            plan,
            run.backend or run.preset.backend,
            run.preset.seed,
            run.out,
            device,
            judge,
            log,
            lambda total, done: bar(total, done, "defenses"),
            run.data_root,
        )
        fig = defenses.figure(rows, run.out / "figures" / "defenses.png")
        return _finish(run, [defenses.table(plan, rows)], [fig], {}, 0)


def judge_datasets(preset: Preset) -> list[str]:
    """Every dataset the preset judges: Table IV's and Table V's."""
    return list(dict.fromkeys([*(d for _, d in preset.table4.datasets), preset.table5.dataset]))


def _outputs(run: Run, plan: Plan, by_key: dict, new: int) -> Result:
    """The tables, figures and manifest of ``run`` from its records."""
    metas = judge_tables(run.preset, run) if run.target == "table2" else ()
    made, figs = tables_and_figures(run.target, run.preset, run.out, plan, by_key, metas)
    return _finish(run, made, figs, by_key, new)


def _finish(run: Run, made: list[Table], figs: list[Path], by_key: dict, new: int) -> Result:
    """Write the tables and the manifest; the result."""
    preset, out = run.preset, run.out
    files: list[Path] = []
    for t in made:
        files += write_table(out / "tables", t)
    files += figs
    files.append(
        write_json_atomic(
            out / "manifest.json",
            {
                "target": run.target,
                "preset": asdict(preset),
                "backend": run.backend or preset.backend,
                "seed": preset.seed,
                "executor": run.executor,
                **devices_of(run.device),
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


def judge_tables(preset: Preset, run: Run) -> list[tuple[str, str, dict]]:
    """(the paper's dataset, ours, the judge's checkpoint meta) for Table II."""
    from snnleak.judges import load_judge

    pairs = [*preset.table4.datasets, ("DVS128 Gesture", preset.table5.dataset)]
    return [
        (
            paper,
            ours,
            load_judge(
                ours, data_root=run.data_root, cache_dir=run.cache_dir, train_if_missing=False
            ).meta,
        )
        for paper, ours in pairs
    ]


def _check_data_root(datasets: list[str], run: Run) -> None:
    real = list(dict.fromkeys(d for d in datasets if data.get_dataset(d).real))
    if real and run.data_root is None:
        raise ConfigError(
            f"preset {run.preset.name!r} reads {', '.join(real)} from disk: pass --data-root DIR "
            f"(fetch each first with '{download_hint(real[0])}'), or use --preset quick "
            "(embedded data)"
        )


def cells_of(cells: list[Cell], table: str) -> list[Cell]:
    return [c for c in cells if c.table == table]
