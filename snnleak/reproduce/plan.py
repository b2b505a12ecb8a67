"""From a preset and a target to cells (one table row's trials) and units (an executor's work).

A cell is one attack configuration on one dataset with ``samples`` trials; the trials are the
first ``samples`` items of the seeded permutation of the test split, exactly as
``snnleak attack`` chooses them, so a cell's records are the ones ``snnleak attack`` with the same
settings would write. Table V's post-optimisation cells (Algorithm 1) carry all thresholds: one
optimisation per item, one record per threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from snnleak.attacks.config import LBFGSConfig, Thresholding
from snnleak.attacks.runner import ATTACKS, MODELS, AttackSpec, sample_order, trial_key
from snnleak.errors import ConfigError
from snnleak.reproduce.preset import Preset

TARGETS = ("table4", "table5", "table6", "fig3", "fig4", "fig5", "all")
# what each target needs: the attack tables it draws on
NEEDS = {
    "table4": ("table4",),
    "fig3": ("table4",),
    "fig4": ("table4",),
    "table5": ("table5",),
    "fig5": ("table5",),
    "table6": (),
    "all": ("table4", "table5"),
}
FIGURE_ATTACKS = {"fig3": ("dlg", "idlg"), "fig4": ("grnn",)}


@dataclass(frozen=True)
class Cell:
    table: str  # "table4" or "table5"
    spec: AttackSpec
    samples: int
    batch_trials: int
    paper_dataset: str  # the paper's name of the dataset this cell stands for
    post_thresholds: tuple[float, ...] = ()  # Algorithm 1, every threshold from one optimisation

    def specs(self) -> list[AttackSpec]:
        """The configurations this cell records (one per post threshold, else its own)."""
        if not self.post_thresholds:
            return [self.spec]
        return [replace(self.spec, threshold=Thresholding(t, "post")) for t in self.post_thresholds]

    def keys(self, index: int, seed: int) -> list[tuple]:
        return [trial_key(s, index, seed) for s in self.specs()]


@dataclass(frozen=True)
class Unit:
    """One executor task: the items ``indices`` of ``cell``, attacked together."""

    cell: Cell
    indices: tuple[int, ...]
    seed: int


def table4_cells(preset: Preset, backend: str, attacks=ATTACKS) -> list[Cell]:
    p = preset.table4
    cells = []
    for attack in attacks:
        for paper, dataset in p.datasets:
            for model in MODELS:
                spec = AttackSpec(
                    attack,
                    model,
                    dataset,
                    backend=backend,
                    timesteps=p.timesteps,
                    iterations=p.iterations_of(attack),
                    lbfgs=LBFGSConfig(max_iter=p.lbfgs_max_iter),
                )
                batch = 1 if attack == "grnn" else p.batch_trials
                cells.append(Cell("table4", spec, p.samples, batch, paper))
    return cells


def table5_cells(preset: Preset, backend: str) -> list[Cell]:
    p = preset.table5

    def spec(attack: str, threshold: Thresholding | None) -> AttackSpec:
        return AttackSpec(
            attack,
            "snn",
            p.dataset,
            backend=backend,
            iterations=p.iterations,
            threshold=threshold,
            lbfgs=LBFGSConfig(max_iter=p.lbfgs_max_iter),
        )

    cells = []
    for attack in ("dlg", "idlg"):
        cells.append(
            Cell(
                "table5",
                spec(attack, None),
                p.samples,
                p.batch_trials,
                "DVS128 Gesture",
                p.thresholds,
            )
        )
        for tau in p.thresholds:
            cells.append(
                Cell(
                    "table5",
                    spec(attack, Thresholding(tau, "in")),
                    p.samples,
                    p.batch_trials,
                    "DVS128 Gesture",
                )
            )
    return cells


def cells_for(target: str, preset: Preset, backend: str) -> list[Cell]:
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    cells = []
    if "table4" in NEEDS[target]:
        cells += table4_cells(preset, backend, FIGURE_ATTACKS.get(target, ATTACKS))
    if "table5" in NEEDS[target]:
        cells += table5_cells(preset, backend)
    return cells


def chosen_items(cell: Cell, split_size: int, seed: int) -> list[int]:
    if cell.samples > split_size:
        raise ConfigError(
            f"{cell.table}: {cell.samples} samples per cell exceed the {split_size} test items "
            f"of {cell.spec.dataset}; lower 'samples' in the preset"
        )
    return sample_order(split_size, seed)[: cell.samples]


def pending_units(cell: Cell, items: list[int], seed: int, done: set[tuple]) -> list[Unit]:
    """The units still to run: the batches with any record missing.

    Batches are fixed slices of the chosen items, whatever is already done, so a resumed run
    computes exactly the batches an uninterrupted one does (a batched trial agrees with a lone
    one only to float rounding): its records are the same to the last bit."""
    step = cell.batch_trials
    units = []
    for j in range(0, len(items), step):
        batch = tuple(items[j : j + step])
        if not all(k in done for i in batch for k in cell.keys(i, seed)):
            units.append(Unit(cell, batch, seed))
    return units
