"""Judge checkpoints: ``<cache>/judges/<dataset>.pt``, loadable with ``weights_only=True``.

A checkpoint holds the state dict and its metadata (dataset, architecture, split seed, held-out
accuracy, epochs, library versions). A corrupt file, or one for another dataset, architecture or
split seed, is one clear error that says how to retrain.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from snnleak.errors import SnnleakError
from snnleak.io import cache_root, save_atomic


class JudgeCheckpointError(SnnleakError):
    pass


def judge_path(dataset: str, cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or cache_root()) / "judges" / f"{dataset}.pt"


def save_judge(model: nn.Module, meta: dict, path: Path) -> Path:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_atomic({"state_dict": state, "meta": meta}, path)


def load_judge_state(path: Path, dataset: str, arch: str, split_seed: int) -> tuple[dict, dict]:
    retrain = f"retrain it with 'snnleak train-judge --dataset {dataset}'"
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        state, meta = blob["state_dict"], blob["meta"]
    except Exception as exc:
        raise JudgeCheckpointError(
            f"judge checkpoint {path} is unreadable ({type(exc).__name__}); {retrain}"
        ) from exc
    expected = {"dataset": dataset, "arch": arch, "split_seed": split_seed}
    found = {k: meta.get(k) for k in expected}
    if found != expected:
        raise JudgeCheckpointError(
            f"judge checkpoint {path} was made for {found}, not {expected}; {retrain}"
        )
    return state, meta
