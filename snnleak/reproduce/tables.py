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
from dataclasses import dataclass, field, replace

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
    """A mean with its 95% bootstrap confidence interval, and how many values it left out
    because they were not finite (an exact reconstruction's PSNR is infinite)."""

    mean: float
    low: float
    high: float
    left_out: int = 0

    @staticmethod
    def of(values: list, scale: float = 1.0) -> Stat | None:
        present = [v for v in values if v is not None]
        left_out = sum(not math.isfinite(v) for v in present)
        mean, low, high = metrics.mean_ci(present)
        if math.isnan(mean):
            return None
        return Stat(scale * mean, scale * low, scale * high, left_out)


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
        text = f"{v.mean:.{digits}f} [{v.low:.{digits}f}, {v.high:.{digits}f}]"
        return text + (f" ({v.left_out} non-finite left out)" if v.left_out else "")
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
        header += (
            [c, f"{c} CI low", f"{c} CI high", f"{c} non-finite left out"]
            if i in stat_cols
            else [c]
        )
    w.writerow(header)
    for row in t.rows:
        out = []
        for i, v in enumerate(row):
            if i in stat_cols:
                out += ["", "", "", ""] if v is None else [v.mean, v.low, v.high, v.left_out]
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


def value(record: dict, name: str, iterate: str = "last"):
    """A metric of the iterate the table shows: the last (the record's own fields) or the
    best by matching loss (``best_iterate``)."""
    return record[name] if iterate == "last" else record["best_iterate"][name]


def asr_stat(rs: list, iterate: str = "last") -> Stat | None:
    wins = [value(r, "success", iterate) for r in rs]
    return Stat.of([float(w) for w in wins if w is not None], 100)


def median(values: list) -> float | None:
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def loss_ratio(rs: list) -> float | None:
    """Median final/initial matching loss: near 1, the optimiser did not get anywhere."""
    return median([r.get("loss_ratio") for r in rs])


def count(rs: list, flag: str) -> str:
    """``k/n``: how many of the records that know ``flag`` (stalled, diverged) have it set.
    Records written before ``diverged`` counted a final loss above the initial one are
    counted by that rule from their losses."""
    known = [_flag(r, flag) for r in rs]
    known = [k for k in known if k is not None]
    return f"{sum(known)}/{len(known)}" if known else "-"


def _flag(record: dict, flag: str) -> bool | None:
    if flag == "diverged" and "nonfinite" not in record and record.get("loss_ratio") is not None:
        return bool(record["diverged"]) or record["loss_ratio"] > 1
    return record.get(flag)


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
        if model != "LeNet" or ann is None or snn is None:
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


