"""Run attack trials: a fresh victim per trial, the client's update, the attack, the evaluation.

:func:`run_unit` is one batch of trials (pure: it writes nothing); :func:`run_trials` runs a
whole cell through the one resumable loop (:mod:`snnleak.trials.loop`).

Trial ``i`` attacks the i-th item of a seeded permutation of the spec's split (``train`` by
default: the paper attacks a client's training items; ``test`` items are ones the judge never
saw), with a victim freshly initialised from a seed derived from (seed, item). Every record
carries its seed, split, configuration and library versions; its metrics are those of the last
iterate, ``best_iterate`` holds the best-by-loss iterate's, and the ``loss_*`` fields say how
the optimisation went (:func:`~snnleak.attacks.iterates.convergence`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from snnleak import data, layout
from snnleak.attacks import thresholding
from snnleak.attacks.base import reconstruct_many
from snnleak.attacks.config import PUBLIC_DATA_ATTACKS, AttackSpec, Thresholding
from snnleak.attacks.factory import build_attack, check_public, public_of
from snnleak.attacks.iterates import convergence
from snnleak.client import client_batch, observe
from snnleak.defenses import Defense, privacy
from snnleak.device import CPU, describe
from snnleak.errors import ConfigError
from snnleak.evaluation import best_scores, match, scores
from snnleak.evaluation.reference import Reference
from snnleak.gradients import relative_mismatch
from snnleak.info import package_versions
from snnleak.io import claim_folder
from snnleak.models import plugin
from snnleak.models.victims import build_victim
from snnleak.seeding import trial_rng, victim_rng
from snnleak.threat import Observation, Reconstruction
from snnleak.trials.loop import (
    Cell,
    NoOutputs,
    Outputs,
    chosen_items,
    in_process,
    is_done,
    pending_units,
    run_units,
)
from snnleak.trials.memory import check_memory
from snnleak.trials.records import RecordLog, trial_key


@dataclass(frozen=True)
class Trial:
    """One finished trial: its record, the private item and the reconstruction."""

    record: dict
    truth: torch.Tensor
    reconstruction: torch.Tensor  # the last iterate, as a batch of one
    best: torch.Tensor  # the best-by-loss iterate, as a batch of one


def observe_trial(
    spec: AttackSpec,
    split: data.Split,
    index: int,
    seed: int,
    device: torch.device = CPU,
    item=None,
) -> Observation:
    """Trial ``index``'s round as the server sees it: the victim built for the trial (or its
    round, :func:`~snnleak.seeding.victim_rng`), the client's data (``item``, else
    :func:`~snnleak.client.client_batch`), its defense and local training."""
    info = split.info
    x, y = item if item is not None else client_batch(split, index, spec.client.batch, seed)
    rng = victim_rng(seed, index, spec.victims, spec.broadcasts)
    victim = build_victim(spec.victim, info, rng, device)
    if spec.client.batch > 1:
        xb, label = x.to(device), torch.tensor(y, device=device)
    else:
        xb, label = layout.as_batch(x, info.modality).to(device), torch.tensor([y], device=device)
    defense, noise = Defense.parse(spec.client.defense), trial_rng(seed, index, "defense")
    return observe(victim, xb, label, info.modality, defense, noise, spec.client.local_training())


def run_unit(
    spec: AttackSpec,
    split: data.Split,
    indices: Sequence[int],
    seed: int,
    *,
    judge: torch.nn.Module | None,
    post_thresholds: Sequence[float] = (),
    device: torch.device = CPU,
    public: data.Split | None = None,
    reference: Reference | None = None,
    decoder_cache: Path | None = None,
) -> list[Trial]:
    """Attack the items ``indices`` of ``split`` (together, as one batched computation, when
    there are several), each against its own freshly initialised victim.

    With ``post_thresholds`` (Algorithm 1 only: binarisation after the optimisation, which the
    optimisation never sees) one optimisation serves every threshold: the trials returned are
    those of ``spec`` with ``Thresholding(level, "post")`` for each ``level``, exactly what running
    each of those specs alone would give. Victims, updates and attacks run on ``device``; the
    metrics are computed on the CPU. ``public``: the attacker's public split (the learned
    attacks; default: the embedded set's other split). ``reference``: what the evaluation holds
    each reconstruction against (:func:`reference_of`, built here when not given);
    ``decoder_cache``: where the learned attacks keep their decoder fits across runs."""
    if post_thresholds and spec.settings.threshold is not None:
        raise ConfigError("post_thresholds needs a spec without its own threshold")
    info = split.info
    attack = build_attack(spec, public, decoder_cache)
    reference = reference or reference_of(spec.dataset, split)
    start = time.perf_counter()
    items = [client_batch(split, i, spec.client.batch, seed) for i in indices]
    observations = [
        observe_trial(spec, split, i, seed, device, item)
        for i, item in zip(indices, items, strict=True)
    ]
    recs = reconstruct_many(attack, observations, [trial_rng(seed, i, "attack") for i in indices])
    seconds = (time.perf_counter() - start) / len(indices)
    variants = (
        [(spec, None)]
        if not post_thresholds
        else [(spec.with_(threshold=Thresholding(v, "post")), v) for v in post_thresholds]
    )
    versions, where = package_versions(), describe(device)
    out = []
    for i, (x, y), rec, obs in zip(indices, items, recs, observations, strict=True):
        for variant, level in variants:
            shown = rec
            if level is not None:
                shown = replace(
                    rec,
                    x=thresholding.binarise(rec.x, level),
                    best_x=thresholding.binarise(rec.best.x, level),
                )
            context = {
                "split": split.split,
                "seconds": round(seconds, 3),
                "batch_trials": len(indices),
                "shared_thresholds": len(variants) if level is not None else 1,
                "versions": versions,
                **where,
            }
            trial = make_trial(variant, info, i, seed, x, y, shown, obs, judge, context, reference)
            out.append(trial)
    return out


def reference_of(dataset: str, split: data.Split, root: Path | None = None) -> Reference:
    """The evaluation's reference for trials on ``split`` of ``dataset``: every item of the
    split (identification) and the attacker's public split (the prior baselines; None where
    that split is not on disk, and the records say so with ``"prior": null``)."""
    try:
        public = data.public_split(dataset, split.split, root=root)
    except data.DataUnavailable:
        public = None
    return Reference.of(split, public)


def make_trial(
    spec: AttackSpec,
    info: data.DatasetInfo,
    index: int,
    seed: int,
    x: torch.Tensor,
    y,
    rec: Reconstruction,
    obs,
    judge: torch.nn.Module | None,
    context: dict,
    reference: Reference | None = None,
) -> Trial:
    """One finished trial: its record (the schema of ``RECORD_FIELDS``, with ``context``'s
    fields: split, seconds, batch_trials, shared_thresholds, versions, device) and tensors;
    with ``reference``, the item-level fields (identification, prior baselines). A plug-in
    victim's record describes it (``victim``: :func:`~snnleak.models.plugin.describe`) and
    carries none of the built-in victim's fields (``backend`` is None)."""
    defense = Defense.parse(spec.client.defense)
    record = {
        "attack": spec.attack,
        "model": spec.model,
        "backend": spec.victim.backend,
        "dataset": spec.dataset,
        "synthetic": info.synthetic,
        "split": context["split"],
        "sample_index": index,
        "seed": seed,
        "broadcast": spec.broadcast_of(index),
        "config_id": spec.config_id(),
        **scores(rec, x, y, info, judge, reference),
        "best_iterate": best_scores(rec.best, x, y, info, judge, reference),
        "relative_mismatch": relative_mismatch(obs.model, obs.gradients, rec.x, rec.target),
        "defense": str(defense),
        "privacy": privacy(defense),
        **convergence(rec.losses, rec.diverged),
        "steps": rec.steps,
        **({"attack_details": rec.details} if rec.details else {}),
        **{k: v for k, v in context.items() if k != "split"},
        "config": spec.flat(),
    }
    if plugin.is_plugin(spec.model):  # its own victim, described; no built-in victim's fields
        record["backend"] = None
        record["victim"] = plugin.describe(spec.model, obs.model)
        for key in plugin.BUILT_IN_FIELDS:
            del record["config"][key]
    last, best = rec.x.detach().cpu(), rec.best.x.detach().cpu()
    if "order" in record:  # a batch: reconstructions in the private items' order
        last, best = last[record["order"]], best[match(best, x)]
    return Trial(record, x, last, best)


