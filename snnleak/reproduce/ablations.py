"""``reproduce ablations``: what makes the SNN resist, one factor at a time.

Away from the base victim (IF neurons, ATan alpha = 2, T = 20, direct encoding, DLG's
U(-0.5, 0.5) init, a gradient through the reset, a spiking forward), one factor varies at a
time: T, the neuron (IF or LIF with tau = 2), the surrogate's alpha, the surrogate family
(sigmoid, fast sigmoid, triangle: on the reference backend, the fused kernels being ATan's), the
image code (direct, or Poisson rate coding whose draw the attacker does not know: its model
copy draws its own), the initial weights (DLG's or torch's default), the reset (SpikingJelly's
``detach_reset``), and the forward pass (the spike, or the surrogate's primitive: a smooth
network, a control rather than a spiking victim). Each point is attacked by the preset's
ablation attacks (by default the paper's iDLG and the learned decoder). The table gives SSIM
and ASR with CIs and the median final/initial loss on the victim; the figure, SSIM against each
factor, one line per attack.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from snnleak import leakage
from snnleak.attacks.config import PAPER_ATTACKS
from snnleak.reporting import Stat, Table, attack_name
from snnleak.reproduce import figures
from snnleak.reproduce.ablation_plan import BASE_VICTIM, ablation_applies, ablation_points
from snnleak.reproduce.cells import table4_cell
from snnleak.reproduce.preset import Preset
from snnleak.reproduce.tables import asr_stat, cell_records, loss_ratio
from snnleak.trials.loop import Cell


def _cell_of(cells: list[Cell], attack: str, victim: dict) -> Cell | None:
    for c in cells:
        s = c.spec
        flat = s.flat()
        mine = tuple(flat[k] for k in BASE_VICTIM)
        if s.attack == attack and mine == tuple(victim[k] for k in BASE_VICTIM):
            return c
    return None


def rows_of(preset: Preset, cells: list[Cell], chosen: dict, seed: int, by_key: dict) -> list:
    rows, base = [], []
    for factor, value, victim in ablation_points(preset.ablations):
        for attack in preset.ablations.attacks:
            if not ablation_applies(attack, factor):
                continue
            cell = _cell_of(cells, attack, victim)
            rs = [] if cell is None else cell_records(cell, chosen[cell], seed, by_key)[None]
            rows.append(
                (
                    factor,
                    _shown(factor, value),
                    attack_name(attack),
                    len(rs),
                    Stat.of([r["ssim"] for r in rs]),
                    asr_stat(rs),
                    *leakage.id_cells(rs),
                    loss_ratio(rs),
                )
            )
            base = base or rs
    for name, p in leakage.prior_summary(base).items():  # the first point's items and labels
        rows.append(("prior", "-", name, p["n"], p["ssim"], p["asr"]) + (None,) * 5)
    return rows


def _shown(factor: str, value):
    if factor == "public items" and value == 0:
        return "all"
    return f"{value:g}" if isinstance(value, float) else value


def table(preset: Preset, cells: list[Cell], chosen: dict, seed: int, by_key: dict) -> Table:
    a = preset.ablations
    return Table(
        "ablations",
        f"Ablations on SNN-LeNet ({a.dataset}, {a.split} items; base: IF, ATan alpha 2, T = 20, "
        "direct encoding, DLG's init, gradient through the reset, spiking forward; one factor "
        "varies at a time)",
        (
            "Factor",
            "Value",
            "Attack",
            "n",
            "SSIM",
            "ASR (%)",
            *leakage.ID_COLUMNS,
            "Loss final/initial",
        ),
        tuple(rows_of(preset, cells, chosen, seed, by_key)),
        (
            "LIF: tau = 2, decay_input, hard reset to 0. Loss final/initial: median, on the "
            "victim.",
            "The sigmoid, fast-sigmoid and triangle victims run on the reference backend. "
            "Poisson: the client's Bernoulli draw is unknown to the attacker, whose copy of the "
            "model draws its own at every evaluation.",
            "public items: the learned decoder's training items, from the split the victims' "
            "items are not from (all: every one of them).",
            "init torch: U(-b, b), b = 1/sqrt(fan_in), PyTorch's default bound; reset detached: "
            "SpikingJelly's detach_reset=True; forward smooth: the surrogate's primitive "
            "replaces the spike in the victim's forward pass (a smooth network, not an SNN).",
            leakage.ID_NOTE,
            leakage.PRIOR_NOTE + " The prior rows: the first point's items and labels.",
        ),
    )


def figure(path: Path, t: Table) -> Path:
    plt = figures._pyplot()
    every = list(dict.fromkeys(r[0] for r in t.rows if r[0] != "prior"))
    # a factor held at one value is the base victim repeated: no panel of its own
    factors = [f for f in every if len({r[1] for r in t.rows if r[0] == f}) > 1] or every
    fig, axes = plt.subplots(1, len(factors), figsize=(3.4 * len(factors), 3), squeeze=False)
    for ax, factor in zip(axes[0], factors, strict=True):
        rows = [r for r in t.rows if r[0] == factor]
        for attack in dict.fromkeys(r[2] for r in rows):
            pts = [(r[1], r[4]) for r in rows if r[2] == attack and r[4] is not None]
            xs = [str(p[0]) for p in pts]
            ys = [p[1].mean for p in pts]
            err = [[p[1].mean - p[1].low for p in pts], [p[1].high - p[1].mean for p in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=attack)
        ax.set_xlabel(factor)
        ax.set_ylabel("SSIM (mean, 95% CI)")
        ax.legend(fontsize=7)
    fig.suptitle("What makes SNN-LeNet resist: one factor at a time", fontsize=10)
    fig.tight_layout()
    return figures._save(fig, path)


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