def table4(
    cells: list[Cell], chosen: dict, seed: int, by_key: dict, infos: dict, plan=None
) -> Table:
    iterate = plan.iterate if plan is not None else "last"
    split = plan.split if plan is not None else cells[0].spec.split if cells else "train"
    rows, notes, asr = [], {}, {}
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
                Stat.of([value(r, "mse", iterate) for r in rs]),
                Stat.of([value(r, "ssim", iterate) for r in rs]),
                Stat.of([value(r, "psnr", iterate) for r in rs]),
                loss_ratio(rs),
                count(rs, "stalled"),
                count(rs, "diverged"),
                ratio,
                *paper,
                paper_ratio,
            )
        )
    table = Table(
        "table4",
        f"Table IV: gradient inversion on LeNet and SNN-LeNet ({split} items, {iterate} "
        "iterate; ours: mean [95% bootstrap CI]; paper: its reported numbers, 1,000 samples "
        "per cell)",
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
            "Loss final/initial",
            "Stalled",
            "Diverged",
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
            f"Attacked items come from the {split} split (the paper attacks training items); "
            f"metrics are those of the {iterate} iterate"
            + (" (DLG's code returns the last)." if iterate == "last" else " by matching loss."),
            "Loss final/initial: the median ratio of the final to the initial matching loss "
            "(near 1: the optimiser did not get anywhere); stalled: trials whose ratio is above "
            "0.5; diverged: trials whose loss ended above its start (ratio above 1) or became "
            "non-finite.",
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


def optimiser_name(spec) -> str:
    """A spec's DLG/iDLG optimiser in a table: the default (DLG's L-BFGS on the scale-free
    loss), or its settings."""
    lb = spec.lbfgs
    if (lb.lr, lb.line_search, spec.loss_norm) == (1.0, "none", "global"):
        return "default (DLG's L-BFGS)"
    parts = [f"lr {lb.lr:g}"]
    if lb.line_search != "none":
        parts.append("strong Wolfe")
    if spec.loss_norm != "none":
        parts.append(f"{spec.loss_norm} norm")
    return ", ".join(parts)


def table5(
    cells: list[Cell], chosen: dict, seed: int, by_key: dict, info: data.DatasetInfo, plan=None
) -> Table:
    iterate = plan.iterate if plan is not None else "last"
    split = plan.split if plan is not None else cells[0].spec.split if cells else "train"
    post, inside, order = {}, {}, {}
    for cell in cells:
        s = cell.spec
        opt = optimiser_name(s)
        order.setdefault(opt, len(order))
        for tau, rs in cell_records(cell, chosen[cell], seed, by_key).items():
            if tau is None:
                inside[(s.threshold.tau, s.attack, opt)] = rs
            else:
                post[(tau, s.attack, opt)] = rs
    rows = []
    keys = sorted(set(post) | set(inside), key=lambda k: (order[k[2]], k[0], k[1] != "dlg"))
    for tau, attack, opt in keys:
        p, i = post.get((tau, attack, opt), []), inside.get((tau, attack, opt), [])
        rows.append(
            (
                opt,
                tau,
                "DLG" if attack == "dlg" else "iDLG",
                len(p),
                asr_stat(p, iterate),
                Stat.of([value(r, "l2", iterate) for r in p]),
                len(i),
                asr_stat(i, iterate),
                Stat.of([value(r, "l2", iterate) for r in i]),
                loss_ratio(p),
                count(p, "diverged"),
                loss_ratio(i),
                count(i, "diverged"),
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
        f"Table V: DLG and iDLG on event data ({label}, {split} items, {iterate} iterate), "
        "post- (Algorithm 1) and in-optimisation (Algorithm 2) thresholding, under the default "
        "optimiser and the one chosen by what the attacker observes",
        (
            "Optimiser",
            "Threshold",
            "Attack",
            "n post",
            "Post ASR (%)",
            "Post l2",
            "n in",
            "In ASR (%)",
            "In l2",
            "Post loss final/initial",
            "Post diverged",
            "In loss final/initial",
            "In diverged",
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
                "Loss final/initial: median over the trials; diverged: trials whose matching "
                "loss ended above its start (or became non-finite). Post-thresholding trials "
                "share one optimisation per item across thresholds.",
                "Optimiser: the default (DLG's L-BFGS, lr 1 without a line search, on the "
                "matching loss divided by the update's squared norm) and the sweep's choice on "
                "this data by the relative gradient mismatch (`snnleak reproduce sweep`), which "
                "needs no ground truth.",
            )
            if n
        ),
    )


def table6(stats: dict, info: data.DatasetInfo, items: int, self_pairs: bool = False) -> Table:
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
                "Intra-class pairs include each item with itself (distance 0), as the paper's "
                "minimum of 0.00 suggests."
                if self_pairs
                else "Intra-class pairs exclude each item with itself.",
            )
            if n
        ),
    )


def table2(judges: list[tuple[str, str, dict]], require_imagenet: bool) -> Table:
    """Table II: each judge's held-out accuracy, ours beside the paper's."""
    rows = []
    for paper, ours, meta in judges:
        init = meta.get("init")
        arch = meta["arch"] + (f" ({init})" if init in ("imagenet", "scratch") else "")
        rows.append(
            (
                paper,
                ours,
                arch,
                100 * meta["accuracy"],
                meta.get("epochs"),
                reported.TABLE2[paper][0],
                reported.TABLE2[paper][1],
            )
        )
    return Table(
        "table2",
        "Table II: judge models and their held-out accuracy (ours beside the paper's)",
        ("Dataset", "Data used", "Judge", "Acc. (%)", "Epochs", "Paper judge", "Paper acc. (%)"),
        tuple(rows),
        (
            "Accuracy on the test split of the data used (LFW: the seeded 20% held out).",
            "The LFW judge must start from ImageNet weights in this preset."
            if require_imagenet
            else "The LFW judge may start from scratch when ImageNet weights are not cached "
            "(marked 'scratch').",
        ),
    )
