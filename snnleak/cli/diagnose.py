"""``snnleak diagnose``: the matching loss's landscape (uses the ground truth: not an attack)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dataset", default="mnist-5k", show_default=True)
@click.option("--samples", type=click.IntRange(1), default=8, show_default=True)
@click.option("--timesteps", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def diagnose(dataset: str, samples: int, timesteps: int, seed: int, out: Path) -> None:
    """Loss along start -> truth, the descent cosine and the loss near the truth, ANN and SNN.

    Evaluation that uses the ground truth, outside any attacker."""
    from snnleak import data
    from snnleak.diagnose import figure, landscape, markdown
    from snnleak.io import claim_folder, write_atomic

    models = ["snn"] if data.get_dataset(dataset).modality == "events" else ["ann", "snn"]
    with claim_folder(out):
        results = [landscape(m, dataset, samples, seed, timesteps) for m in models]
        text = markdown(results, dataset, timesteps)
        write_atomic(out / "landscape.md", lambda f: f.write(text.encode()))
        png = figure(results, out / "landscape.png")
    click.echo(text)
    click.echo(f"wrote {out / 'landscape.md'}\nwrote {png}")
