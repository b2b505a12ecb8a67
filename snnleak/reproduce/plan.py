"""From a preset and a target to the cells of :mod:`snnleak.trials.loop` (one table row's trials).

A cell's trials are chosen exactly as ``snnleak attack`` chooses them, so its records are the ones
``snnleak attack`` with the same settings would write. Table V's post-optimisation cells
(Algorithm 1) carry all thresholds: one optimisation per item, one record per threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnleak import data
from snnleak.attacks.config import (
    MODELS,
    PAPER_ATTACKS,
    AttackSpec,
    LBFGSConfig,
    Thresholding,
    spec_of,
)
from snnleak.errors import ConfigError
from snnleak.reproduce.ablations import ablation_cells
from snnleak.reproduce.adaptive import adaptive_cells
from snnleak.reproduce.batching import batch_of
from snnleak.reproduce.cells import table4_cell
from snnleak.reproduce.preset import Optimiser, Preset
from snnleak.reproduce.sweep import sweep_cells
from snnleak.trials.loop import Cell


@dataclass(frozen=True)
class Plan:
    """What one reproduction works on, settled before any compute."""

    cells: list
    chosen: dict  # Cell -> item indices
    splits: dict  # (dataset, split name) -> data.Split
    shown: dict  # Cell -> the items Figures 3 and 4 show

    def split_of(self, cell: Cell) -> data.Split:
        return self.splits[(cell.spec.dataset, cell.spec.split)]

    def info(self, dataset: str) -> data.DatasetInfo:
        return next(s.info for (d, _), s in self.splits.items() if d == dataset)


TARGETS = (
    "table2",
    "table4",
    "table5",
    "table6",
    "fig3",
    "fig4",
    "fig5",
    "sweep",
    "adaptive",
    "ablations",
    "defenses",
    "all",
)
# what each target needs: the attack tables it draws on
NEEDS = {
    "table4": ("table4",),
    "fig3": ("table4",),
    "fig4": ("table4",),
    "table5": ("table5",),
    "fig5": ("table5",),
    "table2": (),
    "table6": (),
    "sweep": ("sweep",),
    "adaptive": ("adaptive",),
    "ablations": ("ablations",),
    "defenses": (),  # federations, not cells: snnleak.reproduce.defenses
    "all": ("table4", "table5"),
}
MODEL_TARGETS = ("adaptive", "sweep")  # the targets that take a plug-in victim (--model)
FIGURE_ATTACKS = {"fig3": ("dlg", "idlg"), "fig4": ("grnn",)}


def table4_cells(preset: Preset, backend: str, attacks=PAPER_ATTACKS) -> list[Cell]:
    p = preset.table4
    return [
        table4_cell(
            preset,
            backend,
            attack,
            model,
            paper,
            dataset,
            samples=p.samples,
            table="table4",
            iterations=p.iterations_of(attack),
        )
        for attack in attacks
        for paper, dataset in p.datasets
        for model in MODELS
    ]


def table5_optimisers(preset: Preset) -> tuple[Optimiser, ...]:
    """Table V's optimisers: the default (DLG's L-BFGS) and, beside it when it differs, the one
    the sweep chose on the event data by what the attacker observes."""
    return tuple(dict.fromkeys([Optimiser(), preset.optimiser_of("snn", preset.table5.dataset)]))


def table5_cells(preset: Preset, backend: str) -> list[Cell]:
    p = preset.table5

    def spec(attack: str, threshold: Thresholding | None, opt: Optimiser) -> AttackSpec:
        return spec_of(
            attack,
            "snn",
            p.dataset,
            backend=backend,
            iterations=p.iterations,
            threshold=threshold,
            lbfgs=LBFGSConfig(lr=opt.lr, max_iter=p.lbfgs_max_iter, line_search=opt.line_search),
            split=p.split,
            loss_norm=opt.loss_norm,
        )

    cells = []
    for opt in table5_optimisers(preset):
        batch = p.batch_trials
        for attack in ("dlg", "idlg"):
            cells.append(
                Cell(
                    spec(attack, None, opt),
                    p.samples,
                    batch_of(batch, p.samples, spec(attack, None, opt)),
                    post_thresholds=p.thresholds,
                    table="table5",
                    paper_dataset="DVS128 Gesture",
                )
            )
            for level in p.thresholds:
                cells.append(
                    Cell(
                        spec(attack, Thresholding(level, "in"), opt),
                        p.samples,
                        batch_of(batch, p.samples, spec(attack, None, opt)),
                        table="table5",
                        paper_dataset="DVS128 Gesture",
                    )
                )
    return cells


def cells_for(target: str, preset: Preset, backend: str) -> list[Cell]:
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    if preset.models != MODELS and target not in MODEL_TARGETS:
        raise ConfigError(
            f"--model applies to reproduce {' and '.join(MODEL_TARGETS)}; {target} reproduces "
            "the paper's LeNet and SNN-LeNet"
        )
    cells = []
    if "table4" in NEEDS[target]:
        cells += table4_cells(preset, backend, FIGURE_ATTACKS.get(target, PAPER_ATTACKS))
    if "table5" in NEEDS[target]:
        cells += table5_cells(preset, backend)
    if "sweep" in NEEDS[target]:
        cells += sweep_cells(preset, backend)
    if "adaptive" in NEEDS[target]:
        cells += adaptive_cells(preset, backend)
    if "ablations" in NEEDS[target]:
        cells += ablation_cells(preset, backend)
    return cells
