"""Run attack trials: a fresh victim per trial, the client's update, the attack, the evaluation.

Trial ``i`` attacks the i-th item of a seeded permutation of the dataset's test split (data the
judge never saw), with a victim freshly initialised from a seed derived from (seed, item). Every
record carries its seed, configuration and library versions.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from snnleak import data, metrics
from snnleak.attacks import thresholding
from snnleak.attacks.config import DLGConfig, GRNNConfig, LBFGSConfig, Thresholding
from snnleak.attacks.dlg import GradientInversion
from snnleak.attacks.grnn import GRNN
from snnleak.attacks.records import append_record, read_records, record_key
from snnleak.attacks.threat import Reconstruction, observe
from snnleak.errors import ConfigError
from snnleak.info import package_versions
from snnleak.models import LeNet, LeNet5SNN
from snnleak.neurons import BACKENDS

ATTACKS = ("dlg", "idlg", "grnn")
MODELS = ("ann", "snn")


@dataclass(frozen=True)
class AttackSpec:
    attack: str
    model: str
    dataset: str
    backend: str = "fused"
    timesteps: int = 20  # T of the spiking victim on images (event data bring their own T)
    iterations: int | None = None  # default: the attack's own (DLG/iDLG 300, GRNN 1000)
    threshold: Thresholding | None = None
    lbfgs: LBFGSConfig = field(default_factory=LBFGSConfig)
    grnn_wasserstein: str = "true"

    def __post_init__(self) -> None:
        if self.attack not in ATTACKS:
            raise ConfigError(
                f"unknown attack {self.attack!r}; choose one of: {', '.join(ATTACKS)}"
            )
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose 'ann' or 'snn'")
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}"
            )
        if data.get_dataset(self.dataset).modality == "events" and self.model == "ann":
            raise ConfigError(
                f"dataset {self.dataset!r} is event data, which the ANN LeNet cannot take; "
                "use --model snn"
            )
        if self.timesteps < 1:
            raise ConfigError(f"--timesteps must be at least 1, got {self.timesteps}")
        if self.iterations is not None and self.iterations < 1:
            raise ConfigError(f"--iterations must be at least 1, got {self.iterations}")

    def config_id(self) -> str:
        """A short hash of everything that determines a trial's result besides its seed."""
        blob = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def trial_generator(seed: int, index: int, purpose: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}/{index}/{purpose}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def build_victim(spec: AttackSpec, info: data.DatasetInfo, generator: torch.Generator):
    if info.modality == "events":  # AttackSpec has refused event data for the ANN
        t, *item = info.input_shape
        return LeNet5SNN(
            tuple(item), info.num_classes, t, backend=spec.backend, generator=generator
        )
    if spec.model == "ann":
        return LeNet(info.input_shape, info.num_classes, generator=generator)
    return LeNet5SNN(
        info.input_shape,
        info.num_classes,
        spec.timesteps,
        backend=spec.backend,
        generator=generator,
    )


def build_attack(spec: AttackSpec):
    kw = {} if spec.iterations is None else {"iterations": spec.iterations}
    if spec.attack == "grnn":
        return GRNN(GRNNConfig(threshold=spec.threshold, wasserstein=spec.grnn_wasserstein, **kw))
    cfg = DLGConfig(lbfgs=spec.lbfgs, threshold=spec.threshold, **kw)
    return GradientInversion(cfg, infer_label=spec.attack == "idlg")


def evaluate(
    rec: Reconstruction,
    x: torch.Tensor,
    y: int,
    info: data.DatasetInfo,
    judge: torch.nn.Module | None,
) -> dict:
    """Metrics of a batch-of-one reconstruction against the private item ``x``."""
    x_hat = rec.x[:, 0] if info.modality == "events" else rec.x[0]
    x_hat = x_hat.detach().float()
    out = {"mse": metrics.mse(x_hat, x), "l2": metrics.l2(x_hat, x), "psnr": None, "ssim": None}
    if info.modality == "image":
        out["psnr"] = metrics.psnr(x_hat, x)
        out["ssim"] = metrics.ssim(x_hat.clamp(0, 1), x)
    judge_label = truth_label = None
    if judge is not None:  # the judge's label of the reconstruction, and of the private item
        with torch.no_grad():
            pair = torch.stack([x_hat, x.float()], dim=1 if info.modality == "events" else 0)
            judge_label, truth_label = judge(pair).argmax(-1).tolist()
    out["judge_label"] = judge_label
    out["judge_truth_label"] = truth_label
    out["success"] = None if judge_label is None else judge_label == y
    return out


def sample_order(n: int, seed: int) -> list[int]:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def _reconstruct_chunk(attack, observations, generators):
    if len(observations) == 1:
        return [attack.reconstruct(observations[0], generators[0])]
    from snnleak.attacks.batched import BatchedGradientInversion

    return BatchedGradientInversion(attack.config, attack.infer_label).reconstruct(
        observations, generators
    )


@dataclass(frozen=True)
class Trial:
    """One finished trial: its record, the private item and the reconstruction."""

    record: dict
    truth: torch.Tensor
    reconstruction: torch.Tensor