def check_cell(cell: Cell, split: data.Split, seed: int, data_root: Path | None = None):
    """Every check on a cell's input, made before any work (by ``snnleak attack``, by
    :func:`run_trials` and by a reproduction's plan): its items exist, its K trials fit the
    memory, the attacker's public items are there and enough, a plug-in victim keeps the
    contract. Returns the chosen items and the public split (None for an attack without)."""
    spec = cell.spec
    items = chosen_items(cell, len(split), seed)
    check_memory(spec, split.info, min(cell.batch_trials, cell.samples))
    public = None
    if spec.attack in PUBLIC_DATA_ATTACKS:
        public = public_of(spec, data_root)
        check_public(spec, public)
    if plugin.is_plugin(spec.model):
        build_victim(spec.victim, split.info, trial_rng(seed, 0, "check"))
    return items, public


def run_trials(
    spec: AttackSpec,
    samples: int,
    seed: int,
    out_dir: Path,
    *,
    judge: torch.nn.Module | None,
    split: data.Split | None = None,
    data_root: Path | None = None,
    batch_trials: int = 1,
    outputs: Outputs | None = None,
    bar: Callable | None = None,
    warn: Callable[[str], None] = print,
    device: torch.device = CPU,
    decoder_cache: Path | None = None,
) -> list[dict]:
    """Run ``samples`` trials through the one resumable loop: claim ``out_dir``, skip the trials
    done there, append each new record to ``out_dir/records.jsonl`` (after its ``outputs``)
    as it finishes. ``batch_trials`` > 1 runs that many DLG/iDLG trials together as one
    batched computation, in fixed slices (a resumed run computes the same batches).
    ``bar(total, initial)`` makes a progress bar (``update``, ``close``); ``decoder_cache``: as
    :func:`run_unit`'s."""
    cell = Cell(spec, samples, batch_trials)
    split = split if split is not None else data.load(spec.dataset, spec.split, root=data_root)
    items, public = check_cell(cell, split, seed, data_root)
    reference = reference_of(spec.dataset, split, data_root)
    if reference.public is None:
        warn(f"the public split of {spec.dataset} is not on disk: no prior baselines")
    outputs = outputs or NoOutputs()
    with claim_folder(out_dir):
        log = RecordLog(out_dir / "records.jsonl", warn)
        done = sum(is_done(log, outputs, cell, i, seed) for i in items)
        progress = bar(len(items), done) if bar is not None else None
        units = pending_units(cell, items, seed, lambda c, i: is_done(log, outputs, c, i, seed))
        execute = in_process(
            lambda u: run_unit(
                spec,
                split,
                u.indices,
                seed,
                judge=judge,
                device=device,
                public=public,
                reference=reference,
                decoder_cache=decoder_cache,
            )
        )
        try:
            run_units(
                units,
                log,
                execute,
                outputs,
                on_record=lambda c, r: progress.update(1) if progress is not None else None,
            )
        finally:
            if progress is not None:
                progress.close()
        return [log.get(trial_key(spec, i, seed)) for i in items]
