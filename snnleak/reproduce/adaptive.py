"""``reproduce adaptive``: does the SNN's advantage survive an attacker who knows it faces an SNN?

Table IV's data and victims, attacked by the paper's attack (iDLG by default) and by the
adaptive ones (:mod:`snnleak.attacks.proxy`, :mod:`~snnleak.attacks.inverting`,
:mod:`~snnleak.attacks.analytic`, :mod:`~snnleak.attacks.learned`). Per attack, dataset and
model the table gives ASR, MSE, SSIM (mean and median) and PSNR with 95% bootstrap CIs, the
median final/initial matching loss and relative mismatch **on the victim**, and on the SNN rows
the ANN - SNN gap in median SSIM and in ASR, paired by item, with bootstrap CIs.

Rows per dataset and model combine the attacks:

- **the observable pick**, item by item: the reconstruction that explains the observed update
  best (the lowest relative gradient mismatch on the victim), which an attacker can choose
  without the truth;
- **the rehearsed pick** (with ``rehearse``): every attack also ran on the attacker's own
  public items that no decoder trained on, on the same victims; the attack that identified
  the most of them (top-1 against its own split), then by median SSIM, is the one it runs on
  the clients: what an attacker is after is the record, then its picture. It holds those
  items' truth and reads no client's item;
- **the best by SSIM**, item by item: the reconstruction closest to the truth, a choice only the
  ground truth can make, so an upper bound on what the attacks found, labelled as such.

The figure shows the ground truth, the paper's attack and the observable pick for LeNet and
SNN-LeNet on the items Figures 3 and 4 show. With ``reproduce adaptive --model FILE.py:FACTORY``
the victim is that plug-in alone: the same rows, without the ANN - SNN gaps.
"""

from __future__ import annotations

from snnleak import data, leakage, metrics
from snnleak.attacks.config import PAPER_ATTACKS
from snnleak.attacks.picks import observable_pick, rehearsed_choice
from snnleak.reporting import Stat, Table, attack_name, median, model_name
from snnleak.reproduce.cells import table4_cell
from snnleak.reproduce.preset import Preset
from snnleak.reproduce.tables import asr_stat, by_model, cell_records, data_label, loss_ratio
from snnleak.trials.loop import Cell

PICK = "Observable pick"
REHEARSED = "Rehearsed pick"
UPPER = "Best by SSIM (ground truth: an upper bound)"
EXACT = 0.95  # an item counted as recovered (almost) exactly
GAP_NOTE = (
    " The gaps pair each item's ANN and SNN trials (the same items) and resample the pairs for "
    "their 95% bootstrap CI."
)
COLUMNS = (
    "Attack",
    "Dataset",
    "Data used",
    "Model",
    "n",
    "ASR (%)",
    "MSE",
    "SSIM",
    "SSIM (median)",
    f"SSIM >= {EXACT}",
    *leakage.ID_COLUMNS,
    "PSNR (dB)",
    "Loss final/initial (victim)",
    "Mismatch (victim)",
    "ANN - SNN median SSIM",
    "ANN - SNN ASR (points)",
)


def records_by_item(cell: Cell, chosen: dict, seed: int, by_key: dict) -> dict[int, dict]:
    """The cell's records, keyed by item."""
    rs = cell_records(cell, chosen[cell], seed, by_key)[None]
    return {r["sample_index"]: r for r in rs}


def best_by_ssim(per_attack: dict[str, dict[int, dict]]) -> dict[int, dict]:
    """Per item, the record closest to the truth by SSIM (ground truth: an upper bound)."""
    items = set().union(*(r.keys() for r in per_attack.values())) if per_attack else set()
    return {
        i: max((rs[i] for rs in per_attack.values() if i in rs), key=lambda r: r["ssim"])
        for i in items
    }


