"""The one resumable loop of every command that runs trials (``attack``, ``reproduce``).

plan (cells -> fixed units) -> skip what is done -> run -> write outputs -> append record.

- A **cell** is one attack configuration with ``samples`` trials: the first ``samples`` items
  of the seeded permutation of the split, so ``attack`` and ``reproduce`` choose the same items.
- A **unit** is one executor task: a fixed slice of ``batch_trials`` of a cell's items, attacked
  together. Slices are fixed whatever is already done, so a resumed run computes exactly the
  batches an uninterrupted one does, and its records are the same to the last bit (a batched
  trial agrees with a lone one only to float rounding).
- A trial is **done** when its record is in the log and every output file the record names
  exists. A unit with any trial not done runs again, whole: its outputs are (re)written
  atomically *before* the record that names them is appended, records already there are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from snnleak.attacks.config import AttackSpec, Thresholding
from snnleak.errors import ConfigError
from snnleak.trials.records import RecordLog, record_key, trial_key


@dataclass(frozen=True)
class Cell:
    spec: AttackSpec
    samples: int
    batch_trials: int = 1
    post_thresholds: tuple[float, ...] = ()  # Algorithm 1: every threshold from one optimisation
    table: str = ""  # the reproduction table it fills ("" for 'snnleak attack')
    paper_dataset: str = ""  # the paper's name of the dataset it stands for

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {self.samples}")
        if self.batch_trials < 1:
            raise ConfigError(f"--batch-trials must be at least 1, got {self.batch_trials}")

    def specs(self) -> list[AttackSpec]:
        """The configurations this cell records (one per post threshold, else its own)."""
        if not self.post_thresholds:
            return [self.spec]
        return [self.spec.with_(threshold=Thresholding(t, "post")) for t in self.post_thresholds]

    def keys(self, index: int, seed: int) -> list[tuple]:
        return [trial_key(s, index, seed) for s in self.specs()]


@dataclass(frozen=True)
class Unit:
    """One executor task: the items ``indices`` of ``cell``, attacked together."""

    cell: Cell
    indices: tuple[int, ...]
    seed: int


class Outputs(Protocol):
    """The files that go with a record: which ones, and how to write them from a trial."""

    def paths(self, cell: Cell, record: dict) -> list[Path]: ...

    def write(self, cell: Cell, trial) -> None: ...


class NoOutputs:
    def paths(self, cell: Cell, record: dict) -> list[Path]:
        return []

    def write(self, cell: Cell, trial) -> None:
        pass


def sample_order(n: int, seed: int) -> list[int]:
    """A seeded permutation of ``range(n)``: trial i attacks its i-th item."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed), device="cpu").tolist()


def chosen_items(cell: Cell, split_size: int, seed: int) -> list[int]:
    if cell.spec.rehearsal:  # the attacker's own items, kept out of its decoders' fits
        from snnleak.attacks.learned import rehearsal_items

        kept = rehearsal_items(split_size)
        if cell.samples > len(kept):
            raise ConfigError(
                f"{cell.table or 'a rehearsal'}: {cell.samples} rehearsal items asked, "
                f"{cell.spec.dataset} keeps {len(kept)}; ask for at most {len(kept)}"
            )
        return kept[: cell.samples]
    if cell.samples > split_size:
        where = f"{cell.table}: " if cell.table else ""
        raise ConfigError(
            f"{where}{cell.samples} samples exceed the {split_size} items of "
            f"{cell.spec.dataset}; ask for at most {split_size}"
        )
    return sample_order(split_size, seed)[: cell.samples]


def is_done(log: RecordLog, outputs: Outputs, cell: Cell, index: int, seed: int) -> bool:
    for key in cell.keys(index, seed):
        record = log.get(key)
        if record is None or not all(p.exists() for p in outputs.paths(cell, record)):
            return False
    return True


def pending_units(
    cell: Cell, items: Sequence[int], seed: int, done: Callable[[Cell, int], bool]
) -> list[Unit]:
    """The fixed slices of ``items`` with any trial not done."""
    step = cell.batch_trials
    units = []
    for j in range(0, len(items), step):
        batch = tuple(items[j : j + step])
        if not all(done(cell, i) for i in batch):
            units.append(Unit(cell, batch, seed))
    return units


Execute = Callable[[Sequence[Unit]], Iterable[tuple[Unit, list]]]


def run_units(
    units: Sequence[Unit],
    log: RecordLog,
    execute: Execute,
    outputs: Outputs,
    on_record: Callable[[Cell, dict], None] = lambda cell, record: None,
) -> int:
    """Run ``units`` with ``execute`` (which yields ``(unit, trials)`` as each finishes); for
    each trial write its outputs, then append its record unless it is already there. Returns
    the number of new records."""
    new = 0
    for unit, trials in execute(units):
        for trial in trials:
            outputs.write(unit.cell, trial)
            if record_key(trial.record) in log:  # a unit reruns whole; keep what was written
                continue
            log.append(trial.record)
            new += 1
            on_record(unit.cell, trial.record)
    return new


def in_process(run_one: Callable[[Unit], list]) -> Execute:
    """An executor that runs the units one after another in this process."""

    def execute(units: Sequence[Unit]) -> Iterator[tuple[Unit, list]]:
        for unit in units:
            yield unit, run_one(unit)

    return execute
