"""``snnleak reproduce``: the paper's tables and figures from a preset, resumable."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.cli.common import device_option, interrupted_hint
from snnleak.neurons import BACKENDS
from snnleak.reproduce.plan import TARGETS

Dir = click.Path(file_okay=False, path_type=Path)


@click.command()
@click.argument("target", type=click.Choice(TARGETS))
@click.option(
    "--preset",
    default="quick",
    show_default=True,
    help="quick, paper (shipped with snnleak: `snnleak presets`), or a preset .toml file.",
)
@click.option(
    "--backend",
    type=click.Choice(tuple(BACKENDS)),
    default=None,
    help="Neuron backend of the SNN victims (default: the preset's).",
)
@click.option("--data-root", type=Dir, default=None, help="Where the real datasets are.")
@click.option(
    "--cache-dir", type=Dir, default=None, help="Judge checkpoints (default ~/.cache/snnleak)."
)
@click.option("--out", type=Dir, default=None, help="Default: runs/reproduce-<preset>.")
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: a process pool here; ray: a Ray cluster (pip install 'snnleak[ray]').",
)
@click.option("--address", default=None, help="The Ray cluster to join (default: start one here).")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Trials run at once (default: one per core, or one per GPU).",
)
@click.option(
    "--samples",
    type=int,
    default=None,
    help="Items per cell, overriding the preset's (Tables IV and V, adaptive, ablations).",
)
@click.option(
    "--model",
    default=None,
    metavar="FILE.py:FACTORY",
    help="adaptive and sweep: attack your own model (a plug-in) instead of LeNet and SNN-LeNet.",
)
@click.option(
    "--accelerate",
    is_flag=True,
    help="With --model: its neurons on snnleak's fused op where they compute exactly the same "
    "(snnleak.accelerate).",
)
@device_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan only: print the trial count and an hours estimate per table (times a few "
    "optimiser steps per kind of cell on --device; needs no dataset).",
)
@click.option(
    "--tables-only",
    is_flag=True,
    help="Write the tables and figures from OUT's records alone, running no trial (an error "
    "names what is missing): how shipped records are checked.",
)
def reproduce(
    target: str,
    preset: str,
    backend: str | None,
    data_root: Path | None,
    cache_dir: Path | None,
    out: Path | None,
    executor: str,
    address: str | None,
    workers: int | None,
    samples: int | None,
    model: str | None,
    accelerate: bool,
    device: str,
    dry_run: bool,
    tables_only: bool,
) -> None:
    """Reproduce TARGET (table2, table4, table5, table6, fig3, fig4, fig5 or all).

    Trials already in OUT/records.jsonl are skipped: rerun the same command to resume."""
    from tqdm import tqdm

    from snnleak.device import resolve
    from snnleak.reporting import to_markdown
    from snnleak.reproduce import Run, load_preset
    from snnleak.reproduce import reproduce as run_reproduction
    from snnleak.reproduce.preset import with_model, with_samples

    chosen = load_preset(preset)
    if samples is not None:
        chosen = with_samples(chosen, samples)
    if model is not None or accelerate:
        chosen = with_model(chosen, model or "", accelerate)
    where = resolve(device)
    if dry_run:
        from snnleak.reproduce.cost import estimate, summary

        click.echo(f"timing a few steps of each kind of cell of {target} on {where} ...", err=True)
        rows = estimate(target, chosen, backend or chosen.backend, where)
        click.echo(summary(rows, where))
        if where.type == "cpu":
            click.echo(
                "for one GPU's estimate, rerun this with --device cuda on a GPU machine",
                err=True,
            )
        return
    out = out or Path("runs") / f"reproduce-{chosen.name}"
    positions: list[int] = []

    def bar(total: int, initial: int, desc: str):
        positions.append(len(positions))
        return tqdm(total=total, initial=initial, desc=desc, unit="trial", position=positions[-1])

    job = Run(
        target,
        chosen,
        out,
        backend,
        data_root,
        cache_dir,
        executor,
        workers,
        address,
        device,
        tables_only,
    )
    with interrupted_hint(out):
        result = run_reproduction(job, log=lambda m: click.echo(m, err=True), bar=bar)
    for t in result.tables:
        click.echo("\n" + to_markdown(t))
    click.echo(
        f"{result.new_records} new trials, {result.records} recorded in {out / 'records.jsonl'}"
    )
    for f in result.files:
        click.echo(f"wrote {f}")


@click.command()
@click.argument("name", required=False)
def presets(name: str | None) -> None:
    """List the shipped presets, or print preset NAME's TOML (a start for one of your own:
    `snnleak presets quick > mine.toml`, then `--preset mine.toml`)."""
    from snnleak.reproduce.preset import PRESETS, preset_text

    if name is None:
        for known in sorted(PRESETS):
            click.echo(known)
        return
    click.echo(preset_text(name), nl=False)