def _gap(ann: dict[int, dict], snn: dict[int, dict]) -> tuple[Stat | None, Stat | None]:
    """ANN - SNN, paired by item: the gap in median SSIM, and in ASR (percentage points)."""
    items = sorted(set(ann) & set(snn))
    if not items:
        return None, None
    groups = by_model([snn[i] for i in items])  # an item's ANN and SNN models share a round
    ssim = metrics.paired_difference_ci(
        [ann[i]["ssim"] for i in items], [snn[i]["ssim"] for i in items], "median", groups=groups
    )

    def won(r: dict) -> float | None:
        return None if r.get("success") is None else 100.0 * r["success"]

    asr = metrics.paired_difference_ci(
        [won(ann[i]) for i in items], [won(snn[i]) for i in items], "mean", groups=groups
    )
    return tuple(None if d[0] != d[0] else Stat(*d) for d in (ssim, asr))


def _row(name: str, paper: str, label: str, model: str, rs: list[dict], gaps) -> tuple:
    return (
        name,
        paper,
        label,
        model_name(model),
        len(rs),
        asr_stat(rs),
        Stat.of([r["mse"] for r in rs], groups=by_model(rs)),
        Stat.of([r["ssim"] for r in rs], groups=by_model(rs)),
        median([r["ssim"] for r in rs]),
        f"{sum(r['ssim'] >= EXACT for r in rs)}/{len(rs)}",
        *leakage.id_cells(rs),
        Stat.of([r["psnr"] for r in rs], groups=by_model(rs)),
        loss_ratio(rs),
        median([r.get("relative_mismatch") for r in rs]),
        *gaps,
    )


def _prior_rows(paper: str, label: str, model: str, per: dict[str, dict[int, dict]]) -> list:
    """The prior baselines of one dataset and model, from the records of the paper's attack
    (its label is exact) or else of the first attack."""
    if not per:
        return []
    attack = next((a for a in per if a in PAPER_ATTACKS), next(iter(per)))
    rows = []
    for name, p in leakage.prior_summary(list(per[attack].values())).items():
        row = (name, paper, label, model_name(model), p["n"], p["asr"], p["mse"], p["ssim"])
        row += (p["median_ssim"],)
        rows.append(row + (None,) * (len(COLUMNS) - len(row)))
    return rows


def table(cells: list[Cell], chosen: dict, seed: int, by_key: dict, infos: dict) -> Table:
    """Every attack's row, then the observable pick and the upper bound, per dataset and
    model; the ANN - SNN gaps on the SNN rows; a verdict per dataset."""
    rows, notes, verdict = [], {}, []
    seconds = 0.0
    for paper in dict.fromkeys(c.paper_dataset for c in cells):
        mine = [c for c in cells if c.paper_dataset == paper]
        label, note = data_label(infos[mine[0].spec.dataset], paper)
        if note:
            notes[note] = None
        per, rehearsed = by_attack(mine, chosen, seed, by_key)
        choices = {m: rehearsed_choice(rehearsed[m]) for m in per}
        combined = {m: {PICK: observable_pick(per[m])} for m in per}
        for m in per:
            if choices[m] is not None:
                combined[m][REHEARSED] = per[m].get(choices[m], {})
            combined[m][UPPER] = best_by_ssim(per[m])
        for model in per:
            for rs in [*per[model].values(), *rehearsed[model].values()]:
                seconds += sum(r.get("seconds") or 0 for r in rs.values())
            for attack, recs in [*per[model].items(), *combined[model].items()]:
                gaps = (None, None)
                if model == "snn" and "ann" in per:
                    ann = per["ann"].get(attack, combined["ann"].get(attack, {}))
                    gaps = _gap(ann, recs)
                name = _label(attack, choices[model]) if attack not in per[model] else None
                name = name or attack_name(attack)
                rows.append(_row(name, paper, label, model, list(recs.values()), gaps))
            rows += _prior_rows(paper, label, model, per[model])
        if {"ann", "snn"} <= set(per):
            verdict.append(_verdict(paper, per, combined, _label(REHEARSED, choices["snn"])))
        else:
            verdict += [_solo_verdict(paper, m, per[m], combined[m], choices[m]) for m in per]
        notes[_protocol(mine, chosen, seed, by_key)] = None
    models = dict.fromkeys(c.spec.model for c in cells)
    victims, twins = " and ".join(map(model_name, models)), {"ann", "snn"} <= set(models)
    return Table(
        "adaptive",
        f"Adaptive attacks beside the paper's, on {victims}, and the attack an attacker "
        f"would pick by what it observes ({cells[0].spec.split} items, last iterate; mean [95% "
        "bootstrap CI])",
        COLUMNS,
        tuple(rows),
        (
            *notes,
            f"{PICK}: per item, the reconstruction (of any attack above) with the lowest "
            "relative gradient mismatch on the victim, sum_l ||g'_l - g_l||^2 / sum_l "
            "||g_l||^2: a choice the attacker can make. "
            f"{REHEARSED}: the attack (named) that identified the most of the attacker's own "
            "public items (top-1 against their split), then by median SSIM, on items that no "
            "decoder trained on, attacked on the same victims: the attacker holds their truth, "
            "and reads no client's item. "
            f"{UPPER}: per item, the reconstruction closest to the truth; only the ground truth "
            "can choose it, so it bounds what the attacks found and is no attack.",
            leakage.ID_NOTE,
            leakage.PRIOR_NOTE + " From the labels the paper's attack (iDLG) recovered.",
            "Loss final/initial and mismatch: medians, on the victim itself." + GAP_NOTE * twins,
            *verdict,
            f"Compute: {seconds / 60:.1f} trial-minutes over the attacks' records on this "
            "run's device.",
        ),
    )


