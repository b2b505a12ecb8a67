"""``reproduce defenses``: privacy against utility, for the ANN and the SNN, one point per defense.

For every model and defense of the preset's ``[defenses]`` section, a federation runs on Flower
(``snnleak fl``'s machinery: same rounds, same resume) with every client applying the defense,
and the curious server attacks the last round's updates. A point is (the global model's test
accuracy after the last round, the attack's success on that round's updates); the table adds
SSIM, label recovery and the defense's (epsilon, delta) over the rounds (Opacus RDP accountant,
each client taking part in every round).
"""

from __future__ import annotations

import json
from pathlib import Path

from snnleak import leakage
from snnleak.attacks import LBFGSConfig, spec_of
from snnleak.defenses import Defense, privacy
from snnleak.federated.flower import Federation
from snnleak.federated.run import run_federation
from snnleak.reporting import Stat, Table, model_name
from snnleak.reproduce.defense_plan import DefensesPlan


def federations(
    plan: DefensesPlan, backend: str, seed: int, data_root=None
) -> list[tuple[str, Federation]]:
    out = []
    for model in plan.models:
        for defense in plan.defenses:
            spec = spec_of(
                plan.attack,
                model,
                plan.dataset,
                backend=backend,
                timesteps=plan.timesteps,
                iterations=plan.iterations,
                lbfgs=LBFGSConfig(line_search="strong_wolfe"),
                loss_norm="global",
                batch=plan.batch,
                local_lr=plan.local_lr,
                defense=defense,
            )
            fed = Federation(
                spec,
                clients=plan.clients,
                rounds=plan.rounds,
                attack_rounds=(plan.rounds,),
                seed=seed,
                data_root=None if data_root is None else str(data_root),
            )
            out.append((defense, fed))
    return out


def folder_of(out: Path, defense: str) -> Path:
    return out / "defenses" / defense.replace(":", "_")


def run(
    plan: DefensesPlan, backend: str, seed: int, out: Path, device, judge, log, bar, data_root=None
) -> list:
    """Every federation of the plan (resumable); one row per (model, defense)."""
    rows = []
    for defense, fed in federations(plan, backend, seed, data_root):
        folder = folder_of(out, defense)
        records = run_federation(fed, folder, device, judge, log=log, bar=bar)
        acc = json.loads((folder / fed.spec.model / "rounds.json").read_text())["accuracy"]
        success = [float(r["success"]) for r in records if r["success"] is not None]
        rows.append(
            {
                "model": fed.spec.model,
                "defense": defense,
                "accuracy": acc[str(plan.rounds)],
                "asr": Stat.of(success, 100),
                "ssim": Stat.of([r["ssim"] for r in records]),
                "labels": sum(bool(r["label_correct"]) for r in records) / len(records),
                "identification": leakage.id_cells(records),
                "priors": leakage.prior_summary(records),
                "privacy": privacy(Defense.parse(defense), releases=plan.rounds),
                "n": len(records),
            }
        )
    return rows


def table(plan: DefensesPlan, rows: list[dict]) -> Table:
    body, priors = [], {}
    for r in rows:
        eps = "-" if r["privacy"] is None else r["privacy"]["epsilon"]
        eps = "inf" if eps is None else (eps if eps == "-" else f"{eps:.1f}")
        acc = f"{100 * r['accuracy']:.1f}"
        labels = f"{100 * r['labels']:.0f}"
        body.append((model_name(r["model"]), r["defense"], eps, acc, r["asr"], r["ssim"], labels))
        body[-1] += tuple(r["identification"])
        if r["model"] not in priors or r["defense"] == "none":  # the undefended update's labels
            priors[r["model"]] = r["priors"]
    for model, summary in priors.items():
        for name, p in summary.items():
            body.append((model_name(model), name, "-", "-", p["asr"], p["ssim"]) + (None,) * 5)
    caption = (
        f"{plan.clients} clients, {plan.rounds} FedSGD rounds on Flower, B = {plan.batch} items "
        f"per client per round, lr {plan.local_lr}; the server attacks round {plan.rounds}'s "
        f"updates with {plan.attack} ({plan.iterations} steps); epsilon at delta = 1e-5 over "
        f"the {plan.rounds} rounds (Opacus RDP). Means with 95% bootstrap CIs."
    )
    return Table(
        "defenses",
        "Defenses: privacy against utility. " + caption,
        (
            "Model",
            "Defense",
            "epsilon",
            "Test acc. (%)",
            "ASR (%)",
            "SSIM",
            "Labels (%)",
            *leakage.ID_COLUMNS,
        ),
        tuple(body),
        (
            leakage.ID_NOTE + " Identification is per item, against the clients' whole split.",
            leakage.PRIOR_NOTE + " The prior rows: the labels recovered from undefended updates.",
        ),
    )


def figure(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnleak.io import write_atomic

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for model, marker in (("ann", "o"), ("snn", "s")):
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        for ax, key in ((axes[0], "asr"), (axes[1], "ssim")):
            pts = [r for r in mine if r[key] is not None]
            x = [100 * r["accuracy"] for r in pts]
            y = [r[key].mean for r in pts]
            err = [
                [r[key].mean - r[key].low for r in pts],
                [r[key].high - r[key].mean for r in pts],
            ]
            ax.errorbar(x, y, yerr=err, fmt=marker, capsize=3, label=model_name(model))
            for r, xi, yi in zip(pts, x, y, strict=True):
                ax.annotate(
                    r["defense"], (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
    axes[0].set(xlabel="test accuracy after the last round (%)", ylabel="attack success (%)")
    axes[1].set(xlabel="test accuracy after the last round (%)", ylabel="SSIM")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Privacy against utility: one point per defense", fontsize=10)
    fig.tight_layout()
    try:
        return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))
    finally:
        plt.close(fig)
