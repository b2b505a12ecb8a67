"""``snnleak fl``: federated rounds on Flower with a curious server that attacks the updates."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.attacks.config import ATTACKS
from snnleak.cli.common import device_option, interrupted_hint
from snnleak.federated.partition import PARTITIONS


def _rounds(value: str) -> tuple[int, ...]:
    try:
        return tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter(f"{value!r}: write round numbers like 1,5") from None


def _models(value: str) -> tuple[str, ...]:
    models = tuple(m.strip() for m in value.split(",") if m.strip())
    bad = [m for m in models if m not in ("ann", "snn") and ":" not in m]
    if bad or not models:
        raise click.BadParameter(f"{value!r}: write ann, snn, ann,snn or FILE.py:FACTORY")
    return models


@click.command("fl")
@click.option("--model", default="ann,snn", show_default=True, help="ann, snn or both (ann,snn).")
@click.option("--dataset", default="mnist-5k", show_default=True)
@click.option("--clients", type=int, default=4, show_default=True)
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option(
    "--attack-rounds", default="1,5", show_default=True, help="Rounds the server attacks."
)
@click.option(
    "--partition",
    type=click.Choice(PARTITIONS),
    default="iid",
    show_default=True,
    help="How the training set is shared out among the clients.",
)
@click.option(
    "--dirichlet-alpha",
    type=float,
    default=0.5,
    show_default=True,
    help="The Dirichlet concentration of --partition dirichlet (small: label-skewed clients).",
)
@click.option(
    "--algorithm", type=click.Choice(("fedsgd", "fedavg")), default="fedsgd", show_default=True
)
@click.option("--batch", type=int, default=1, show_default=True, help="Items per client per round.")
@click.option("--local-epochs", type=int, default=2, show_default=True, help="FedAvg only.")
@click.option("--local-batch", type=int, default=0, show_default=True, help="FedAvg: 0 = all.")
@click.option("--local-lr", type=float, default=0.1, show_default=True)
@click.option("--attack", type=click.Choice(ATTACKS), default="idlg", show_default=True)
@click.option("--iterations", type=int, default=50, show_default=True)
@click.option("--timesteps", type=int, default=8, show_default=True)
@click.option("--backend", default="fused", show_default=True)
@click.option("--defense", default="none", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/fl"))
@device_option
def fl(
    model: str,
    dataset: str,
    clients: int,
    rounds: int,
    attack_rounds: str,
    partition: str,
    dirichlet_alpha: float,
    algorithm: str,
    batch: int,
    local_epochs: int,
    local_batch: int,
    local_lr: float,
    attack: str,
    iterations: int,
    timesteps: int,
    backend: str,
    defense: str,
    seed: int,
    data_root: Path | None,
    out: Path,
    device: str,
) -> None:
    """Run R federated rounds of N clients on Flower; the honest-but-curious server attacks the
    updates of the attack rounds; write records, the leakage per round and OUT/leakage.png.

    Rerunning the same command resumes: finished rounds and recorded attacks are not redone."""
    from tqdm import tqdm

    from snnleak.attacks import LBFGSConfig, spec_of
    from snnleak.device import resolve
    from snnleak.federated.flower import Federation
    from snnleak.federated.run import figure, leakage_rows, markdown, run_federation
    from snnleak.judges import JUDGES, load_judge

    where, attacked = resolve(device), _rounds(attack_rounds)
    fedavg = algorithm == "fedavg"
    feds = []
    for name in _models(model):  # everything is checked before any round runs
        spec = spec_of(
            attack,
            name,
            dataset,
            backend=backend,
            timesteps=timesteps,
            iterations=iterations,
            lbfgs=LBFGSConfig(line_search="strong_wolfe"),
            loss_norm="global",
            batch=batch,
            local_epochs=local_epochs if fedavg else 1,
            local_batch=local_batch if fedavg else 0,
            local_lr=local_lr,
            defense=defense,
        )
        feds.append(
            Federation(
                spec,
                clients=clients,
                rounds=rounds,
                partition=partition,
                dirichlet_alpha=dirichlet_alpha,
                attack_rounds=attacked,
                seed=seed,
                data_root=None if data_root is None else str(data_root),
            )
        )
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    judge = None
    if dataset in JUDGES:
        judge = load_judge(dataset, data_root=data_root, log=echo, device=where).model
    else:
        echo(f"no judge exists for {dataset}: the attack success rate is not measured")
    with interrupted_hint(out / feds[0].spec.model):
        for fed in feds:
            run_federation(
                fed,
                out,
                where,
                judge,
                log=echo,
                bar=lambda total, done, m=fed.spec.model: tqdm(
                    total=total, initial=done, desc=f"attacks on {m}", unit="update"
                ),
            )
    rows = leakage_rows(out)
    click.echo(markdown(rows))
    click.echo(f"wrote {figure(rows, out / 'leakage.png')}")
