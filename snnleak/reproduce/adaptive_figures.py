"""The adaptive study's figures: the paper's attack beside the attacker's picks
(:func:`picks_figure`), and whether a reconstruction points at the client's record
(:func:`neighbours_figure`).

For each client the figures show, the SNN's rehearsed pick (or, without rehearsal, its
observable pick) beside its nearest items of the identification pool (every item of the
clients' split) by SSIM, as :func:`snnleak.evaluation.reference.identify` ranks them. The
client's own item is framed where it appears; the title of each neighbour gives its rank and
SSIM. A reader sees what "top-1 identification" means: the reconstruction is closer to the
client's record than to any of the pool's other items.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from snnleak import data
from snnleak.attacks.config import PAPER_ATTACKS
from snnleak.attacks.picks import observable_pick, rehearsed_choice
from snnleak.evaluation.reference import Pool, scores
from snnleak.reporting import attack_name, model_name
from snnleak.reproduce import figures
from snnleak.reproduce.adaptive import PICK, REHEARSED, by_attack
from snnleak.trials.loop import Cell

NEIGHBOURS = 4  # pool items shown per client


def nearest(x_hat: np.ndarray, pool: Pool, k: int = NEIGHBOURS) -> list[tuple[int, float]]:
    """The ``k`` pool items closest to ``x_hat`` by SSIM: (pool index, SSIM), best first."""
    ssim = scores(torch.from_numpy(x_hat), pool.items, pool.modality, pool.ssim_stats)["ssim"]
    top = torch.topk(ssim, k)
    return [(int(i), float(s)) for s, i in zip(top.values, top.indices, strict=True)]


def neighbours_figure(
    path: Path, per: dict, rehearsed: dict, shown: list[int], split: data.Split, array_path
):
    """``per`` / ``rehearsed``: one dataset's ``{model: {attack: {item: record}}}`` (clients,
    rehearsal); ``shown``: the client items whose arrays the run saved; ``split``: the clients'
    split, the identification pool. None for event data, or when no shown item was saved."""
    if split.info.modality != "image":
        return None
    model = "snn" if "snn" in per else next(iter(per))  # SNN-LeNet, or the plug-in
    choice = rehearsed_choice(rehearsed[model])
    pick = per[model].get(choice, {}) if choice is not None else observable_pick(per[model])
    name = f"rehearsed pick ({attack_name(choice)})" if choice else "observable pick"
    pool = Pool.of(split)
    rows = []
    for i in shown:
        record = pick.get(i)
        npz = None if record is None else array_path(record)
        if npz is None or not npz.exists():
            continue
        arrays = np.load(npz)
        own = _own_index(pool, arrays["truth"])
        near = nearest(arrays["reconstruction"], pool)
        panels = [("client's item", arrays["truth"], False)]
        panels.append((f"{model_name(model)}\n{name}", arrays["reconstruction"], False))
        for rank, (j, s) in enumerate(near, 1):
            label = f"#{rank} SSIM {s:.2f}" + ("\n(the client's)" if j == own else "")
            panels.append((label, pool.items[j].numpy(), j == own))
        rows.append((f"{split.info.name} #{i}", panels))
    if not rows:
        return None
    title = (
        f"The {model_name(model)} client's reconstruction and its nearest items of the pool "
        "(by SSIM)"
    )
    return figures.panels(path, rows, title)


def _own_index(pool: Pool, truth: np.ndarray) -> int | None:
    hits = torch.nonzero(pool.copies(torch.from_numpy(truth))).flatten()
    return int(hits[0]) if len(hits) else None


def picks_figure(
    path: Path,
    cells: list[Cell],
    chosen: dict,
    shown: dict,
    seed: int,
    by_key: dict,
    array_path,
) -> Path:
    """Ground truth | the paper's attack | the observable pick | the rehearsed pick (when the
    attacks were rehearsed), for LeNet and SNN-LeNet."""
    rows = []
    for paper in dict.fromkeys(c.paper_dataset for c in cells):
        per, rehearsed = by_attack(
            [c for c in cells if c.paper_dataset == paper], chosen, seed, by_key
        )
        mine = [c for c in cells if c.paper_dataset == paper and not c.spec.rehearsal]
        cols_of = []
        for model in per:
            base = [c for c in mine if c.spec.model == model and c.spec.attack in PAPER_ATTACKS]
            picks = [(PICK, observable_pick(per[model]))]
            choice = rehearsed_choice(rehearsed[model])
            if choice is not None:
                picks.append((f"{REHEARSED}:\n{attack_name(choice)}", per[model].get(choice, {})))
            cols_of.append((model, base[:1], picks))
        for i in sorted(shown.get(mine[0], ())):
            cols = []
            for model, base, picks in cols_of:
                for c in base:
                    record = by_key.get(c.keys(i, seed)[0])
                    cols.append(_column(attack_name(c.spec.attack), model, record, array_path))
                for name, pick in picks:
                    cols.append(_column(name, model, pick.get(i), array_path))
            rows.append((f"{paper}\n({mine[0].spec.dataset} #{i})", cols))
    return figures.reconstructions(path, rows, "The paper's attack and the attacker's picks")


def _column(name: str, model: str, record: dict | None, array_path):
    p = None if record is None else array_path(record)
    return (f"{name}\n{model_name(model)}", p if p is not None and p.exists() else None)
