"""``reproduce adaptive``: does the SNN's advantage survive an attacker who knows it faces an SNN?

Table IV's data and victims, attacked by the paper's attack (iDLG by default) and by the
adaptive ones (:mod:`snnleak.attacks.proxy`, :mod:`~snnleak.attacks.inverting`,
:mod:`~snnleak.attacks.analytic`). The table gives, per attack, dataset and model, ASR, MSE,
SSIM and PSNR with 95% bootstrap CIs, and the median final/initial matching loss **on the
victim** (every attack's records measure it there). The verdict line per dataset compares the
SNN/ANN ASR ratio under the paper's attack with the one under the best adaptive attack (the
one with the highest SNN ASR: ground truth, so evaluation, not attack). The figure shows the
ground truth, the paper's attack and the best adaptive attack (by median SSIM, evaluation
again) for LeNet and SNN-LeNet.
"""

from __future__ import annotations

from pathlib import Path

from snnleak.attacks.config import MODELS, PAPER_ATTACKS
from snnleak.reporting import Stat, Table, attack_name, median, model_name
from snnleak.reproduce import figures
from snnleak.reproduce.plan import Cell
from snnleak.reproduce.tables import asr_stat, cell_records, data_label, loss_ratio


def table(cells: list[Cell], chosen: dict, seed: int, by_key: dict, infos: dict) -> Table:
    rows, notes = [], {}
    asr: dict[tuple, Stat | None] = {}
    for cell in cells:
        s = cell.spec
        rs = cell_records(cell, chosen[cell], seed, by_key)[None]
        label, note = data_label(infos[s.dataset], cell.paper_dataset)
        if note:
            notes[note] = None
        asr[(s.attack, cell.paper_dataset, s.model)] = asr_stat(rs)
        rows.append(
            (
                attack_name(s.attack),
                cell.paper_dataset,
                label,
                model_name(s.model),
                len(rs),
                asr_stat(rs),
                Stat.of([r["mse"] for r in rs]),
                Stat.of([r["ssim"] for r in rs]),
                Stat.of([r["psnr"] for r in rs]),
                loss_ratio(rs),
                median([r.get("relative_mismatch") for r in rs]),
            )
        )
    return Table(
        "adaptive",
        "Adaptive attacks beside the paper's, on LeNet and SNN-LeNet (training items, last "
        "iterate; mean [95% bootstrap CI])",
        (
            "Attack",
            "Dataset",
            "Data used",
            "Model",
            "n",
            "ASR (%)",
            "MSE",
            "SSIM",
            "PSNR (dB)",
            "Loss final/initial (victim)",
            "Mismatch (victim)",
        ),
        tuple(rows),
        (
            *notes,
            "Loss final/initial: the median ratio of the final to the initial matching loss on "
            "the victim itself; mismatch: the median relative gradient mismatch of the "
            "reconstruction, sum_l ||g'_l - g_l||^2 / sum_l ||g_l||^2, on the victim.",
            *verdicts(asr),
        ),
    )


def verdicts(asr: dict) -> list[str]:
    """Per dataset: the SNN/ANN ASR ratio under the paper's attack and under the adaptive
    attack with the highest SNN ASR."""
    out = []
    for paper in dict.fromkeys(d for _, d, _ in asr):
        attacks = list(dict.fromkeys(a for a, d, _ in asr if d == paper))
        base = [a for a in attacks if a in PAPER_ATTACKS]
        adaptive = [a for a in attacks if a not in PAPER_ATTACKS]
        if not base or not adaptive:
            continue

        def ratio(attack: str, paper: str = paper) -> str:
            ann, snn = asr.get((attack, paper, "ann")), asr.get((attack, paper, "snn"))
            if ann is None or snn is None or ann.mean == 0:
                return "-"
            return f"{snn.mean / ann.mean:.2f}"

        def snn_asr(attack: str, paper: str = paper) -> float:
            s = asr.get((attack, paper, "snn"))
            return -1.0 if s is None else s.mean

        best = max(adaptive, key=snn_asr)  # the first listed among equals
        first = base[0]
        out.append(
            f"{paper}: SNN/ANN ASR {ratio(first)} under {attack_name(first)}, {ratio(best)} under "
            f"{attack_name(best)} (the adaptive attack with the highest SNN ASR)."
        )
    return out


def figure(
    path: Path,
    cells: list[Cell],
    chosen: dict,
    shown: dict,
    seed: int,
    by_key: dict,
    array_path,
) -> Path:
    """Ground truth | paper attack | best adaptive attack (by median SSIM), LeNet and SNN."""
    rows = []
    for paper in dict.fromkeys(c.paper_dataset for c in cells):
        mine = [c for c in cells if c.paper_dataset == paper]
        picks = []
        for model in MODELS:
            of_model = [c for c in mine if c.spec.model == model]
            base = [c for c in of_model if c.spec.attack in PAPER_ATTACKS][:1]
            adaptive = [c for c in of_model if c.spec.attack not in PAPER_ATTACKS]

            def ssim_of(c: Cell) -> float:
                rs = cell_records(c, chosen[c], seed, by_key)[None]
                m = median([r["ssim"] for r in rs])
                return -2.0 if m is None else m

            picks += base + ([max(adaptive, key=ssim_of)] if adaptive else [])
        for i in sorted(shown.get(mine[0], ())):
            cols = []
            for c in picks:
                record = by_key.get(c.keys(i, seed)[0])
                p = None if record is None else array_path(record)
                name = f"{attack_name(c.spec.attack)}\n{model_name(c.spec.model)}"
                cols.append((name, p if p is not None and p.exists() else None))
            rows.append((f"{paper}\n({mine[0].spec.dataset} #{i})", cols))
    return figures.reconstructions(path, rows, "Paper attack vs best adaptive attack")
