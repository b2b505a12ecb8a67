"""Figures 3, 4 and 5 as PNG (matplotlib, headless), and grids of images.

Fig. 3 / 4: per dataset, the ground truth beside the DLG/iDLG (3) or GRNN (4) reconstructions on
LeNet and SNN-LeNet, read from the arrays the run saved. Fig. 5: ASR and l2 against the
threshold for DLG and iDLG, both thresholding algorithms; ours on top, the paper's below (its l2
is on 128x128 sensors, ours may not be, so the two are not drawn on one axis).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnleak.io import write_atomic
from snnleak.reporting import Table, attack_name
from snnleak.reproduce import reported

COLOURS = {"DLG": "tab:blue", "iDLG": "tab:red"}  # one colour per attack; the mode sets the line


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    out = write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    _pyplot().close(fig)
    return out


def _image(a: np.ndarray) -> tuple[np.ndarray, str | None]:
    a = np.clip(a, 0, 1)
    return (a[0], "gray") if a.shape[0] == 1 else (a.transpose(1, 2, 0), None)


def reconstructions(
    path: Path,
    rows: list[tuple[str, list[tuple[str, Path | None]]]],
    title: str,
    key: str = "reconstruction",
) -> Path:
    """A grid: one row per (dataset, item); its first column the ground truth, then one column
    per (attack, model) reconstruction. ``rows``: (row label, [(column label, npz or None)]);
    ``key``: the array shown (``reconstruction``: the last iterate, ``best``: best by loss)."""
    plt = _pyplot()
    ncols = 1 + max((len(cols) for _, cols in rows), default=0)
    fig, axes = plt.subplots(
        max(1, len(rows)), ncols, figsize=(1.6 * ncols, 1.7 * max(1, len(rows))), squeeze=False
    )
    for r, (label, cols) in enumerate(rows):
        truth = next((np.load(p)["truth"] for _, p in cols if p is not None), None)
        panels = [("GT", truth)] + [
            (name, None if p is None else np.load(p)[key]) for name, p in cols
        ]
        for c, (name, arr) in enumerate(panels):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if arr is None:
                ax.text(0.5, 0.5, "not run", ha="center", va="center", fontsize=7)
            else:
                img, cmap = _image(arr)
                ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
            if r == 0:
                ax.set_title(name, fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    lines = max((n.count("\n") + 1 for _, cols in rows for n, _ in cols), default=1)
    # above the column titles: about 0.13 inch per line of 8 pt, in figure fractions
    fig.suptitle(title, fontsize=9, y=0.98 + 0.13 * (lines - 1) / (1.7 * max(1, len(rows))))
    return _save(fig, path)


def panels(path: Path, rows: list[tuple[str, list[tuple[str, np.ndarray, bool]]]], title: str):
    """A grid of images: ``rows`` of (row label, [(panel title, image [C, H, W], framed)]); a
    framed panel gets a green border."""
    plt = _pyplot()
    ncols = max((len(p) for _, p in rows), default=1)
    fig, axes = plt.subplots(
        max(1, len(rows)), ncols, figsize=(1.6 * ncols, 1.9 * max(1, len(rows))), squeeze=False
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for r, (label, row) in enumerate(rows):
        for c, (name, arr, framed) in enumerate(row):
            ax = axes[r][c]
            img, cmap = _image(arr)
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
            ax.set_title(name, fontsize=7)
            if framed:
                ax.set_frame_on(True)
                for side in ax.spines.values():
                    side.set_color("tab:green")
                    side.set_linewidth(3)
        axes[r][0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def threshold_sweep(path: Path, table5: Table, data_label: str, chance: float) -> Path:
    """Fig. 5 from Table V's rows: ASR and l2 against the threshold."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    col = {c: i for i, c in enumerate(table5.columns)}
    series: dict[tuple[str, str, str], list] = {}
    optimisers = list(dict.fromkeys(row[col["Optimiser"]] for row in table5.rows))
    for row in table5.rows:
        level, attack, opt = row[col["Threshold"]], row[col["Attack"]], row[col["Optimiser"]]
        for mode, a, d in (("post", "Post ASR (%)", "Post l2"), ("in", "In ASR (%)", "In l2")):
            asr, l2 = row[col[a]], row[col[d]]
            series.setdefault((attack, mode, opt), []).append(
                (level, asr.mean if asr else np.nan, l2.mean if l2 else np.nan)
            )
    for (attack, mode, opt), pts in sorted(series.items()):
        level, asr, l2 = np.array(pts, dtype=float).T
        style = "-o" if mode == "post" else "--s"
        # the default optimiser drawn full; the observable choice beside it, lighter
        kw = {
            "color": COLOURS[attack],
            "alpha": 1.0 if optimisers.index(opt) == 0 else 0.45,
            "label": f"{attack} ({mode}; {opt})",
        }
        axes[0][0].plot(level, asr, style, **kw)
        axes[0][1].plot(level, l2, style, **kw)
    for key in ("dlg", "idlg"):
        pts = sorted((t, v) for (t, a), v in reported.TABLE5.items() if a == key)
        level = [t for t, _ in pts]
        for mode, j in (("post", 0), ("in", 2)):
            style = "-o" if mode == "post" else "--s"
            kw = {"color": COLOURS[attack_name(key)], "label": f"{attack_name(key)} ({mode})"}
            axes[1][0].plot(level, [v[j] for _, v in pts], style, **kw)
            axes[1][1].plot(level, [v[j + 1] for _, v in pts], style, **kw)
    axes[0][0].axhline(chance, color="gray", lw=0.8, label="chance")
    axes[1][0].axhline(100 / reported.TABLE5_CLASSES, color="gray", lw=0.8, label="chance")
    for r, who in enumerate((f"ours, {data_label}", "paper, DVS128 Gesture")):
        axes[r][0].set_ylabel(f"ASR (%) - {who}")
        axes[r][1].set_ylabel(f"l2 distance - {who}")
        for ax in axes[r]:
            ax.set_xlabel("threshold")
            ax.legend(fontsize=7)
    fig.suptitle("Fig. 5: ASR and l2 against the spike threshold", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
