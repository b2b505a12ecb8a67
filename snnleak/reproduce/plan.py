"""From a preset and a target to the cells of :mod:`snnleak.attacks.loop` (one table row's trials).

A cell's trials are chosen exactly as ``snnleak attack`` chooses them, so its records are the ones
``snnleak attack`` with the same settings would write. Table V's post-optimisation cells
(Algorithm 1) carry all thresholds: one optimisation per item, one record per threshold.
"""

from __future__ import annotations

from snnleak.attacks.config import ATTACKS, MODELS, AttackSpec, LBFGSConfig, Thresholding
from snnleak.attacks.loop import Cell
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
                cells.append(Cell(spec, p.samples, batch, table="table4", paper_dataset=paper))
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
                spec(attack, None),
                p.samples,
                p.batch_trials,
                post_thresholds=p.thresholds,
                table="table5",
                paper_dataset="DVS128 Gesture",
            )
        )
        for tau in p.thresholds:
            cells.append(
                Cell(
                    spec(attack, Thresholding(tau, "in")),
                    p.samples,
                    p.batch_trials,
                    table="table5",
                    paper_dataset="DVS128 Gesture",
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
