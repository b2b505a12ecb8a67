"""Run attack trials: a fresh victim per trial, the client's update, the attack, the evaluation.

Trial ``i`` attacks the i-th item of a seeded permutation of the dataset's test split (data the
judge never saw), with a victim freshly initialised from a seed derived from (seed, item). Every
record carries its seed, configuration and library versions.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from snnleak import data, metrics
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
    judge_label = None
    if judge is not None:
        with torch.no_grad():
            batch = x_hat.unsqueeze(1) if info.modality == "events" else x_hat.unsqueeze(0)
            judge_label = int(judge(batch).argmax(-1)[0])
    out["judge_label"] = judge_label
    out["success"] = None if judge_label is None else judge_label == y
    return out


def sample_order(n: int, seed: int) -> list[int]:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def _reconstruct_chunk(spec: AttackSpec, attack, observations, generators):
    if len(observations) == 1:
        return [attack.reconstruct(observations[0], generators[0])]
    from snnleak.attacks.batched import BatchedGradientInversion

    return BatchedGradientInversion(attack.config, attack.infer_label).reconstruct(
        observations, generators
    )


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
    many DLG/iDLG trials together as one batched computation (same results per trial)."""
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    if batch_trials < 1:
        raise ConfigError(f"--batch-trials must be at least 1, got {batch_trials}")
    if batch_trials > 1 and spec.attack == "grnn":
        raise ConfigError(
            "--batch-trials applies to the L-BFGS attacks (dlg, idlg); "
            "run GRNN with --batch-trials 1"
        )
    split = data.load(spec.dataset, "test", root=data_root, seed=0)
    info = split.info
    if samples > len(split):
        raise ConfigError(
            f"--samples {samples} exceeds the {len(split)} test items of {spec.dataset}"
        )
    path = out_dir / "records.jsonl"
    config_id = spec.config_id()
    done = {record_key(r): r for r in read_records(path)}
    attack = build_attack(spec)
    chosen = sample_order(len(split), seed)[:samples]

    def key(i: int) -> tuple:
        return (spec.attack, spec.model, spec.backend, spec.dataset, i, seed, config_id)

    todo = [i for i in chosen if key(i) not in done]
    chunks = [todo[j : j + batch_trials] for j in range(0, len(todo), batch_trials)]
    bar = progress(range(len(todo)))
    ticks = iter(bar)
    for chunk in chunks:
        start = time.perf_counter()
        items = [split[i] for i in chunk]
        observations = []
        for i, (x, y) in zip(chunk, items, strict=True):
            victim = build_victim(spec, info, trial_generator(seed, i, "victim"))
            xb = x.unsqueeze(1) if info.modality == "events" else x.unsqueeze(0)
            observations.append(observe(victim, xb, torch.tensor([y]), info.modality))
        recs = _reconstruct_chunk(
            spec, attack, observations, [trial_generator(seed, i, "attack") for i in chunk]
        )
        seconds = (time.perf_counter() - start) / len(chunk)
        for i, (x, y), rec in zip(chunk, items, recs, strict=True):
            record = {
                "attack": spec.attack,
                "model": spec.model,
                "backend": spec.backend,
                "dataset": spec.dataset,
                "synthetic": info.synthetic,
                "sample_index": i,
                "seed": seed,
                "config_id": config_id,
                "true_label": y,
                "recovered_label": int(rec.label[0]),
                "label_correct": int(rec.label[0]) == y,
                **evaluate(rec, x, y, info, judge),
                "diverged": rec.diverged,
                "steps": rec.steps,
                "best_loss": min(rec.losses) if rec.losses else None,
                "seconds": round(seconds, 3),
                "batch_trials": len(chunk),
                "config": asdict(spec),
                "versions": package_versions(),
            }
            append_record(path, record)
            done[key(i)] = record
            if save_reconstruction is not None:
                save_reconstruction(record, x, rec.x)
            next(ticks, None)
    return [done[key(i)] for i in chosen]
