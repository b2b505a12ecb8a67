"""The tables and figures of a reproduction, made from its records (no trial runs here)."""

from __future__ import annotations

from pathlib import Path

from snnleak import metrics
from snnleak.reporting import Table
from snnleak.reproduce import ablations, adaptive, adaptive_figures, figures, table4, tables
from snnleak.reproduce.outputs import array_path, reconstruction_figure, table6_items
from snnleak.reproduce.plan import Plan
from snnleak.reproduce.preset import Preset
from snnleak.trials.loop import Cell


def _cells_of(cells: list[Cell], table: str) -> list[Cell]:
    return [c for c in cells if c.table == table]


def _neighbours(out: Path, cells: list[Cell], plan: Plan, seed: int, by_key: dict) -> list[Path]:
    """Per dataset of the adaptive study: its SNN clients' reconstructions beside their pool
    neighbours (:mod:`snnleak.reproduce.adaptive_figures`)."""
    made = []
    for paper in dict.fromkeys(c.paper_dataset for c in cells):
        mine = [c for c in cells if c.paper_dataset == paper]
        clients = next(c for c in mine if not c.spec.rehearsal)
        per, rehearsed = adaptive.by_attack(mine, plan.chosen, seed, by_key)
        path = out / "figures" / f"adaptive-neighbours-{clients.spec.dataset}.png"
        shown = sorted(plan.shown.get(clients, ()))
        split = plan.split_of(clients)
        fig = adaptive_figures.neighbours_figure(
            path, per, rehearsed, shown, split, lambda r: array_path(out, r)
        )
        made += [fig] if fig is not None else []
    return made


def tables_and_figures(
    target: str, preset: Preset, out: Path, plan: Plan, by_key: dict, judge_metas=()
) -> tuple[list[Table], list[Path]]:
    """The tables and figures of ``target``, from the records of its ``plan``; Table II from
    ``judge_metas`` (the paper's dataset, ours, the judge's checkpoint meta)."""
    seed = preset.seed
    cells, chosen = plan.cells, plan.chosen
    made: list[Table] = []
    figs: list[Path] = []
    if target == "table2":
        made.append(tables.table2(list(judge_metas), preset.judges.require_imagenet))
    infos = {c.spec.dataset: plan.split_of(c).info for c in cells}
    if target == "adaptive":
        mine = _cells_of(cells, "adaptive")
        made.append(adaptive.table(mine, chosen, seed, by_key, infos))
        figs.append(
            adaptive_figures.picks_figure(
                out / "figures" / "adaptive.png",
                mine,
                chosen,
                plan.shown,
                seed,
                by_key,
                lambda record: array_path(out, record),
            )
        )
        figs += _neighbours(out, mine, plan, seed, by_key)
    if target == "ablations":
        t = ablations.table(preset, _cells_of(cells, "ablations"), chosen, seed, by_key)
        made.append(t)
        figs.append(ablations.figure(out / "figures" / "ablations.png", t))
    if target in ("table4", "all"):
        t4 = _cells_of(cells, "table4")
        made.append(table4.table4(t4, chosen, seed, by_key, infos, preset.table4))
    t5 = None
    if target in ("table5", "fig5", "all"):
        info5 = plan.info(preset.table5.dataset)
        t5 = tables.table5(_cells_of(cells, "table5"), chosen, seed, by_key, info5, preset.table5)
        if target != "fig5":
            made.append(t5)
    if target in ("table6", "all"):
        split6 = plan.splits[(preset.table6.dataset, "test")]
        x, y = table6_items(split6, preset.table6.per_class)
        stats = metrics.class_l2_statistics(x, y, self_pairs=preset.table6.self_pairs)
        made.append(tables.table6(stats, split6.info, len(y), preset.table6.self_pairs))
    for fig in ("fig3", "fig4"):
        if target in (fig, "all"):
            figs.append(
                reconstruction_figure(
                    fig, out, cells, chosen, plan.shown, seed, by_key, preset.table4.iterate
                )
            )
    if t5 is not None and target in ("fig5", "all"):
        info5 = plan.info(preset.table5.dataset)
        label = tables.data_label(info5, "DVS128 Gesture")[0]
        figs.append(
            figures.threshold_sweep(
                out / "figures" / "fig5.png", t5, label, 100 / info5.num_classes
            )
        )
    return made, figs
