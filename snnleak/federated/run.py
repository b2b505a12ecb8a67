"""``snnleak fl``: a federation on Flower, its curious server's attacks, the leakage per round.

Two phases, each resumable:

1. **Rounds** (:func:`snnleak.federated.flower.simulate`): R rounds of Flower; what the server
   kept (the global weights and client updates of the attack rounds, and the test accuracy of
   every round) is written atomically to ``OUT/<model>/federation.pt`` when the rounds finish.
   A run killed during the rounds reruns them (seeded; minutes on the default setting); a run
   that finds ``federation.pt`` made for the same federation skips them.
2. **Attacks**: every kept update is attacked through the one resumable loop
   (:mod:`snnleak.trials.loop`); records, in the schema of ``snnleak attack`` with ``round``,
   ``client`` and ``federation`` added, are appended to ``OUT/<model>/records.jsonl`` as they
   finish; a rerun skips the recorded ones.

Then ``OUT/leakage.png`` draws SSIM and ASR (means with 95% bootstrap intervals) per attack
round beside the global model's test accuracy per round, for every model in ``OUT``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from snnleak import data
from snnleak.attacks.factory import build_attack
from snnleak.device import describe
from snnleak.federated.flower import Federation, build_global, parts_of, round_batch, simulate
from snnleak.info import package_versions
from snnleak.io import claim_folder, save_atomic, write_json_atomic
from snnleak.seeding import trial_rng
from snnleak.threat import received
from snnleak.trials.loop import Cell, NoOutputs, Unit, is_done, pending_units, run_units
from snnleak.trials.records import RecordLog, trial_key
from snnleak.trials.runner import make_trial, reference_of


def federation_id(fed: Federation) -> str:
    blob = json.dumps(fed.as_dict(), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pairs(fed: Federation) -> list[tuple[int, int]]:
    """(round, client) of every attacked update, in record order."""
    return [(r, c) for r in sorted(fed.attack_rounds) for c in range(fed.clients)]


def rounds_phase(fed: Federation, folder: Path, device, log) -> dict:
    """What the server kept: loaded if this federation already ran here, else run on Flower."""
    path = folder / "federation.pt"
    fid = federation_id(fed)
    if path.exists():
        blob = torch.load(path, map_location="cpu", weights_only=False)
        if blob.get("federation_id") == fid:
            log(f"{folder.name}: the {fed.rounds} rounds ran before; attacking what was kept")
            return blob
        log(f"{path} was made for another federation: running the rounds again")
    start = time.perf_counter()
    kept = simulate(fed, device, log)
    blob = {
        "federation_id": fid,
        "federation": fed.as_dict(),
        **kept,
        "seconds": round(time.perf_counter() - start, 1),
        "versions": package_versions(),
        **describe(device),
    }
    save_atomic(blob, path)
    write_json_atomic(
        folder / "rounds.json",
        {
            "federation": fed.as_dict(),
            "accuracy": {str(k): v for k, v in sorted(kept["accuracy"].items())},
            "seconds": blob["seconds"],
            "versions": blob["versions"],
            **describe(device),
        },
    )
    return blob


def attack_unit(
    fed: Federation, kept: dict, split: data.Split, judge, device, index: int, reference=None
):
    """The curious server's attack on the ``index``-th kept update; ``reference``: the
    evaluation's (:func:`~snnleak.trials.runner.reference_of` of the clients' split)."""
    spec, info = fed.spec, split.info
    rnd, client = pairs(fed)[index]
    model = build_global(fed, info, device)
    model.load_state_dict(kept["globals"][rnd])
    update = [g.to(device) for g in kept["updates"][(rnd, client)]]
    obs = received(
        model,
        update,
        spec.client.batch,
        info.input_shape,
        info.modality,
        spec.client.local_training(),
    )
    start = time.perf_counter()
    rec = build_attack(spec).reconstruct(obs, trial_rng(fed.seed, index, "attack"))
    x, y = round_batch(fed, split, parts_of(fed, split), client, rnd)
    if spec.client.batch == 1:
        x, y = x[0], y[0]
    context = {
        "split": "train",
        "seconds": round(time.perf_counter() - start, 3),
        "batch_trials": 1,
        "shared_thresholds": 1,
        "versions": package_versions(),
        **describe(device),
        "round": rnd,
        "client": client,
        "federation": fed.as_dict(),
        "federation_id": federation_id(fed),
    }
    return [make_trial(spec, info, index, fed.seed, x, y, rec, obs, judge, context, reference)]


def run_federation(
    fed: Federation,
    out: Path,
    device: torch.device,
    judge: torch.nn.Module | None,
    *,
    log: Callable[[str], None] = print,
    bar: Callable | None = None,
) -> list[dict]:
    """Both phases for one model in ``out``; the records of every attacked update."""
    folder = out / fed.spec.model
    folder.mkdir(parents=True, exist_ok=True)
    with claim_folder(folder):
        kept = rounds_phase(fed, folder, device, log)
        split = data.load(fed.spec.dataset, "train", root=fed.data_root, seed=0)
        reference = reference_of(fed.spec.dataset, split, fed.data_root)
        records = RecordLog(folder / "records.jsonl", log)
        todo = pairs(fed)
        cell = Cell(fed.spec, len(todo))
        outputs = NoOutputs()
        done = sum(is_done(records, outputs, cell, i, fed.seed) for i in range(len(todo)))
        progress = bar(len(todo), done) if bar is not None else None
        units = pending_units(
            cell,
            list(range(len(todo))),
            fed.seed,
            lambda c, i: is_done(records, outputs, c, i, fed.seed),
        )

        def execute(units: list[Unit]):
            for u in units:
                yield u, attack_unit(fed, kept, split, judge, device, u.indices[0], reference)

        try:
            run_units(
                units,
                records,
                execute,
                outputs,
                lambda c, r: progress.update(1) if progress is not None else None,
            )
        finally:
            if progress is not None:
                progress.close()
        return [records.get(trial_key(fed.spec, i, fed.seed)) for i in range(len(todo))]


def leakage_rows(out: Path) -> list[dict]:
    """Per model and attack round: SSIM and ASR means with 95% CIs, and the test accuracy."""
    from snnleak import leakage, metrics
    from snnleak.trials.records import read_records

    rows = []
    for folder in sorted(p for p in out.iterdir() if (p / "rounds.json").exists()):
        rounds = json.loads((folder / "rounds.json").read_text())
        fid = hashlib.sha256(
            json.dumps(rounds["federation"], sort_keys=True, default=str).encode()
        ).hexdigest()[:12]
        recs = [r for r in read_records(folder / "records.jsonl") if r.get("federation_id") == fid]
        for rnd in sorted({r["round"] for r in recs}):
            mine = [r for r in recs if r["round"] == rnd]
            success = [float(r["success"]) for r in mine if r["success"] is not None]
            rows.append(
                {
                    "model": folder.name,
                    "round": rnd,
                    "n": len(mine),
                    "ssim": metrics.mean_ci([r["ssim"] for r in mine]),
                    "asr": metrics.mean_ci(success) if success else None,
                    "top1": leakage.top_k(mine, 1),
                    "top5": leakage.top_k(mine, 5),
                    "chance": leakage.chance(mine, 1),
                    "priors": leakage.prior_summary(mine),
                    "accuracy": rounds["accuracy"].get(str(rnd)),
                    "accuracy_per_round": rounds["accuracy"],
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    """The leakage per model and round, with item-level identification (top-1, top-5, the
    chance of top-1) and, under each row, the prior baselines of its clients' labels."""
    from snnleak import leakage
    from snnleak.reporting import text

    lines = [
        "| model | round | attacked updates | SSIM mean [95% CI] | ASR (%) [95% CI] "
        "| top-1 id (%) | top-5 id (%) | chance top-1 (%) | test acc. after the round |",
        "|---|---:|---:|---|---|---|---|---:|---:|",
    ]
    for r in rows:
        s = r["ssim"]
        a = r["asr"]
        asr = "n/a" if a is None else f"{100 * a[0]:.0f} [{100 * a[1]:.0f}, {100 * a[2]:.0f}]"
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}"
        chance = "-" if r.get("chance") is None else f"{r['chance']:.2g}"
        lines.append(
            f"| {r['model']} | {r['round']} | {r['n']} | {s[0]:.2f} [{s[1]:.2f}, {s[2]:.2f}] "
            f"| {asr} | {text(r.get('top1'))} | {text(r.get('top5'))} | {chance} | {acc} |"
        )
        for name, p in r.get("priors", {}).items():
            lines.append(
                f"| {r['model']}: {name} | {r['round']} | {p['n']} | {text(p['ssim'])} "
                f"| {text(p['asr'])} | - | - | - | - |"
            )
    lines += ["", leakage.ID_NOTE, leakage.PRIOR_NOTE]
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> Path:
    """SSIM and ASR per attack round (with CIs) and the test accuracy per round, per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnleak.io import write_atomic

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    names = {"ann": "LeNet (ANN)", "snn": "SNN-LeNet"}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        x = [r["round"] for r in mine]
        label = names.get(model, model)
        for ax, key in ((axes[0], "ssim"), (axes[1], "asr")):
            pts = [(xi, r[key]) for xi, r in zip(x, mine, strict=True) if r[key] is not None]
            if not pts:
                continue
            xs, v = [p[0] for p in pts], [p[1] for p in pts]
            scale = 100 if key == "asr" else 1
            mean = [scale * m for m, _, _ in v]
            err = [[scale * (m - lo) for m, lo, _ in v], [scale * (hi - m) for m, _, hi in v]]
            ax.errorbar(xs, mean, yerr=err, marker="o", capsize=3, label=label)
        acc = mine[0]["accuracy_per_round"]
        rs = sorted(int(k) for k in acc)
        axes[2].plot(rs, [100 * acc[str(k)] for k in rs], marker=".", label=label)
    axes[0].set(title="reconstruction SSIM", xlabel="round", ylabel="SSIM (mean, 95% CI)")
    axes[1].set(title="attack success rate", xlabel="round", ylabel="ASR (%)")
    axes[2].set(title="global model", xlabel="round", ylabel="test accuracy (%)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))
    finally:
        plt.close(fig)
