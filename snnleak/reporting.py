"""How results are shown: display names, means with their confidence intervals, and tables.

One owner for what every table, summary and figure prints:

- the display names of attacks and victims (:func:`attack_name`, :func:`model_name`);
- :class:`Stat`, a mean with its 95% bootstrap confidence interval (:func:`snnleak.metrics.
  mean_ci`) and the count of non-finite values it left out, and :func:`text`, its one printed
  form, ``mean [low, high]``;
- :class:`Table`, plain data rendered three ways: markdown (printed, README), CSV (a number per
  column: a mean and its CI are three columns) and LaTeX (booktabs).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

from snnleak import metrics

ATTACK_NAMES = {
    "dlg": "DLG",
    "idlg": "iDLG",
    "grnn": "GRNN",
    "proxy": "Smooth proxy",
    "ig": "Inverting Gradients",
    "analytic": "Analytic + proxy",
    "learned": "Learned decoder",
    "learned-proxy": "Learned + proxy",
}
MODEL_NAMES = {"ann": "LeNet", "snn": "SNN-LeNet"}


def attack_name(attack: str) -> str:
    return ATTACK_NAMES.get(attack, attack)


def model_name(model: str) -> str:
    """LeNet, SNN-LeNet, or a plug-in's reference as given."""
    return MODEL_NAMES.get(model, model)


@dataclass(frozen=True)
class Stat:
    """A mean with its 95% bootstrap confidence interval, and how many values it left out
    because they were not finite (an exact reconstruction's PSNR is infinite)."""

    mean: float
    low: float
    high: float
    left_out: int = 0

    @staticmethod
    def of(values: list, scale: float = 1.0, groups: list | None = None) -> Stat | None:
        """``values``' mean and CI; ``groups``: one key per value (the broadcast model), to
        resample the models, then the values in each (:func:`snnleak.metrics.mean_ci`)."""
        keep = [i for i, v in enumerate(values) if v is not None]
        present = [values[i] for i in keep]
        left_out = sum(not math.isfinite(v) for v in present)
        mean, low, high = metrics.mean_ci(
            present, groups=None if groups is None else [groups[i] for i in keep]
        )
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


def text(v: Value, digits: int = 2) -> str:
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
    lines += ["| " + " | ".join(text(v) for v in row) + " |" for row in t.rows]
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
    lines += [" & ".join(_tex(text(v)) for v in row) + r" \\" for row in t.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\footnotesize {_tex(n)}" for n in t.notes]
    return "\n".join([*lines, r"\end{table}"]) + "\n"


def median(values: list) -> float | None:
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def ci_text(values: list, scale: float = 1.0, digits: int = 2) -> str:
    """``mean [low, high]`` of ``values`` (``-`` when none is finite)."""
    return text(Stat.of(values, scale), digits)