def by_attack(cells: list[Cell], chosen: dict, seed: int, by_key: dict) -> tuple[dict, dict]:
    """One dataset's records as ``{model: {attack: {item: record}}}``: the clients', and the
    rehearsal's (the attacker's own items)."""
    models = dict.fromkeys(c.spec.model for c in cells)
    per: dict[str, dict[str, dict[int, dict]]] = {m: {} for m in models}
    rehearsed: dict[str, dict[str, dict[int, dict]]] = {m: {} for m in models}
    for c in cells:
        where = rehearsed if c.spec.rehearsal else per
        where[c.spec.model][c.spec.attack] = records_by_item(c, chosen, seed, by_key)
    return per, rehearsed


def _label(name: str, choice: str | None) -> str:
    """A combined row's name; the rehearsed pick names the attack it chose."""
    if name == REHEARSED and choice is not None:
        return f"{REHEARSED} ({attack_name(choice)})"
    return name


def _protocol(cells: list[Cell], chosen: dict, seed: int, by_key: dict) -> str:
    """Where the victims' items and the public items come from, and the decoders' fits."""
    spec = cells[0].spec
    victims = "every trial attacks a victim of its own (the paper's protocol)"
    if spec.victims == "round" and spec.broadcasts == 1:
        victims = "every trial is a client of one federation round: one broadcast model per "
        victims += "(dataset, model)"
    elif spec.victims == "round":
        victims = f"every trial is a client of one of {spec.broadcasts} federation rounds: "
        victims += f"{spec.broadcasts} broadcast models per (dataset, model), whose variation "
        victims += "the CIs cover (they resample the models, then the items)"
    spec = next((c.spec for c in cells if not c.spec.rehearsal), spec)
    text = f"Victims: {victims}; their items come from the {spec.split} split."
    rehearsal = [c for c in cells if c.spec.rehearsal]
    if rehearsal:
        text += (
            f" Rehearsal: {rehearsal[0].samples} of the attacker's own public items "
            f"({rehearsal[0].spec.split} split), kept out of every decoder fit, attacked by "
            "every attack on the clients' victims."
        )
    fits = [
        r["attack_details"]
        for c in cells
        for r in records_by_item(c, chosen, seed, by_key).values()
        if r.get("attack_details", {}).get("fit_seconds") is not None
    ]
    if fits:
        fitted = {(d["decoder"], d["fit_seconds"]): d for d in fits}.values()
        sizes = sorted({d["public_items"] for d in fits})
        fit_time = median([d["fit_seconds"] for d in fitted])
        text += (
            f" The learned attacks' decoders ({', '.join(sorted({d['decoder'] for d in fits}))})"
            f" train on {', '.join(map(str, sizes))} public items of the other split, which no "
            f"client holds: {len(fitted)} fits, median {fit_time:.0f} s."
        )
    return text


