"""Tables IV, V and VI from the records: our numbers with 95% bootstrap CIs, the paper's beside.

A table is plain data (:class:`Table`) rendered three ways: markdown (printed, README), CSV (a
number per column: a mean and its CI are three columns) and LaTeX (booktabs). Columns headed
"paper ..." hold the paper's reported numbers on its own data (``reported.py``); a data name
marked ``*`` is not the paper's data, and the notes say what stands in for what.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from snnleak import data, metrics
from snnleak.attacks.records import trial_key
from snnleak.reproduce import reported
from snnleak.reproduce.plan import Cell

PAPER_DATA = {
    "MNIST": "mnist",
    "CIFAR-100": "cifar100",
    "LFW": "lfw",
    "DVS128 Gesture": "dvsgesture",
}


@dataclass(frozen=True)
class Stat:
    """A mean with its 95% bootstrap confidence interval."""

    mean: float
    low: float
    high: float

    @staticmethod
    def of(values: list, scale: float = 1.0) -> Stat | None:
        mean, low, high = metrics.mean_ci(values)
        return None if math.isnan(mean) else Stat(scale * mean, scale * low, scale * high)


Value = str | int | float | Stat | None


@dataclass(frozen=True)
class Table:
    name: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    notes: tuple[str, ...] = field(default=())


def _text(v: Value, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, Stat):
        return f"{v.mean:.{digits}f} [{v.low:.{digits}f}, {v.high:.{digits}f}]"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if math.isfinite(v) else str(v)
    return str(v)


def to_markdown(t: Table) -> str:
    lines = [f"**{t.caption}**", "", "| " + " | ".join(t.columns) + " |"]
    lines.append("|" + "|".join("---" for _ in t.columns) + "|")
    lines += ["| " + " | ".join(_text(v) for v in row) + " |" for row in t.rows]
    return "\n".join(lines + [""] + [f"- {n}" for n in t.notes]) + "\n"


def to_csv(t: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    stat_cols = {i for row in t.rows for i, v in enumerate(row) if isinstance(v, Stat)}
    header = []
    for i, c in enumerate(t.columns):
        header += [c, f"{c} CI low", f"{c} CI high"] if i in stat_cols else [c]
    w.writerow(header)
    for row in t.rows:
        out = []
        for i, v in enumerate(row):
            if i in stat_cols:
                out += ["", "", ""] if v is None else [v.mean, v.low, v.high]
            else:
                out.append("" if v is None else v)
        w.writerow(out)
    return buf.getvalue()


def _tex(s: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
    ):
        s = s.replace(a, b)
    return s.replace("[", "{[}").replace("]", "{]}")


def to_latex(t: Table) -> str:
    align = (
        "".join("r" if isinstance(v, (int, float, Stat)) else "l" for v in t.rows[0])
        if t.rows
        else "l" * len(t.columns)
    )
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_tex(t.caption)}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(_tex(c) for c in t.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_tex(_text(v)) for v in row) + r" \\" for row in t.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\footnotesize {_tex(n)}" for n in t.notes]
    return "\n".join([*lines, r"\end{table}"]) + "\n"


def cell_records(cell: Cell, items: list[int], seed: int, by_key: dict) -> dict[float | None, list]:
    """The records of ``cell`` on ``items``, per post threshold (``None``: the cell's own)."""
    out = {}
    for spec in cell.specs():
        tau = spec.threshold.tau if cell.post_thresholds else None
        out[tau] = [by_key[k] for i in items if (k := trial_key(spec, i, seed)) in by_key]
    return out


def data_label(info: data.DatasetInfo, paper: str) -> tuple[str, str | None]:
    if info.name == PAPER_DATA[paper]:
        return info.name, None
    kind = "" if info.synthetic else "embedded: "
    return f"{info.name}*", f"*{info.name} ({kind}{info.source}) stands in for {paper}."


def _asr(rs: list) -> Stat | None:
    return Stat.of([float(r["success"]) for r in rs if r["success"] is not None], 100)


def _judge_accuracy(rs: list) -> Stat | None:
    """How often the judge labels the private items themselves right: the ceiling of ASR."""
    return Stat.of(
        [
            float(r["judge_truth_label"] == r["true_label"])
            for r in rs
            if r.get("judge_truth_label") is not None
        ],
        100,
    )


def table4(cells: list[Cell], chosen: dict, seed: int, by_key: dict, infos: dict) -> Table:
    rows, notes, asr = [], {}, {}
    for cell in cells:
        s = cell.spec
        rs = cell_records(cell, chosen[cell], seed, by_key)[None]
        asr[(s.attack, cell.paper_dataset, s.model)] = _asr(rs)
    for cell in cells:
        s = cell.spec
        rs = cell_records(cell, chosen[cell], seed, by_key)[None]
        label, note = data_label(infos[s.dataset], cell.paper_dataset)
        if note:
            notes[note] = None
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
                s.attack.upper() if s.attack != "idlg" else "iDLG",
                cell.paper_dataset,
                label,
                "LeNet" if s.model == "ann" else "SNN-LeNet",
                len(rs),
                100 / infos[s.dataset].num_classes,
                _judge_accuracy(rs),
                asr[(s.attack, cell.paper_dataset, s.model)],
                Stat.of([r["mse"] for r in rs]),
                Stat.of([r["ssim"] for r in rs]),
                Stat.of([r["psnr"] for r in rs]),
                ratio,
                *paper,
                paper_ratio,
            )
        )
    return Table(
        "table4",
        "Table IV: gradient inversion on LeNet and SNN-LeNet (ours: mean [95% bootstrap CI]; "
        "paper: its reported numbers, 1,000 samples per cell)",
        (
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
            "SNN/ANN ASR",
            "Paper ASR (%)",
            "Paper MSE",
            "Paper SSIM",
            "Paper PSNR (dB)",
            "Paper SNN/ANN ASR",
        ),
        tuple(rows),
        (
            *notes,
            "ASR: the fraction of reconstructions the dataset's judge assigns to the true class; "
            "chance ASR is 1/classes of the data used (the paper's: MNIST 10%, CIFAR-100 1%); "
            "judge acc: how often the judge labels the same private items right, the ceiling "
            "of ASR.",
        ),
    )


