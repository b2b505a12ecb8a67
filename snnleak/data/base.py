"""The dataset interface: items ``(tensor, label)`` plus metadata, behind one registry.

Images are float tensors ``[C, H, W]`` in [0, 1]; event data are float frame tensors
``[T, 2, H, W]`` (event counts per bin). Every dataset has a ``train`` and a ``test`` split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset

from snnleak.errors import ConfigError, SnnleakError

Modality = Literal["image", "events"]
SPLITS = ("train", "test")
# What a set's items are, measured against the paper's data: headline numbers come from
# "paper" or "real" items; a "stand-in" is other data in the place of the paper's; a "toy" set
# stands in for nothing; "own" is the user's data (folder:PATH)
ITEM_KINDS = {
    "paper": "the paper's dataset",
    "real": "real items of the paper's dataset",
    "stand-in": "a stand-in for the paper's dataset",
    "toy": "a toy set, standing in for none of the paper's",
    "own": "your own data",
}


class DataUnavailable(SnnleakError, FileNotFoundError):
    """A real dataset is not on disk (and was not asked to be downloaded)."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_shape: tuple[int, ...]  # [C, H, W] for images, [T, C, H, W] for events
    num_classes: int
    class_names: tuple[str, ...]
    modality: Modality
    synthetic: bool
    source: str  # where the data comes from, in words
    stands_in_for: str | None = None  # the paper's dataset an embedded set replaces
    items: str = "own"  # one of ITEM_KINDS

    def __post_init__(self) -> None:
        if self.items not in ITEM_KINDS:
            raise ValueError(f"items must be one of {', '.join(ITEM_KINDS)}, got {self.items!r}")

    @property
    def items_summary(self) -> str:
        """What the items are, in words (``snnleak data info``, table notes)."""
        what = ITEM_KINDS[self.items]
        if self.stands_in_for and self.items in ("real", "stand-in"):
            what += f" ({self.stands_in_for})"
        return what + (", SYNTHETIC" if self.synthetic else "")


@dataclass
class Split(Dataset):
    """One split: ``split[i] -> (tensor, label)``; ``get`` maps a raw item to that pair."""

    info: DatasetInfo
    size: int
    get: Callable[[int], tuple[torch.Tensor, int]] = field(repr=False)
    split: str = ""  # "train" or "test", set by snnleak.data.load

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"{self.info.name}: index {index} out of range [0, {self.size})")
        return self.get(index)

    def labels(self) -> list[int]:
        return [self.get(i)[1] for i in range(self.size)]


def tensor_split(info: DatasetInfo, x: torch.Tensor, y: torch.Tensor) -> Split:
    return Split(info, len(y), lambda i: (x[i], int(y[i])))


def seeded_indices(n: int, seed: int, train_fraction: float = 0.8) -> dict[str, torch.Tensor]:
    """A seeded train/test partition of ``range(n)``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed), device="cpu")
    cut = round(train_fraction * n)
    return {"train": perm[:cut].sort().values, "test": perm[cut:].sort().values}


@dataclass(frozen=True)
class LoadRequest:
    split: str = "train"
    root: Path | None = None
    download: bool = False
    seed: int = 0  # split seed of the sets that are split here (embedded sets, LFW)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")


def download_hint(name: str, root: Path | str = "DIR") -> str:
    """The command that fetches real dataset ``name`` into ``root``."""
    return f"snnleak data download {name} --data-root {root}"


def require_root(req: LoadRequest, name: str) -> Path:
    """The ``--data-root`` a real dataset is read from, or one clear error."""
    if req.root is None:
        raise DataUnavailable(
            f"{name} is read from disk: pass --data-root DIR (fetch it first with "
            f"'{download_hint(name)}'), or use an embedded dataset"
        )
    return Path(req.root).expanduser()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    real: bool  # read from disk (True) or embedded/synthesised (False)
    modality: Modality  # known without loading, so bad combinations fail before any work
    load: Callable[[LoadRequest], Split]
    summary: str
    alternative: str | None = None  # the embedded set to use offline, for real sets
    # a real set's item shape and classes, known without reading it (the paper's shapes)
    shape: tuple[int, ...] | None = None
    classes: int | None = None
