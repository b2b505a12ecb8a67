"""``snnleak attack``: gradient inversion trials on the embedded or real data."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.attacks.config import ATTACKS, GRNN_WASSERSTEIN, MODELS, THRESHOLD_MODES
from snnleak.cli.common import interrupted_hint
from snnleak.neurons import BACKENDS


@click.command()
@click.option("--attack", required=True, type=click.Choice(ATTACKS), help="The attack.")
@click.option(
    "--model", required=True, type=click.Choice(MODELS), help="ann (sigmoid LeNet) or snn."
)
@click.option(
    "--backend",
    default="fused",
    show_default=True,
    type=click.Choice(tuple(BACKENDS)),
    help="Neuron backend of the SNN victim.",
)
@click.option("--dataset", required=True, help="A dataset name (snnleak data info).")
@click.option("--samples", type=int, default=8, show_default=True, help="Trials to run.")
@click.option("--seed", type=int, default=0, show_default=True)
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
@click.option(
    "--grnn-wasserstein",
    default="sorted",
    show_default=True,
    type=click.Choice(GRNN_WASSERSTEIN),
    help="sorted (W2 between the gradients' distributions) or original (the GRNN code's).",
)
@click.option(
    "--batch-trials",
    type=int,
    default=1,
    show_default=True,
    help="Trials run together as one batched computation.",
)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where judge checkpoints live (default ~/.cache/snnleak).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def attack(
    attack: str,
    model: str,
    backend: str,
    dataset: str,
    samples: int,
    seed: int,
    timesteps: int,
    iterations: int | None,
    threshold: float | None,
    threshold_mode: str,
    lbfgs_max_iter: int,
    grnn_wasserstein: str,
    batch_trials: int,
    data_root: Path | None,
    cache_dir: Path | None,
    out_dir: Path,
) -> None:
    """Run N trials; write OUT/records.jsonl and reconstructions; print a summary.

    Trials already in OUT are skipped: rerun the same command to resume."""
    from tqdm import tqdm

    from snnleak import data
    from snnleak.attacks import AttackSpec, LBFGSConfig, Thresholding, run_trials
    from snnleak.attacks.loop import Cell, chosen_items
    from snnleak.attacks.outputs import ReconstructionFiles, summary_table
    from snnleak.attacks.runner import check_memory
    from snnleak.io import claim_folder
    from snnleak.judges import load_judge

    spec = AttackSpec(
        attack,
        model,
        dataset,
        backend=backend,
        timesteps=timesteps,
        iterations=iterations,
        threshold=None if threshold is None else Thresholding(threshold, threshold_mode),
        lbfgs=LBFGSConfig(max_iter=lbfgs_max_iter),
        grnn_wasserstein=grnn_wasserstein,
    )
    # everything that can fail on the input fails here, before any judge is trained
    split = data.load(dataset, "test", root=data_root)
    chosen_items(Cell(spec, samples, batch_trials), len(split), seed)
    check_memory(spec, split.info, min(batch_trials, samples))
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    with claim_folder(out_dir), interrupted_hint(out_dir):
        judge = load_judge(dataset, data_root=data_root, cache_dir=cache_dir, log=echo).model
        records = run_trials(
            spec,
            samples,
            seed,
            out_dir,
            judge=judge,
            split=split,
            batch_trials=batch_trials,
            outputs=ReconstructionFiles(out_dir),
            bar=lambda total, done: tqdm(
                total=total, initial=done, desc=f"{attack} on {model}", unit="trial"
            ),
            warn=echo,
        )
    click.echo(summary_table(records))
    click.echo(f"records: {out_dir / 'records.jsonl'}")
