"""Table IV from the records: gradient inversion on LeNet and SNN-LeNet, per attack and
dataset, our numbers with 95% bootstrap CIs beside the paper's, and the paper's summary
statistic (the mean decrease in ASR from LeNet to SNN-LeNet) on both."""

from __future__ import annotations

import math
from dataclasses import replace

from snnleak import leakage
from snnleak.reporting import Stat, Table, attack_name, model_name
from snnleak.reproduce import reported
from snnleak.reproduce.tables import (
    asr_stat,
    cell_records,
    count,
    data_label,
    judge_accuracy,
    loss_ratio,
    value,
)
from snnleak.trials.loop import Cell

COLUMNS = (
    "Attack",
    "Dataset",
    "Data used",
    "Model",
    "n",
    "Chance ASR (%)",
    "Judge acc (%)",
    "ASR (%)",
    "MSE",
    "SSIM",
    "PSNR (dB)",
    *leakage.ID_COLUMNS,
    "Loss final/initial",
    "Stalled",
    "Diverged",
    "SNN/ANN ASR",
    "Paper ASR (%)",
    "Paper MSE",
    "Paper SSIM",
    "Paper PSNR (dB)",
    "Paper SNN/ANN ASR",
)


def asr_decrease(t: Table) -> tuple[float, float, int] | None:
    """The paper's summary of Table IV on our rows: the mean decrease in ASR (percentage
    points) from LeNet to SNN-LeNet over every (attack, dataset), the paper's ≈49, and the
    mean relative decrease; and over how many pairs."""
    col = {c: i for i, c in enumerate(t.columns)}
    asr = {
        (r[col["Attack"]], r[col["Dataset"]], r[col["Model"]]): r[col["ASR (%)"]] for r in t.rows
    }
    points, relative = [], []
    for (attack, dataset, model), ann in asr.items():
        snn = asr.get((attack, dataset, "SNN-LeNet"))
        prior = attack in (leakage.LABEL_ONLY, leakage.ORACLE)
        if prior or model != "LeNet" or ann is None or snn is None:
            continue
        points.append(ann.mean - snn.mean)
        if ann.mean > 0:
            relative.append((ann.mean - snn.mean) / ann.mean)
    if not points:
        return None
    rel = 100 * sum(relative) / len(relative) if relative else math.nan
    return sum(points) / len(points), rel, len(points)


def paper_asr_decrease() -> float:
    """The same summary on the paper's Table IV (its text says ≈49%)."""
    pairs = [
        reported.TABLE4[(a, d, "ann")][0] - reported.TABLE4[(a, d, "snn")][0]
        for (a, d, m) in reported.TABLE4
        if m == "ann"
    ]
    return sum(pairs) / len(pairs)


def table4(
    cells: list[Cell], chosen: dict, seed: int, by_key: dict, infos: dict, plan=None
) -> Table:
    iterate = plan.iterate if plan is not None else "last"
    split = plan.split if plan is not None else cells[0].spec.split if cells else "train"
    rows, notes, asr, priors = [], {}, {}, {}
    for cell in cells:
        s = cell.spec
        rs = cell_records(cell, chosen[cell], seed, by_key)[None]
        asr[(s.attack, cell.paper_dataset, s.model)] = asr_stat(rs, iterate)
    for cell in cells:
        s = cell.spec
        rs = cell_records(cell, chosen[cell], seed, by_key)[None]
        label, note = data_label(infos[s.dataset], cell.paper_dataset)
        if note:
            notes[note] = None
        group = (cell.paper_dataset, label, s.model, 100 / infos[s.dataset].num_classes)
        if group not in priors or s.attack == "idlg":  # iDLG reads the label exactly
            priors[group] = rs
        paper = reported.TABLE4[(s.attack, cell.paper_dataset, s.model)]
        ratio = paper_ratio = None
        if s.model == "snn":
            ann = asr[(s.attack, cell.paper_dataset, "ann")]
            mine = asr[(s.attack, cell.paper_dataset, "snn")]
            if ann and mine and ann.mean > 0:
                ratio = mine.mean / ann.mean
            paper_ratio = paper[0] / reported.TABLE4[(s.attack, cell.paper_dataset, "ann")][0]
        rows.append(
            (
                attack_name(s.attack),
                cell.paper_dataset,
                label,
                model_name(s.model),
                len(rs),
                100 / infos[s.dataset].num_classes,
                judge_accuracy(rs),
                asr[(s.attack, cell.paper_dataset, s.model)],
                Stat.of([value(r, "mse", iterate) for r in rs]),
                Stat.of([value(r, "ssim", iterate) for r in rs]),
                Stat.of([value(r, "psnr", iterate) for r in rs]),
                *leakage.id_cells(rs, iterate),
                loss_ratio(rs),
                count(rs, "stalled"),
                count(rs, "diverged"),
                ratio,
                *paper,
                paper_ratio,
            )
        )
    for (paper, label, model, chance), rs in priors.items():
        for name, p in leakage.prior_summary(rs).items():
            row = (name, paper, label, model_name(model), p["n"], chance, None, p["asr"])
            row += (p["mse"], p["ssim"])
            rows.append(row + (None,) * (len(COLUMNS) - len(row)))
    table = Table(
        "table4",
        f"Table IV: gradient inversion on LeNet and SNN-LeNet ({split} items, {iterate} "
        "iterate; ours: mean [95% bootstrap CI]; paper: its reported numbers, 1,000 samples "
        "per cell)",
        COLUMNS,
        tuple(rows),
        (
            *notes,
            "ASR: the fraction of reconstructions the dataset's judge assigns to the true class; "
            "chance ASR is 1/classes of the data used (the paper's: MNIST 10%, CIFAR-100 1%); "
            "judge acc: how often the judge labels the same private items right, the ceiling "
            "of ASR.",
            f"Attacked items come from the {split} split (the paper attacks training items); "
            f"metrics are those of the {iterate} iterate"
            + (" (DLG's code returns the last)." if iterate == "last" else " by matching loss."),
            "Loss final/initial: the median ratio of the final to the initial matching loss "
            "(near 1: the optimiser did not get anywhere); stalled: trials whose ratio is above "
            "0.5; diverged: trials whose loss ended above its start (ratio above 1) or became "
            "non-finite.",
            leakage.ID_NOTE,
            leakage.PRIOR_NOTE + " Per dataset and model, from the labels iDLG recovered.",
        ),
    )
    summary = asr_decrease(table)
    if summary is None:
        return table
    points, relative, pairs = summary
    line = (
        f"Summary (the paper's statistic): SNN-LeNet's ASR is on average {points:.1f} "
        f"percentage points below LeNet's over {pairs} (attack, dataset) pairs (relative: "
        f'{relative:.0f}%); the paper: {paper_asr_decrease():.1f} points, its "≈49% decrease".'
    )
    return replace(table, notes=(*table.notes, line))
