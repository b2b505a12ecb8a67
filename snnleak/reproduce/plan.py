"""From a preset and a target to the cells of :mod:`snnleak.trials.loop` (one table row's trials).

A cell's trials are chosen exactly as ``snnleak attack`` chooses them, so its records are the ones
``snnleak attack`` with the same settings would write. Table V's post-optimisation cells
(Algorithm 1) carry all thresholds: one optimisation per item, one record per threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from snnleak import data
from snnleak.attacks.config import (
    LINE_SEARCHES,
    LOSS_NORMS,
    MODELS,
    PAPER_ATTACKS,
    AttackSpec,
    LBFGSConfig,
    Thresholding,
    spec_of,
)
from snnleak.errors import ConfigError
from snnleak.reproduce.ablation_plan import ablation_applies, ablation_points
from snnleak.reproduce.batching import batch_of
from snnleak.reproduce.optimiser_plan import default_optimiser
from snnleak.reproduce.preset import Optimiser, Preset
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


def table4_cell(
    preset: Preset,
    backend: str,
    attack: str,
    model: str,
    paper: str,
    dataset: str,
    *,
    samples: int,
    table: str,
    iterations: int | None,
    split: str | None = None,
    victims: str = "fresh",
    broadcasts: int = 1,
    decoder: str = "mlp",
    rehearsal: bool = False,
) -> Cell:
    """One cell on Table IV's protocol: its T, split, GRNN and, for DLG/iDLG, the L-BFGS of
    the (model, dataset) (GRNN and the adaptive attacks bring their own optimisers)."""
    p = preset.table4
    opt = preset.optimiser_of(model, dataset) if attack in ("dlg", "idlg") else Optimiser()
    spec = spec_of(
        attack,
        model,
        dataset,
        accelerate=preset.accelerate and ":" in model,
        backend=backend,
        timesteps=p.timesteps,
        iterations=iterations,
        lbfgs=LBFGSConfig(lr=opt.lr, max_iter=p.lbfgs_max_iter, line_search=opt.line_search),
        grnn_wasserstein=p.grnn_wasserstein,
        split=split or p.split,
        loss_norm=opt.loss_norm,
        grnn_generator=p.grnn_generator,
        victims=victims,
        broadcasts=broadcasts,
        decoder=decoder,
        rehearsal=rehearsal,
    )
    batch = batch_of(p.batch_trials, samples, spec)
    return Cell(spec, samples, batch, table=table, paper_dataset=paper)


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


# the optimiser grid of `reproduce sweep`: L-BFGS lr x line search x loss normalisation
SWEEP_LRS = (1.0, 0.1, 0.01, 1e-3)
SWEEP_GRID = tuple(
    Optimiser(lr, line_search, norm)
    for lr in SWEEP_LRS
    for line_search in LINE_SEARCHES
    for norm in LOSS_NORMS
)


def sweep_models(preset: Preset, dataset: str) -> tuple[str, ...]:
    """The victims the sweep tunes on ``dataset``: the preset's (LeNet and SNN-LeNet, or a
    plug-in), without the ANN LeNet on event data."""
    events = data.get_dataset(dataset).modality == "events"
    return tuple(m for m in preset.models if not (events and m == "ann"))


def sweep_spec(
    preset: Preset, backend: str, model: str, dataset: str, opt: Optimiser
) -> AttackSpec:
    p = preset.sweep
    return spec_of(
        p.attack,
        model,
        dataset,
        accelerate=preset.accelerate and ":" in model,
        backend=backend,
        timesteps=p.timesteps,
        iterations=p.iterations,
        lbfgs=LBFGSConfig(
            lr=opt.lr, max_iter=preset.table4.lbfgs_max_iter, line_search=opt.line_search
        ),
        split=preset.table4.split,
        loss_norm=opt.loss_norm,
    )


def sweep_cells(preset: Preset, backend: str, chosen: dict | None = None) -> list[Cell]:
    """The tuning cells (every grid point, ``tune`` items each, per model and dataset) or, given
    the choice per (model, dataset), the evaluation cells: the chosen and the default optimiser on
    ``tune + evaluate`` items (the first ``tune`` are the tuning items, already done)."""
    p = preset.sweep
    cells = []
    for dataset in p.datasets:
        for model in sweep_models(preset, dataset):
            grid = SWEEP_GRID
            if chosen is not None:
                grid = tuple(dict.fromkeys([chosen[(model, dataset)], default_optimiser(model)]))
            samples = p.tune if chosen is None else p.tune + p.evaluate
            for opt in grid:
                batch = preset.table4.batch_trials
                spec = sweep_spec(preset, backend, model, dataset, opt)
                cells.append(Cell(spec, samples, batch_of(batch, samples, spec), table="sweep"))
    return cells


def adaptive_cells(preset: Preset, backend: str) -> list[Cell]:
    """Table IV's data and victims under the paper's attacks and the adaptive ones: a paper
    attack keeps Table IV's budget and optimiser; an adaptive one its own defaults. With
    ``rehearse``, every attack also runs on that many of the attacker's own public items (the
    rehearsal items no decoder trains on), on the clients' victims; with ``broadcasts``, the
    clients of that many rounds (``samples`` each), the rehearsal items spread over them."""
    p, a = preset.table4, preset.adaptive
    datasets = [(paper, d) for paper, d in p.datasets if not a.datasets or d in a.datasets]
    split = a.split or p.split
    public = "train" if split == "test" else "test"
    clients = a.samples * a.broadcasts
    runs = [(split, clients, False)] + ([(public, a.rehearse, True)] if a.rehearse else [])
    return [
        table4_cell(
            preset,
            backend,
            attack,
            model,
            paper,
            dataset,
            samples=samples,
            table="adaptive",
            iterations=p.iterations_of(attack) if attack in PAPER_ATTACKS else a.iterations,
            split=where,
            victims=a.victims,
            broadcasts=a.broadcasts,
            decoder=a.decoder,
            rehearsal=rehearsal,
        )
        for where, samples, rehearsal in runs
        for attack in a.attacks
        for paper, dataset in datasets
        for model in preset.models
        if not (model == "ann" and data.get_dataset(dataset).modality == "events")
    ]


def ablation_cells(preset: Preset, backend: str) -> list[Cell]:
    """The SNN victim at every ablation point, under each of the preset's ablation attacks
    (a paper attack keeps Table IV's budget and optimiser; an adaptive one its defaults)."""
    p, a = preset.table4, preset.ablations
    cells = []
    seen = set()
    for factor, _, victim in ablation_points(a):
        for attack in a.attacks:
            if not ablation_applies(attack, factor):
                continue
            key = (attack, tuple(sorted(victim.items())))
            if key in seen:  # the base victim is shared by the three factors
                continue
            seen.add(key)
            base = table4_cell(
                preset,
                backend,
                attack,
                "snn",
                "MNIST",
                a.dataset,
                samples=a.samples,
                table="ablations",
                iterations=p.iterations_of(attack) if attack in PAPER_ATTACKS else None,
                split=a.split,
                victims=a.victims,
            )
            spec = base.spec.with_(
                **victim,
                # the fused kernels implement ATan only
                backend=base.spec.victim.backend if victim["surrogate"] == "atan" else "reference",
            )
            cells.append(replace(base, spec=spec))
    return cells
