"""``snnleak attack``: gradient inversion trials on the embedded or real data."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.attacks.config import ATTACKS, MODELS
from snnleak.cli.common import device_option, interrupted_hint
from snnleak.cli.spec_options import spec_from_options, spec_options


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
@click.option("--dataset", required=True, help="A dataset name (snnleak data info).")
@click.option("--samples", type=int, default=8, show_default=True, help="Trials to run.")
@click.option("--seed", type=int, default=0, show_default=True)
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
    help="Where judge checkpoints and decoder fits live (default ~/.cache/snnleak).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@spec_options
@device_option
def attack(
    attack: str,
    model: str,
    dataset: str,
    samples: int,
    seed: int,
    batch_trials: str,
    data_root: Path | None,
    cache_dir: Path | None,
    out_dir: Path,
    device: str,
    **spec_settings,
) -> None:
    """Run N trials; write OUT/records.jsonl and reconstructions; print a summary.

    Trials already in OUT are skipped: rerun the same command to resume."""
    from tqdm import tqdm

    from snnleak import data
    from snnleak.device import resolve
    from snnleak.io import claim_folder
    from snnleak.judges import JUDGES, load_judge
    from snnleak.reproduce.executor import decoder_cache
    from snnleak.trials.loop import Cell
    from snnleak.trials.outputs import ReconstructionFiles, summary_table
    from snnleak.trials.runner import check_cell, run_trials

    spec = spec_from_options(attack, model, dataset, spec_settings)
    # everything that can fail on the input fails here, before any judge is trained
    where = resolve(device)
    items = data.load(dataset, spec.split, root=data_root)
    batch_trials = trials_together(batch_trials, spec, items.info, where, samples)
    check_cell(Cell(spec, samples, batch_trials), items, seed, data_root)
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    if spec.victim.accelerate:  # what it does with each of the model's neurons
        from snnleak.models import plugin
        from snnleak.models.victims import accelerated

        info = items.info
        model = plugin.build(
            spec.model, info.input_shape, info.num_classes, spec.victim.timesteps, seed
        )
        for replaced in accelerated(model, info)[1]:
            echo(replaced.line())
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
            decoder_cache=decoder_cache(cache_dir),
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
