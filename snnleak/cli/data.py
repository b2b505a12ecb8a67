"""``snnleak data ...``: what a dataset holds, and fetching the real ones."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.data import DATASETS


@click.group()
def data() -> None:
    """Datasets: real loaders and the embedded offline sets."""


@data.command()
@click.option("--dataset", "name", required=True, help=f"One of: {', '.join(DATASETS)}.")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the real datasets live (their libraries' own layouts).",
)
@click.option("--download", is_flag=True, help="Fetch a real dataset if it is missing.")
@click.option("--seed", type=int, default=0, show_default=True, help="Split seed.")
def info(name: str, data_root: Path | None, download: bool, seed: int) -> None:
    """Items per split, item shape, classes and modality of a dataset."""
    from snnleak import data as datasets

    splits = {
        s: datasets.load(name, s, root=data_root, download=download, seed=seed)
        for s in ("train", "test")
    }
    meta = splits["train"].info
    click.echo(f"dataset:   {meta.name}{'  [SYNTHETIC]' if meta.synthetic else ''}")
    click.echo(f"source:    {meta.source}")
    if meta.stands_in_for:
        click.echo(f"stands in: for {meta.stands_in_for}")
    click.echo(f"modality:  {meta.modality}")
    click.echo(f"shape:     {list(meta.input_shape)}")
    click.echo("items:     " + ", ".join(f"{s} {len(v)}" for s, v in splits.items()))
    names = ", ".join(meta.class_names[:12]) + (" ..." if meta.num_classes > 12 else "")
    click.echo(f"classes:   {meta.num_classes} ({names})")


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
