"""``snnleak diagnose``: the matching loss's landscape (uses the ground truth: not an attack)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dataset", default="mnist-5k", show_default=True)
@click.option("--samples", type=click.IntRange(1), default=8, show_default=True)
@click.option("--timesteps", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--basin/--no-basin",
    default=True,
    show_default=True,
    help="Also measure the exact basin: the victim's polish from the truth + noise.",
)
@click.option(
    "--basin-steps",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="Strong-Wolfe L-BFGS steps of the basin's polish.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def diagnose(
    dataset: str,
    samples: int,
    timesteps: int,
    seed: int,
    basin: bool,
    basin_steps: int,
    out: Path,
) -> None:
    """Loss along start -> truth, the descent cosine and the loss near the truth, ANN and SNN;
    and the exact basin: how often the victim's polish from the truth + noise recovers the item.

    Evaluation that uses the ground truth, outside any attacker."""
    from snnleak import data
    from snnleak.diagnose import basin as measure_basin
    from snnleak.diagnose import basin_markdown, figure, landscape, markdown
    from snnleak.io import claim_folder, write_atomic

    models = ["snn"] if data.get_dataset(dataset).modality == "events" else ["ann", "snn"]
    with claim_folder(out):
        results = [landscape(m, dataset, samples, seed, timesteps) for m in models]
        text = markdown(results, dataset, timesteps)
        write_atomic(out / "landscape.md", lambda f: f.write(text.encode()))
        png = figure(results, out / "landscape.png")
        click.echo(text)
        click.echo(f"wrote {out / 'landscape.md'}\nwrote {png}")
        if basin:
            basins = [
                measure_basin(m, dataset, samples, seed, timesteps, steps=basin_steps)
                for m in models
            ]
            text = basin_markdown(basins, dataset, timesteps)
            write_atomic(out / "basin.md", lambda f: f.write(text.encode()))
            click.echo(text)
            click.echo(f"wrote {out / 'basin.md'}")
