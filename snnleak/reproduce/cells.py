"""The cell every study builds on: one attack on one victim and dataset under Table IV's protocol
(its T, split, GRNN, and for DLG/iDLG the L-BFGS the preset holds for the model and dataset)."""

from __future__ import annotations

from snnleak.attacks.config import LBFGSConfig, spec_of
from snnleak.reproduce.batching import batch_of
from snnleak.reproduce.preset import Optimiser, Preset
from snnleak.trials.loop import Cell


def table4_cell(
    preset: Preset,
    backend: str,
    attack: str,
    model: str,
    paper: str,
    dataset: str,
    *,
    samples: int,
    table: str,
    iterations: int | None,
    split: str | None = None,
    victims: str = "fresh",
    broadcasts: int = 1,
    decoder: str = "mlp",
    rehearsal: bool = False,
) -> Cell:
    """One cell on Table IV's protocol: its T, split, GRNN and, for DLG/iDLG, the L-BFGS of
    the (model, dataset) (GRNN and the adaptive attacks bring their own optimisers)."""
    p = preset.table4
    opt = preset.optimiser_of(model, dataset) if attack in ("dlg", "idlg") else Optimiser()
    spec = spec_of(
        attack,
        model,
        dataset,
        accelerate=preset.accelerate and ":" in model,
        backend=backend,
        timesteps=p.timesteps,
        iterations=iterations,
        lbfgs=LBFGSConfig(lr=opt.lr, max_iter=p.lbfgs_max_iter, line_search=opt.line_search),
        grnn_wasserstein=p.grnn_wasserstein,
        split=split or p.split,
        loss_norm=opt.loss_norm,
        grnn_generator=p.grnn_generator,
        victims=victims,
        broadcasts=broadcasts,
        decoder=decoder,
        rehearsal=rehearsal,
    )
    batch = batch_of(p.batch_trials, samples, spec)
    return Cell(spec, samples, batch, table=table, paper_dataset=paper)
