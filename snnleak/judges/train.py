"""Training and loading judges. Attacks and the reproduction load judges from the cache and
train a missing one (saying so)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from snnleak import data
from snnleak.device import CPU, describe, on_cpu
from snnleak.info import package_versions
from snnleak.judges.checkpoint import (
    JudgeCheckpointError,
    judge_path,
    load_judge_state,
    save_judge,
)
from snnleak.judges.registry import judge_spec, logits


@dataclass(frozen=True)
class TrainedJudge:
    model: nn.Module
    meta: dict
    path: Path


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, info) -> torch.Tensor:
    from snnleak.judges.arcface import ResNet50ArcFace

    if isinstance(model, ResNet50ArcFace):  # the margin needs the labels
        return F.cross_entropy(model(x, y), y)
    return F.cross_entropy(logits(model, x, info), y)


@torch.no_grad()
def accuracy(model: nn.Module, split: data.Split, batch_size: int = 128) -> float:
    model.eval()
    where = next(model.parameters()).device
    correct = 0
    for x, y in DataLoader(split, batch_size=batch_size):
        correct += int((logits(model, x.to(where), split.info).argmax(1).cpu() == y).sum())
    return correct / max(1, len(split))


def train_judge(
    dataset: str,
    *,
    epochs: int | None = None,
    seed: int = 0,
    data_root: Path | None = None,
    cache_dir: Path | None = None,
    progress: Callable | None = None,
    device: torch.device = CPU,
) -> TrainedJudge:
    """Train the dataset's judge on ``device``, report held-out accuracy, save the checkpoint
    (with CPU tensors: it loads anywhere)."""
    spec = judge_spec(dataset)
    train = data.load(dataset, "train", root=data_root, seed=seed)
    test = data.load(dataset, "test", root=data_root, seed=seed)
    torch.manual_seed(seed)
    with on_cpu():  # the same initial weights on every device
        model = spec.build(train.info)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    n_epochs = spec.epochs if epochs is None else epochs
    loader = DataLoader(
        train,
        batch_size=spec.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, n_epochs * len(loader)))
    start = time.perf_counter()
    steps = range(n_epochs) if progress is None else progress(range(n_epochs))
    for _ in steps:
        model.train()
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            _loss(model, x.to(device), y.to(device), train.info).backward()
            opt.step()
            sched.step()
    acc = accuracy(model, test)
    meta = {
        "dataset": dataset,
        "arch": spec.arch,
        "split_seed": seed,
        "accuracy": acc,
        "epochs": n_epochs,
        "train_seconds": round(time.perf_counter() - start, 1),
        "num_classes": train.info.num_classes,
        "init": getattr(model, "init", "random"),  # the LFW judge: imagenet or scratch
        "versions": package_versions(),
        **describe(device),
    }
    path = save_judge(model, meta, judge_path(dataset, cache_dir))
    return TrainedJudge(model.eval(), meta, path)


def load_judge(
    dataset: str,
    *,
    seed: int = 0,
    data_root: Path | None = None,
    cache_dir: Path | None = None,
    train_if_missing: bool = True,
    require_imagenet: bool = False,
    log: Callable[[str], None] = print,
    device: torch.device = CPU,
) -> TrainedJudge:
    """The cached judge of ``dataset``; trained (and cached) first if it is missing.

    ``require_imagenet``: refuse to train the ResNet-50 judge (LFW) from scratch; the paper's
    starts from ImageNet weights."""
    spec = judge_spec(dataset)
    path = judge_path(dataset, cache_dir)
    if not path.exists() and require_imagenet and spec.arch == "resnet50-arcface":
        from snnleak.judges.arcface import cached_imagenet_weights, imagenet_weights_path

        if cached_imagenet_weights() is None:
            raise JudgeCheckpointError(
                f"the {dataset} judge must start from ImageNet weights (IMAGENET1K_V1), as the "
                f"paper's does, but {imagenet_weights_path()} is missing; put torchvision's "
                "ResNet50_Weights.IMAGENET1K_V1 file there, or set require_imagenet = false "
                "under [judges] in the preset to train from scratch"
            )
    if not path.exists():
        if not train_if_missing:
            raise JudgeCheckpointError(
                f"no judge for {dataset} at {path}; train it with "
                f"'snnleak train-judge --dataset {dataset}'"
            )
        log(f"no judge for {dataset} in {path.parent}: training one now")
        return train_judge(
            dataset, seed=seed, data_root=data_root, cache_dir=cache_dir, device=device
        )
    state, meta = load_judge_state(path, dataset, spec.arch, seed)
    info = data.load(dataset, "test", root=data_root, seed=seed).info
    with on_cpu():
        model = spec.build(info, False)  # the checkpoint holds every weight
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = " ".join(str(exc).split())[:160]
        raise JudgeCheckpointError(
            f"judge checkpoint {path} does not fit the {spec.arch} judge ({first}); retrain it "
            f"with 'snnleak train-judge --dataset {dataset}'"
        ) from exc
    return TrainedJudge(model.to(device).eval(), meta, path)
