"""``snnleak data ...``: what a dataset holds, and fetching the real ones."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.data import DATASETS
from snnleak.data.base import SPLITS


@click.group()
def data() -> None:
    """Datasets: real loaders and the embedded offline sets."""


@data.command()
@click.option(
    "--dataset",
    "name",
    default=None,
    help=f"One of: {', '.join(DATASETS)} (default: a line per dataset).",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the real datasets live (their libraries' own layouts).",
)
@click.option("--download", is_flag=True, help="Fetch a real dataset if it is missing.")
@click.option("--seed", type=int, default=0, show_default=True, help="Split seed.")
def info(name: str | None, data_root: Path | None, download: bool, seed: int) -> None:
    """Items per split, item shape, classes and modality of a dataset; without --dataset, one
    line per dataset, saying which hold real items and which are stand-ins."""
    from snnleak import data as datasets

    if name is None:
        _overview(data_root, seed)
        return
    splits = {
        s: datasets.load(name, s, root=data_root, download=download, seed=seed)
        for s in ("train", "test")
    }
    meta = splits["train"].info
    click.echo(f"dataset:   {meta.name}{'  [SYNTHETIC]' if meta.synthetic else ''}")
    click.echo(f"source:    {meta.source}")
    click.echo(f"items:     {meta.items_summary}")
    click.echo(f"modality:  {meta.modality}")
    click.echo(f"shape:     {list(meta.input_shape)}")
    click.echo("splits:    " + ", ".join(f"{s} {len(v)}" for s, v in splits.items()))
    names = ", ".join(meta.class_names[:12]) + (" ..." if meta.num_classes > 12 else "")
    click.echo(f"classes:   {meta.num_classes} ({names})")


def _overview(data_root: Path | None, seed: int) -> None:
    from snnleak import data as datasets

    click.echo("| dataset | items (train + test) | shape | classes | what the items are |")
    click.echo("|---|---:|---|---:|---|")
    for name, spec in DATASETS.items():
        try:
            train, test = (datasets.load(name, s, root=data_root, seed=seed) for s in SPLITS)
        except datasets.DataUnavailable:
            click.echo(f"| {name} | - | - | - | {spec.summary}: needs --data-root |")
            continue
        meta = train.info
        shape = "x".join(map(str, meta.input_shape))
        size = f"{len(train) + len(test):,} ({len(train):,} + {len(test):,})"
        click.echo(f"| {name} | {size} | {shape} | {meta.num_classes} | {meta.items_summary} |")


REAL = tuple(n for n, s in DATASETS.items() if s.real)


@data.command()
@click.argument("name", type=click.Choice(REAL), metavar="NAME")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where to put it (the library's own layout); pass the same --data-root to runs.",
)
def download(name: str, data_root: Path) -> None:
    """Fetch the real dataset NAME with torchvision's or tonic's downloader."""
    from snnleak import data as datasets

    sizes = datasets.download(name, data_root)
    click.echo(
        f"{name}: " + ", ".join(f"{s} {n}" for s, n in sizes.items()) + f" items in {data_root}"
    )
