"""``snnleak attack``: gradient inversion trials on the embedded or real data."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.attacks.config import (
    ATTACKS,
    CLAMPS,
    DECODERS,
    ENCODINGS,
    GRNN_GENERATORS,
    GRNN_WASSERSTEIN,
    INITS,
    LINE_SEARCHES,
    LOSS_NORMS,
    MODELS,
    NEURONS,
    SPLITS,
    SURROGATE_FAMILIES,
    THRESHOLD_MODES,
    VICTIM_PROTOCOLS,
)
from snnleak.cli.common import device_option, interrupted_hint
from snnleak.neurons import BACKENDS


def _model_choice(value: str) -> str:
    if value in MODELS or ":" in value:
        return value
    raise click.BadParameter(f"{value!r} is not ann, snn or a plug-in FILE.py:FACTORY")


@click.command()
@click.option("--attack", required=True, type=click.Choice(ATTACKS), help="The attack.")
@click.option(
    "--model",
    required=True,
    callback=lambda ctx, param, v: _model_choice(v),
    metavar="[ann|snn|FILE.py:FACTORY|MODULE:FACTORY]",
    help="ann (sigmoid LeNet), snn (LeNet5SNN), or your own (see the README).",
)
@click.option(
    "--backend",
    default="fused",
    show_default=True,
    type=click.Choice(tuple(BACKENDS)),
    help="Neuron backend of the SNN victim.",
)
@click.option("--dataset", required=True, help="A dataset name (snnleak data info).")
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default="train",
    show_default=True,
    help="Where the attacked items come from (the paper: a client's training items).",
)
@click.option("--samples", type=int, default=8, show_default=True, help="Trials to run.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--neuron",
    type=click.Choice(NEURONS),
    default="if",
    show_default=True,
    help="The SNN victim's neuron (LIF: tau 2).",
)
@click.option(
    "--surrogate-alpha",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="The SNN victim's ATan surrogate sharpness.",
)
@click.option(
    "--surrogate",
    type=click.Choice(SURROGATE_FAMILIES),
    default="atan",
    show_default=True,
    help="The SNN victim's surrogate family (all but atan: --backend reference).",
)
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS),
    default="direct",
    show_default=True,
    help="The SNN victim's image code (poisson: rate coding, draw unknown to the attacker).",
)
@click.option(
    "--timesteps",
    type=int,
    default=20,
    show_default=True,
    help="T of the spiking victim on images (event data bring their own).",
)
@click.option(
    "--iterations",
    type=int,
    default=None,
    help="Optimiser steps (default: DLG/iDLG 300, GRNN 1000).",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Binarise spike reconstructions at this value in (0, 1).",
)
@click.option(
    "--threshold-mode",
    default="post",
    show_default=True,
    type=click.Choice(THRESHOLD_MODES),
    help="post (Algorithm 1) or in (Algorithm 2).",
)
@click.option(
    "--lbfgs-max-iter", type=int, default=20, show_default=True, help="L-BFGS evaluations per step."
)
@click.option("--lr", type=float, default=1.0, show_default=True, help="L-BFGS learning rate.")
@click.option("--line-search", type=click.Choice(LINE_SEARCHES), default="none", show_default=True)
@click.option(
    "--loss-norm",
    type=click.Choice(LOSS_NORMS),
    default="global",
    show_default=True,
    help="Weighing of the matching loss's layers: global divides it by the observed update's "
    "squared norm (scale-free); none is DLG's plain sum.",
)
@click.option(
    "--clamp",
    type=click.Choice(CLAMPS),
    default="final",
    show_default=True,
    help="DLG/iDLG: keep image dummies in [0, 1] once at the end (as DLG's code) or after "
    "every optimiser step (stalls L-BFGS on real digits: docs/fidelity.md, B9).",
)
@click.option(
    "--aux-items",
    type=int,
    default=0,
    show_default=True,
    help="learned, learned-proxy: public items that train the decoder (0: all of the split "
    "the victims' items are not from, less its 32 rehearsal items).",
)
@click.option(
    "--decoder",
    type=click.Choice(DECODERS),
    default="mlp",
    show_default=True,
    help="learned, learned-proxy: Learning To Invert's MLP, or the ridge baseline.",
)
@click.option("--victim-init", type=click.Choice(INITS), default="dlg", help="DLG's or torch's")
@click.option(
    "--victims",
    type=click.Choice(VICTIM_PROTOCOLS),
    default="fresh",
    show_default=True,
    help="fresh: a victim model per trial (the paper's); round: every trial is a client of one "
    "federation round, sharing one model.",
)
@click.option(
    "--grnn-wasserstein",
    default="original",
    show_default=True,
    type=click.Choice(GRNN_WASSERSTEIN),
    help="original (the GRNN code's) or sorted (W2 between the gradients' distributions).",
)
@click.option(
    "--grnn-generator",
    default="glu",
    show_default=True,
    type=click.Choice(GRNN_GENERATORS),
    help="glu (the published GRNN generator) or upsample (snnleak's smaller one).",
)
@click.option(
    "--batch-trials",
    default="1",
    show_default=True,
    metavar="[K|auto]",
    help="Trials run together as one batched computation; auto: as many as suit --device.",
)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where judge checkpoints live (default ~/.cache/snnleak).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--batch",
    type=int,
    default=1,
    show_default=True,
    help="The client's batch size B: its update is the mean gradient of B private items.",
)
@click.option(
    "--local-epochs",
    type=int,
    default=1,
    show_default=True,
    help="FedAvg: the client's local epochs over its batch (1 with --local-batch 0: FedSGD).",
)
@click.option(
    "--local-batch",
    type=int,
    default=0,
    show_default=True,
    help="FedAvg: the client's mini-batch size (0: its whole batch).",
)
@click.option(
    "--local-lr", type=float, default=0.1, show_default=True, help="FedAvg: client SGD lr."
)
@click.option(
    "--update-attack",
    type=click.Choice(("simulate", "approx")),
    default="simulate",
    show_default=True,
    help="A multi-step update: run the client's local steps on the dummy, or treat "
    "delta / (lr * steps) as one gradient.",
)
@click.option(
    "--defense",
    default="none",
    show_default=True,
    metavar="[none|dp:CLIP:SIGMA|topk:FRACTION|quant:BITS]",
    help="The client's defense, applied to its update before the server sees it.",
)
@device_option
def attack(
    attack: str,
    model: str,
    backend: str,
    dataset: str,
    split: str,
    samples: int,
    seed: int,
    neuron: str,
    surrogate_alpha: float,
    surrogate: str,
    encoding: str,
    timesteps: int,
    iterations: int | None,
    threshold: float | None,
    threshold_mode: str,
    lbfgs_max_iter: int,
    lr: float,
    line_search: str,
    loss_norm: str,
    clamp: str,
    aux_items: int,
    decoder: str,
    victims: str,
    victim_init: str,
    grnn_wasserstein: str,
    grnn_generator: str,
    batch_trials: str,
    data_root: Path | None,
    cache_dir: Path | None,
    out_dir: Path,
    batch: int,
    local_epochs: int,
    local_batch: int,
    local_lr: float,
    update_attack: str,
    defense: str,
    device: str,
) -> None:
    """Run N trials; write OUT/records.jsonl and reconstructions; print a summary.

    Trials already in OUT are skipped: rerun the same command to resume."""
    from tqdm import tqdm

    from snnleak import data
    from snnleak.attacks import AttackSpec, LBFGSConfig, Thresholding
    from snnleak.attacks.config import PUBLIC_DATA_ATTACKS
    from snnleak.attacks.factory import check_public
    from snnleak.device import resolve
    from snnleak.io import claim_folder
    from snnleak.judges import JUDGES, load_judge
    from snnleak.models.victims import build_victim
    from snnleak.seeding import trial_rng
    from snnleak.trials.loop import Cell, chosen_items
    from snnleak.trials.memory import check_memory
    from snnleak.trials.outputs import ReconstructionFiles, summary_table
    from snnleak.trials.runner import run_trials

    spec = AttackSpec(
        attack,
        model,
        dataset,
        backend=backend,
        timesteps=timesteps,
        iterations=iterations,
        threshold=None if threshold is None else Thresholding(threshold, threshold_mode),
        lbfgs=LBFGSConfig(lr=lr, max_iter=lbfgs_max_iter, line_search=line_search),
        grnn_wasserstein=grnn_wasserstein,
        split=split,
        loss_norm=loss_norm,
        clamp=clamp,
        aux_items=aux_items,
        decoder=decoder,
        victims=victims,
        victim_init=victim_init,
        grnn_generator=grnn_generator,
        neuron=neuron,
        surrogate_alpha=surrogate_alpha,
        surrogate=surrogate,
        encoding=encoding,
        defense=defense,
        batch=batch,
        local_epochs=local_epochs,
        local_batch=local_batch,
        local_lr=local_lr,
        update_attack=update_attack,
    )
    # everything that can fail on the input fails here, before any judge is trained
    where = resolve(device)
    items = data.load(dataset, spec.split, root=data_root)
    batch_trials = trials_together(batch_trials, spec, items.info, where, samples)
    chosen_items(Cell(spec, samples, batch_trials), len(items), seed)
    check_memory(spec, items.info, min(batch_trials, samples))
    if spec.attack in PUBLIC_DATA_ATTACKS:  # the attacker's public items are there, and enough
        check_public(spec, data.public_split(dataset, spec.split, root=data_root))
    build_victim(spec.victim, items.info, trial_rng(seed, 0, "check"))  # a plug-in's contract
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    with claim_folder(out_dir), interrupted_hint(out_dir):
        judge = None
        if dataset in JUDGES:
            judge = load_judge(
                dataset, data_root=data_root, cache_dir=cache_dir, log=echo, device=where
            ).model
        else:
            echo(f"no judge exists for {dataset}: the attack success rate is not measured")
        records = run_trials(
            spec,
            samples,
            seed,
            out_dir,
            judge=judge,
            split=items,
            batch_trials=batch_trials,
            outputs=ReconstructionFiles(out_dir),
            bar=lambda total, done: tqdm(
                total=total, initial=done, desc=f"{attack} on {model}", unit="trial"
            ),
            warn=echo,
            device=where,
        )
    click.echo(summary_table(records))
    click.echo(f"records: {out_dir / 'records.jsonl'}")


def trials_together(value: str, spec, info, device, samples: int) -> int:
    """``--batch-trials``: K, or ``auto`` (:mod:`snnleak.reproduce.batching`)."""
    from snnleak.reproduce.batching import auto_for, batch_of

    if value == "auto":
        return batch_of(auto_for(device), samples, spec, info)
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a number of trials nor 'auto'", param_hint="--batch-trials"
        ) from None