def run_unit(
    spec: AttackSpec,
    split: data.Split,
    indices: Sequence[int],
    seed: int,
    *,
    judge: torch.nn.Module | None,
    post_thresholds: Sequence[float] = (),
) -> list[Trial]:
    """Attack the items ``indices`` of ``split`` (together, as one batched computation, when
    there are several), each against its own freshly initialised victim.

    With ``post_thresholds`` (Algorithm 1 only: binarisation after the optimisation, which the
    optimisation never sees) one optimisation serves every threshold: the trials returned are
    those of ``spec`` with ``Thresholding(tau, "post")`` for each ``tau``, exactly what running
    each of those specs alone would give."""
    if post_thresholds and spec.threshold is not None:
        raise ConfigError("post_thresholds needs a spec without its own threshold")
    info = split.info
    attack = build_attack(spec)
    start = time.perf_counter()
    items = [split[i] for i in indices]
    observations = []
    for i, (x, y) in zip(indices, items, strict=True):
        victim = build_victim(spec, info, trial_generator(seed, i, "victim"))
        xb = x.unsqueeze(1) if info.modality == "events" else x.unsqueeze(0)
        observations.append(observe(victim, xb, torch.tensor([y]), info.modality))
    recs = _reconstruct_chunk(
        attack, observations, [trial_generator(seed, i, "attack") for i in indices]
    )
    seconds = (time.perf_counter() - start) / len(indices)
    variants = (
        [(spec, None)]
        if not post_thresholds
        else [(replace(spec, threshold=Thresholding(tau, "post")), tau) for tau in post_thresholds]
    )
    versions = package_versions()
    out = []
    for i, (x, y), rec in zip(indices, items, recs, strict=True):
        for variant, tau in variants:
            shown = rec if tau is None else replace(rec, x=thresholding.binarise(rec.x, tau))
            record = {
                "attack": variant.attack,
                "model": variant.model,
                "backend": variant.backend,
                "dataset": variant.dataset,
                "synthetic": info.synthetic,
                "sample_index": i,
                "seed": seed,
                "config_id": variant.config_id(),
                "true_label": y,
                "recovered_label": int(shown.label[0]),
                "label_correct": int(shown.label[0]) == y,
                **evaluate(shown, x, y, info, judge),
                "diverged": shown.diverged,
                "steps": shown.steps,
                "best_loss": min(shown.losses) if shown.losses else None,
                "seconds": round(seconds, 3),
                "batch_trials": len(indices),
                "shared_thresholds": len(variants) if tau is not None else 1,
                "config": asdict(variant),
                "versions": versions,
            }
            out.append(Trial(record, x, shown.x))
    return out


def run_trials(
    spec: AttackSpec,
    samples: int,
    seed: int,
    out_dir: Path,
    *,
    judge: torch.nn.Module | None,
    data_root: Path | None = None,
    batch_trials: int = 1,
    save_reconstruction: Callable[[dict, torch.Tensor, torch.Tensor], None] | None = None,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> list[dict]:
    """Run ``samples`` trials, appending each record to ``out_dir/records.jsonl`` as it
    finishes and skipping the trials already recorded there. ``batch_trials`` > 1 runs that
    many DLG/iDLG trials together as one batched computation (the same results per
    trial up to float rounding)."""
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    check_batch_trials(spec, batch_trials)
    split = data.load(spec.dataset, "test", root=data_root, seed=0)
    if samples > len(split):
        raise ConfigError(
            f"--samples {samples} exceeds the {len(split)} test items of {spec.dataset}"
        )
    path = out_dir / "records.jsonl"
    done = {record_key(r): r for r in read_records(path)}
    chosen = sample_order(len(split), seed)[:samples]
    todo = [i for i in chosen if trial_key(spec, i, seed) not in done]
    ticks = iter(progress(range(len(todo))))
    for j in range(0, len(todo), batch_trials):
        for trial in run_unit(spec, split, todo[j : j + batch_trials], seed, judge=judge):
            append_record(path, trial.record)
            done[record_key(trial.record)] = trial.record
            if save_reconstruction is not None:
                save_reconstruction(trial.record, trial.truth, trial.reconstruction)
            next(ticks, None)
    return [done[trial_key(spec, i, seed)] for i in chosen]


def trial_key(spec: AttackSpec, index: int, seed: int) -> tuple:
    """The :func:`~snnleak.attacks.records.record_key` of ``spec``'s trial on item ``index``."""
    return (spec.attack, spec.model, spec.backend, spec.dataset, index, seed, spec.config_id())


def check_batch_trials(spec: AttackSpec, batch_trials: int) -> None:
    if batch_trials < 1:
        raise ConfigError(f"--batch-trials must be at least 1, got {batch_trials}")
    if batch_trials > 1 and spec.attack == "grnn":
        raise ConfigError(
            "--batch-trials applies to the L-BFGS attacks (dlg, idlg); "
            "run GRNN with --batch-trials 1"
        )
