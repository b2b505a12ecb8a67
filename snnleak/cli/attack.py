"""``snnleak attack``: gradient inversion trials on the embedded or real data."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--attack", required=True, help="dlg, idlg or grnn.")
@click.option("--model", required=True, help="ann (sigmoid LeNet) or snn (LeNet5SNN).")
@click.option(
    "--backend",
    default="fused",
    show_default=True,
    help="Neuron backend of the SNN victim: reference, snntorch, norse or fused.",
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
    help="post (Algorithm 1) or in (Algorithm 2).",
)
@click.option(
    "--lbfgs-max-iter", type=int, default=20, show_default=True, help="L-BFGS evaluations per step."
)
@click.option(
    "--grnn-wasserstein",
    default="true",
    show_default=True,
    help="true (W2 between gradient distributions) or original (the GRNN code's).",
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
    """Run N trials; write OUT/records.jsonl and reconstructions; print a summary."""
    from tqdm import tqdm

    from snnleak.attacks import AttackSpec, LBFGSConfig, Thresholding, run_trials
    from snnleak.attacks.outputs import save_reconstruction, summary_table
    from snnleak.errors import ConfigError
    from snnleak.judges import load_judge

    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
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
    judge = load_judge(
        dataset, data_root=data_root, cache_dir=cache_dir, log=lambda m: click.echo(m, err=True)
    ).model
    records = run_trials(
        spec,
        samples,
        seed,
        out_dir,
        judge=judge,
        data_root=data_root,
        batch_trials=batch_trials,
        save_reconstruction=lambda r, x, xr: save_reconstruction(out_dir, r, x, xr),
        progress=lambda it: tqdm(it, total=samples, desc=f"{attack} on {model}", unit="trial"),
    )
    click.echo(summary_table(records))
    click.echo(f"records: {out_dir / 'records.jsonl'}")
