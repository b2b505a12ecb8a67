"""Run attack trials: a fresh victim per trial, the client's update, the attack, the evaluation.

:func:`run_unit` is one batch of trials (pure: it writes nothing); :func:`run_trials` runs a
whole cell through the one resumable loop (:mod:`snnleak.attacks.loop`).

Trial ``i`` attacks the i-th item of a seeded permutation of the spec's split (``train`` by
default: the paper attacks a client's training items; ``test`` items are ones the judge never
saw), with a victim freshly initialised from a seed derived from (seed, item). Every record
carries its seed, split, configuration and library versions; its metrics are those of the last
iterate, ``best_iterate`` holds the best-by-loss iterate's, and the ``loss_*`` fields say how
the optimisation went (:func:`~snnleak.attacks.iterates.convergence`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from snnleak import data, layout, metrics
from snnleak.attacks import batches, thresholding
from snnleak.attacks.config import (
    ADAPTIVE_ATTACKS,
    PUBLIC_DATA_ATTACKS,
    AttackSpec,
    DLGConfig,
    GRNNConfig,
    Thresholding,
)
from snnleak.attacks.dlg import GradientInversion
from snnleak.attacks.grnn import GRNN
from snnleak.attacks.iterates import convergence
from snnleak.attacks.loop import (
    Cell,
    NoOutputs,
    Outputs,
    chosen_items,
    in_process,
    is_done,
    pending_units,
    run_units,
)
from snnleak.attacks.records import RecordLog, trial_key
from snnleak.attacks.threat import Reconstruction, observe
from snnleak.defenses import Defense, privacy
from snnleak.device import CPU, describe, on_cpu
from snnleak.errors import ConfigError
from snnleak.info import package_versions
from snnleak.io import claim_folder
from snnleak.models import LeNet, LeNet5SNN, plugin
from snnleak.models.lenet import CHANNELS, KERNEL, PADDING, STRIDES
from snnleak.neurons import NeuronParams


def trial_generator(seed: int, index: int, purpose: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}/{index}/{purpose}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def build_victim(
    spec: AttackSpec,
    info: data.DatasetInfo,
    generator: torch.Generator,
    device: torch.device = CPU,
):
    """A freshly initialised victim on ``device``: the sigmoid LeNet, or LeNet5SNN with the
    spec's neuron (IF or LIF), surrogate at ``alpha``, reset, image code, T and backend (event
    data bring their own T), each with the spec's initial weights. Initialised on the CPU from
    ``generator``: the same weights on every device."""
    with on_cpu():
        victim = _build_victim(spec, info, generator)
    return victim.to(device)


def _build_victim(spec: AttackSpec, info: data.DatasetInfo, generator: torch.Generator):
    if plugin.is_plugin(spec.model):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device="cpu"))
        model = plugin.build(spec.model, info.input_shape, info.num_classes, spec.timesteps, seed)
        return plugin.check(spec.model, model, info.input_shape, info.num_classes, info.modality)
    if spec.model == "ann":  # AttackSpec has refused event data for the ANN
        return LeNet(info.input_shape, info.num_classes, generator=generator, init=spec.victim_init)
    neuron = NeuronParams(
        kind=spec.neuron,
        alpha=float(spec.alpha),
        surrogate=spec.surrogate,
        detach_reset=spec.detach_reset,
        smooth=spec.smooth_forward,
    )
    shape, t = info.input_shape, spec.timesteps
    if info.modality == "events":
        t, *item = info.input_shape
        shape = tuple(item)
    rates = None
    if spec.encoding != "direct":  # the client's own draw, seeded from the victim's generator
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device="cpu"))
        rates = torch.Generator().manual_seed(seed)
    return LeNet5SNN(
        shape,
        info.num_classes,
        t,
        neuron,
        backend=spec.backend,
        generator=generator,
        encoding=spec.encoding,
        rate_generator=rates,
        init=spec.victim_init,
    )


def build_attack(spec: AttackSpec, public: data.Split | None = None):
    """The attack of ``spec``; ``iterations`` is DLG/iDLG/GRNN's optimiser steps, the proxy's
    steps per continuation stage and Inverting Gradients' Adam steps. ``public``: the
    attacker's public split, which the learned attacks train on (default: the embedded set's
    other split)."""
    if spec.attack in ADAPTIVE_ATTACKS:
        return build_adaptive(spec, public)
    kw = {} if spec.iterations is None else {"iterations": spec.iterations}
    if spec.attack == "grnn":
        return GRNN(
            GRNNConfig(
                threshold=spec.threshold,
                wasserstein=spec.grnn_wasserstein,
                generator=spec.grnn_generator,
                **kw,
            )
        )
    cfg = DLGConfig(
        lbfgs=spec.lbfgs,
        threshold=spec.threshold,
        loss_norm=spec.loss_norm,
        update_attack=spec.update_attack,
        clamp=spec.clamp,
        **kw,
    )
    return GradientInversion(cfg, infer_label=spec.attack == "idlg")


def check_public(spec: AttackSpec, public: data.Split) -> None:
    """One clear error when the learned attacks ask for more public items than there are."""
    if spec.aux_items > len(public):
        raise ConfigError(
            f"--aux-items {spec.aux_items}: the attacker's public split of {spec.dataset} "
            f"holds {len(public)} items; pass at most that, or 0 for all of them"
        )


def build_adaptive(spec: AttackSpec, public: data.Split | None = None):
    from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion
    from snnleak.attacks.inverting import InvertingConfig, InvertingGradients
    from snnleak.attacks.proxy import ProxyConfig, SmoothProxy

    steps = {} if spec.iterations is None else {"stage_steps": spec.iterations}
    proxy = ProxyConfig(
        threshold=spec.threshold, max_iter=spec.lbfgs.max_iter, polish_steps=20, **steps
    )
    if spec.attack == "proxy":
        return SmoothProxy(proxy)
    if spec.attack == "analytic":
        return AnalyticInversion(AnalyticConfig(proxy=proxy))
    if spec.attack in ("learned", "learned-proxy"):
        from snnleak.attacks.learned import LearnedConfig, LearnedInversion

        # the attacker's public data: the other split, disjoint from the victims' items
        public = public if public is not None else data.public_split(spec.dataset, spec.split)
        check_public(spec, public)
        cfg = LearnedConfig(
            aux_items=spec.aux_items or len(public),
            then_proxy=spec.attack == "learned-proxy",
            proxy=proxy,
        )
        return LearnedInversion(cfg, public)
    kw = {} if spec.iterations is None else {"iterations": spec.iterations}
    return InvertingGradients(InvertingConfig(threshold=spec.threshold, **kw))


def evaluate(
    rec: Reconstruction,
    x: torch.Tensor,
    y: int,
    info: data.DatasetInfo,
    judge: torch.nn.Module | None,
) -> dict:
    """Metrics of a batch-of-one reconstruction against the private item ``x``."""
    x_hat = layout.item(rec.x, 0, info.modality).detach().float().cpu()
    out = {"mse": metrics.mse(x_hat, x), "l2": metrics.l2(x_hat, x), "psnr": None, "ssim": None}
    if info.modality == "image":
        out["psnr"] = metrics.psnr(x_hat, x)
        out["ssim"] = metrics.ssim(x_hat.clamp(0, 1), x)
    judge_label = truth_label = None
    if judge is not None:  # the judge's label of the reconstruction, and of the private item
        with torch.no_grad():
            pair = layout.stack([x_hat, x.float()], info.modality)
            pair = pair.to(next(judge.parameters()).device)
            judge_label, truth_label = judge(pair).argmax(-1).tolist()
    out["judge_label"] = judge_label
    out["judge_truth_label"] = truth_label
    out["success"] = None if judge_label is None else judge_label == y
    return out


def evaluate_iterate(
    rec: Reconstruction, x: torch.Tensor, y: int, info: data.DatasetInfo, judge
) -> dict:
    """The metrics of one iterate, with its label."""
    label = int(rec.label[0])
    out = {"recovered_label": label, "label_correct": label == y}
    out.update(evaluate(rec, x, y, info, judge))
    out.pop("judge_truth_label")
    return out


def relative_mismatch(obs, rec: Reconstruction) -> float | None:
    r"""How well the reported reconstruction explains the observed update, on one scale for
    every attack and setting: :math:`\sum_l \lVert g'_l - g_l \rVert^2 / \sum_l \lVert g_l
    \rVert^2` at the reconstruction and its label target. Observable by the attacker."""
    if rec.target is None:
        return None
    from snnleak.gradients import dummy_gradients, gradient_distance

    true = list(obs.gradients)
    grads = dummy_gradients(obs.model, rec.x, rec.target)
    total = float(sum((t.double() ** 2).sum() for t in true))
    value = float(gradient_distance(grads, true).detach())
    return value / total if total > 0 else None


def client_batch(split: data.Split, index: int, batch: int, seed: int):
    """Trial ``index``'s private data: its item and label, or, for ``batch`` > 1, a batch
    ``[B, ...]`` of it and B - 1 other items with their labels."""
    if batch == 1:
        return split[index]
    picks = batches.client_indices(len(split), index, batch, trial_generator(seed, index, "batch"))
    pairs = [split[j] for j in picks]
    return layout.stack([x for x, _ in pairs], split.info.modality), [y for _, y in pairs]


def scores(rec: Reconstruction, x, y, info: data.DatasetInfo, judge) -> dict:
    """The label and metric fields of a record: one item, or a batch (matched per item)."""
    if isinstance(y, int):
        label = int(rec.label[0])
        return {
            "true_label": y,
            "recovered_label": label,
            "label_correct": label == y,
            **evaluate(rec, x, y, info, judge),
        }
    labels = [int(v) for v in rec.label.tolist()]
    out = batches.evaluate(rec.x, labels, x, y, judge)
    return {"true_label": y, "recovered_label": labels, **out}


def best_scores(rec: Reconstruction, x, y, info: data.DatasetInfo, judge) -> dict:
    if isinstance(y, int):
        return evaluate_iterate(rec, x, y, info, judge)
    out = scores(rec, x, y, info, judge)
    for key in ("true_label", "judge_truth_label", "items", "order"):
        out.pop(key, None)
    return out


@dataclass(frozen=True)
class Trial:
    """One finished trial: its record, the private item and the reconstruction."""

    record: dict
    truth: torch.Tensor
    reconstruction: torch.Tensor  # the last iterate, as a batch of one
    best: torch.Tensor  # the best-by-loss iterate, as a batch of one


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
) -> list[Trial]:
    """Attack the items ``indices`` of ``split`` (together, as one batched computation, when
    there are several), each against its own freshly initialised victim.

    With ``post_thresholds`` (Algorithm 1 only: binarisation after the optimisation, which the
    optimisation never sees) one optimisation serves every threshold: the trials returned are
    those of ``spec`` with ``Thresholding(tau, "post")`` for each ``tau``, exactly what running
    each of those specs alone would give. Victims, updates and attacks run on ``device``; the
    metrics are computed on the CPU. ``public``: the attacker's public split (the learned
    attacks; default: the embedded set's other split)."""
    if post_thresholds and spec.threshold is not None:
        raise ConfigError("post_thresholds needs a spec without its own threshold")
    info = split.info
    attack = build_attack(spec, public)
    defense = Defense.parse(spec.defense)
    start = time.perf_counter()
    items = [client_batch(split, i, spec.batch, seed) for i in indices]
    observations = []
    for i, (x, y) in zip(indices, items, strict=True):
        victim = build_victim(spec, info, trial_generator(seed, i, "victim"), device)
        if spec.batch > 1:
            xb, label = x.to(device), torch.tensor(y, device=device)
        else:
            xb = layout.as_batch(x, info.modality).to(device)
            label = torch.tensor([y], device=device)
        noise = trial_generator(seed, i, "defense")
        observations.append(
            observe(victim, xb, label, info.modality, defense, noise, spec.local_training())
        )
    recs = attack.reconstruct_many(
        observations, [trial_generator(seed, i, "attack") for i in indices]
    )
    seconds = (time.perf_counter() - start) / len(indices)
    variants = (
        [(spec, None)]
        if not post_thresholds
        else [(replace(spec, threshold=Thresholding(tau, "post")), tau) for tau in post_thresholds]
    )
    versions, where = package_versions(), describe(device)
    out = []
    for i, (x, y), rec, obs in zip(indices, items, recs, observations, strict=True):
        for variant, tau in variants:
            shown = rec
            if tau is not None:
                shown = replace(
                    rec,
                    x=thresholding.binarise(rec.x, tau),
                    best_x=thresholding.binarise(rec.best.x, tau),
                )
            context = {
                "split": split.split,
                "seconds": round(seconds, 3),
                "batch_trials": len(indices),
                "shared_thresholds": len(variants) if tau is not None else 1,
                "versions": versions,
                **where,
            }
            out.append(make_trial(variant, info, i, seed, x, y, shown, obs, judge, context))
    return out


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
) -> Trial:
    """One finished trial: its record (the schema of ``RECORD_FIELDS``, with ``context``'s
    fields: split, seconds, batch_trials, shared_thresholds, versions, device) and tensors."""
    defense = Defense.parse(spec.defense)
    record = {
        "attack": spec.attack,
        "model": spec.model,
        "backend": spec.backend,
        "dataset": spec.dataset,
        "synthetic": info.synthetic,
        "split": context["split"],
        "sample_index": index,
        "seed": seed,
        "config_id": spec.config_id(),
        **scores(rec, x, y, info, judge),
        "best_iterate": best_scores(rec.best, x, y, info, judge),
        "relative_mismatch": relative_mismatch(obs, rec),
        "defense": str(defense),
        "privacy": privacy(defense),
        **convergence(rec.losses, rec.diverged),
        "steps": rec.steps,
        **{k: v for k, v in context.items() if k != "split"},
        "config": asdict(spec),
    }
    last, best = rec.x.detach().cpu(), rec.best.x.detach().cpu()
    if "order" in record:  # a batch: reconstructions in the private items' order
        last, best = last[record["order"]], best[batches.match(best, x)]
    return Trial(record, x, last, best)


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
) -> list[dict]:
    """Run ``samples`` trials through the one resumable loop: claim ``out_dir``, skip the trials
    done there, append each new record to ``out_dir/records.jsonl`` (after its ``outputs``)
    as it finishes. ``batch_trials`` > 1 runs that many DLG/iDLG trials together as one
    batched computation, in fixed slices (a resumed run computes the same batches).
    ``bar(total, initial)`` makes a progress bar (``update``, ``close``)."""
    cell = Cell(spec, samples, batch_trials)
    split = split if split is not None else data.load(spec.dataset, spec.split, root=data_root)
    check_memory(spec, split.info, min(batch_trials, samples))
    public = None
    if spec.attack in PUBLIC_DATA_ATTACKS:
        public = data.public_split(spec.dataset, split.split or spec.split, root=data_root)
        check_public(spec, public)
    items = chosen_items(cell, len(split), seed)
    outputs = outputs or NoOutputs()
    with claim_folder(out_dir):
        log = RecordLog(out_dir / "records.jsonl", warn)
        done = sum(is_done(log, outputs, cell, i, seed) for i in items)
        progress = bar(len(items), done) if bar is not None else None
        units = pending_units(cell, items, seed, lambda c, i: is_done(log, outputs, c, i, seed))
        execute = in_process(
            lambda u: run_unit(
                spec, split, u.indices, seed, judge=judge, device=device, public=public
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


# Bytes kept per element of the per-step feature maps in one gradient-matching step (forward,
# backward and double backward, saved tensors included). An upper bound: on LeNet5SNN (fused,
# float32) the peak RSS grew by about 0.4x of this estimate from T = 20 to T = 400.
BYTES_PER_ACTIVATION = 96


def step_memory(spec: AttackSpec, info: data.DatasetInfo, batch: int) -> int:
    """An upper estimate of the memory (bytes) one attack on ``batch`` items together needs:
    the activations of one step and the L-BFGS history of the dummies."""
    if info.modality == "events":
        t, c, h, w = info.input_shape
        dummy = t * c * h * w
    else:
        (c, h, w), t = info.input_shape, (spec.timesteps if spec.model == "snn" else 1)
        dummy = c * h * w
    elements = c * h * w
    for stride in STRIDES:
        h = (h + 2 * PADDING - KERNEL) // stride + 1
        w = (w + 2 * PADDING - KERNEL) // stride + 1
        elements += CHANNELS * h * w
    history = 2 * spec.lbfgs.history_size * dummy * 4
    return batch * (t * elements * BYTES_PER_ACTIVATION + history)


def available_memory() -> int:
    """Bytes of memory available to this process now (MemAvailable, else physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(spec: AttackSpec, info: data.DatasetInfo, batch: int) -> None:
    """One clear error, before any work, when a trial batch cannot fit in memory (LeNet
    victims: a plug-in model's memory is its own)."""
    if plugin.is_plugin(spec.model):
        return
    need, have = step_memory(spec, info, batch), available_memory()
    if need > have:
        gib = 2**30
        t = info.input_shape[0] if info.modality == "events" else spec.timesteps
        raise ConfigError(
            f"one attack step at T={t} with {batch} trial(s) together needs about "
            f"{need / gib:.1f} GiB, but only "
            f"{have / gib:.1f} GiB is available; lower --timesteps or --batch-trials"
        )