def _verdict(paper: str, per: dict, combined: dict, rehearsed_label: str) -> str:
    """One line: the gap under the paper's attack, under the observable and the rehearsed
    picks, and the bound; how often the observable pick found the best reconstruction."""
    parts = []
    base = [a for a in per["snn"] if a in PAPER_ATTACKS][:1]
    picks = []
    if REHEARSED in combined["snn"]:
        picks = [(rehearsed_label, combined["ann"].get(REHEARSED, {}), combined["snn"][REHEARSED])]
    for name, ann, snn in (
        *((attack_name(a), per["ann"].get(a, {}), per["snn"][a]) for a in base),
        (PICK, combined["ann"][PICK], combined["snn"][PICK]),
        *picks,
        ("the upper bound", combined["ann"][UPPER], combined["snn"][UPPER]),
    ):
        ssim, asr = _gap(ann, snn)
        if ssim is None:
            continue
        snn_ssim = median([r["ssim"] for r in snn.values()])
        parts.append(
            f"{name}: SNN median SSIM {snn_ssim:.2f}, ANN - SNN {ssim.mean:.2f} "
            f"[{ssim.low:.2f}, {ssim.high:.2f}]"
            + ("" if asr is None else f", ASR gap {asr.mean:.0f} points")
        )
    pick, best = combined["snn"][PICK], combined["snn"][UPPER]
    if pick:
        same = sum(pick[i]["ssim"] >= best[i]["ssim"] for i in pick if i in best)
        parts.append(
            f"the observable pick chose the SNN item's best reconstruction on {same} of "
            f"{len(pick)} items"
        )
    return f"{paper}: " + "; ".join(parts) + "."


def _solo_verdict(paper: str, model: str, per: dict, combined: dict, choice: str | None) -> str:
    """One line for a victim without its ANN twin: median SSIM and top-1 identification under
    the paper's attack, the picks and the bound."""
    parts = []
    base = [a for a in per if a in PAPER_ATTACKS][:1]
    for name, recs in (
        *((attack_name(a), per[a]) for a in base),
        *((_label(k, choice), combined[k]) for k in (PICK, REHEARSED) if k in combined),
        ("the upper bound", combined[UPPER]),
    ):
        if recs:
            rs = list(recs.values())
            top1 = leakage.top_k(rs, 1)
            found = "" if top1 is None else f", top-1 identification {top1.mean:.0f}%"
            ssim = median([r["ssim"] for r in rs])
            parts.append(f"{name}: median SSIM {ssim:.2f}{found}, beats the oracle prior on ")
            parts[-1] += leakage.beats_oracle(rs)
    return f"{paper} on {model_name(model)}: " + "; ".join(parts) + "."


def adaptive_cells(preset: Preset, backend: str) -> list[Cell]:
    """Table IV's data and victims under the paper's attacks and the adaptive ones: a paper
    attack keeps Table IV's budget and optimiser; an adaptive one its own defaults. With
    ``rehearse``, every attack also runs on that many of the attacker's own public items (the
    rehearsal items no decoder trains on), on the clients' victims; with ``broadcasts``, the
    clients of that many rounds (``samples`` each), the rehearsal items spread over them."""
    p, a = preset.table4, preset.adaptive
    datasets = [(paper, d) for paper, d in p.datasets if not a.datasets or d in a.datasets]
    split = a.split or p.split
    public = "train" if split == "test" else "test"
    clients = a.samples * a.broadcasts
    runs = [(split, clients, False)] + ([(public, a.rehearse, True)] if a.rehearse else [])
    return [
        table4_cell(
            preset,
            backend,
            attack,
            model,
            paper,
            dataset,
            samples=samples,
            table="adaptive",
            iterations=p.iterations_of(attack) if attack in PAPER_ATTACKS else a.iterations,
            split=where,
            victims=a.victims,
            broadcasts=a.broadcasts,
            decoder=a.decoder,
            rehearsal=rehearsal,
        )
        for where, samples, rehearsal in runs
        for attack in a.attacks
        for paper, dataset in datasets
        for model in preset.models
        if not (model == "ann" and data.get_dataset(dataset).modality == "events")
    ]
