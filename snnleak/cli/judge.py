"""``snnleak train-judge``."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.cli.common import device_option
from snnleak.judges import JUDGES


@click.command("train-judge")
@click.option("--dataset", "name", required=True, help=f"One of: {', '.join(JUDGES)}.")
@click.option(
    "--epochs", type=click.IntRange(1), default=None, help="Default: the judge's own schedule."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Split and init seed.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where checkpoints live (default ~/.cache/snnleak).",
)
@device_option
def train_judge(
    name: str,
    epochs: int | None,
    seed: int,
    data_root: Path | None,
    cache_dir: Path | None,
    device: str,
) -> None:
    """Train a dataset's judge; print its Table II row; save the checkpoint."""
    from tqdm import tqdm

    from snnleak.device import resolve
    from snnleak.judges import train_judge as train

    where = resolve(device)
    result = train(
        name,
        epochs=epochs,
        seed=seed,
        data_root=data_root,
        cache_dir=cache_dir,
        progress=lambda it: tqdm(it, desc=f"train {name} judge on {where}", unit="epoch"),
        device=where,
    )
    m = result.meta
    click.echo("| Dataset | Judge Model | Acc. (%) | epochs | train time (s) |")
    click.echo("|---|---|---:|---:|---:|")
    click.echo(
        f"| {m['dataset']} | {m['arch']} | {100 * m['accuracy']:.2f} | {m['epochs']} "
        f"| {m['train_seconds']} |"
    )
    click.echo(f"saved {result.path}")
