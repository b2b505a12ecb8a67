"""What a reproduction writes besides records: the arrays its figures show, tables as markdown,
CSV and LaTeX, and the reconstruction figures (Figures 3 and 4), each written atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snnleak import data, layout
from snnleak.io import write_atomic
from snnleak.reporting import Table, attack_name, model_name, to_csv, to_latex, to_markdown
from snnleak.reproduce import figures
from snnleak.reproduce.plan import FIGURE_ATTACKS
from snnleak.trials.loop import Cell
from snnleak.trials.outputs import reconstruction_name


def array_path(out: Path, record: dict) -> Path:
    return out / "arrays" / f"{reconstruction_name(record)}-{record['config_id']}.npz"


@dataclass(frozen=True)
class FigureArrays:
    """The loop's outputs here: arrays of the items the figures show (the first of each
    Table IV cell), ground truth and reconstruction."""

    out: Path
    shown: dict  # Cell -> set of item indices

    def paths(self, cell: Cell, record: dict) -> list[Path]:
        if record["sample_index"] not in self.shown.get(cell, ()):
            return []
        return [array_path(self.out, record)]

    def write(self, cell: Cell, trial) -> None:
        modality = data.get_dataset(trial.record["dataset"]).modality
        for path in self.paths(cell, trial.record):
            arrays = {
                "truth": trial.truth.numpy(),
                "reconstruction": layout.item(trial.reconstruction, 0, modality).float().numpy(),
                "best": layout.item(trial.best, 0, modality).float().numpy(),
            }
            write_atomic(path, lambda f, a=arrays: np.savez_compressed(f, **a))


def table6_items(split: data.Split, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test items Table VI measures: all, or the first ``per_class`` of each class."""
    taken: dict[int, int] = {}
    xs, ys = [], []
    for i in range(len(split)):
        x, y = split[i]
        if per_class and taken.get(y, 0) >= per_class:
            continue
        taken[y] = taken.get(y, 0) + 1
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.tensor(ys, device="cpu")


def write_table(folder: Path, t: Table) -> list[Path]:
    """``t`` as markdown, CSV and LaTeX, each written atomically."""
    paths = []
    for ext, render in (
        ("md", to_markdown),
        ("csv", to_csv),
        ("tex", to_latex),
    ):
        text = render(t).encode()
        paths.append(write_atomic(folder / f"{t.name}.{ext}", lambda f, b=text: f.write(b)))
    return paths


def reconstruction_figure(
    fig: str,
    out: Path,
    cells: list[Cell],
    chosen: dict,
    shown: dict,
    seed: int,
    by_key: dict,
    iterate: str = "last",
) -> Path:
    """Fig. 3 (DLG, iDLG) or Fig. 4 (GRNN): per dataset and shown item, the ground truth and
    each attack's reconstruction on LeNet and SNN-LeNet."""
    mine = [c for c in cells if c.table == "table4" and c.spec.attack in FIGURE_ATTACKS[fig]]
    papers = list(dict.fromkeys(c.paper_dataset for c in mine))
    rows = []
    for paper in papers:
        row_cells = [c for c in mine if c.paper_dataset == paper]
        for i in chosen[row_cells[0]]:
            if i not in shown[row_cells[0]]:
                continue
            cols = []
            for c in row_cells:
                record = by_key.get(c.keys(i, seed)[0])
                p = None if record is None else array_path(out, record)
                name = f"{attack_name(c.spec.attack)}\n{model_name(c.spec.model)}"
                cols.append((name, p if p is not None and p.exists() else None))
            rows.append((f"{paper}\n({row_cells[0].spec.dataset} #{i})", cols))
    title = {"fig3": "Fig. 3: DLG and iDLG", "fig4": "Fig. 4: GRNN"}[fig]
    key = "reconstruction" if iterate == "last" else "best"
    return figures.reconstructions(out / "figures" / f"{fig}.png", rows, title, key)