def table5(
    cells: list[Cell], chosen: dict, seed: int, by_key: dict, info: data.DatasetInfo
) -> Table:
    post, inside = {}, {}
    for cell in cells:
        s = cell.spec
        for tau, rs in cell_records(cell, chosen[cell], seed, by_key).items():
            if tau is None:
                inside[(s.threshold.tau, s.attack)] = rs
            else:
                post[(tau, s.attack)] = rs
    rows = []
    for tau, attack in sorted(set(post) | set(inside), key=lambda k: (k[0], k[1] != "dlg")):
        p, i = post.get((tau, attack), []), inside.get((tau, attack), [])
        rows.append(
            (
                tau,
                "DLG" if attack == "dlg" else "iDLG",
                len(p),
                _asr(p),
                Stat.of([r["l2"] for r in p]),
                len(i),
                _asr(i),
                Stat.of([r["l2"] for r in i]),
                *reported.TABLE5.get((tau, attack), (None,) * 4),
            )
        )
    label, note = data_label(info, "DVS128 Gesture")
    dataset, classes = info.name, info.num_classes
    items = {r["sample_index"]: r for rs in (*post.values(), *inside.values()) for r in rs}
    judge = _judge_accuracy(list(items.values()))
    shape = "x".join(map(str, info.input_shape))
    return Table(
        "table5",
        f"Table V: DLG and iDLG on event data ({label}), post- (Algorithm 1) and "
        "in-optimisation (Algorithm 2) thresholding",
        (
            "Threshold",
            "Attack",
            "n post",
            "Post ASR (%)",
            "Post l2",
            "n in",
            "In ASR (%)",
            "In l2",
            "Paper post ASR (%)",
            "Paper post l2",
            "Paper in ASR (%)",
            "Paper in l2",
        ),
        tuple(rows),
        tuple(
            n
            for n in (
                note,
                f"Chance ASR: {100 / classes:.2f}% on {dataset} ({classes} classes); the paper's "
                f"{100 / reported.TABLE5_CLASSES:.2f}% ({reported.TABLE5_CLASSES} classes).",
                judge
                and f"The judge labels {judge.mean:.0f}% of the {len(items)} private items "
                "themselves right (the ceiling of ASR).",
                f"l2 grows with the tensor size: ours are {shape}, the paper's 20x2x128x128, so "
                "absolute l2 values are comparable only on the same data.",
            )
            if n
        ),
    )


def table6(stats: dict, info: data.DatasetInfo, items: int) -> Table:
    label, note = data_label(info, "DVS128 Gesture")
    rows = tuple(
        (kind.capitalize() + "-class", items, *stats[kind], *reported.TABLE6[kind])
        for kind in ("intra", "inter")
    )
    return Table(
        "table6",
        f"Table VI: l2 distances between event tensors of {label} (test split), ours beside "
        "the paper's on DVS128 Gesture",
        (
            "Type",
            "Items",
            "Mean",
            "Std",
            "Min",
            "Max",
            "Paper mean",
            "Paper std",
            "Paper min",
            "Paper max",
        ),
        rows,
        tuple(
            n
            for n in (
                note,
                "Mean and std per class, averaged over the classes; min and max over all pairs.",
            )
            if n
        ),
    )
