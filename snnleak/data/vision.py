"""Real image datasets through torchvision, read from ``--data-root`` in torchvision's layouts.

- ``mnist``: ``torchvision.datasets.MNIST`` (``ROOT/MNIST/raw/*-ubyte``), 1x28x28, 10 classes.
- ``cifar100``: ``torchvision.datasets.CIFAR100`` (``ROOT/cifar-100-python/``), 3x32x32.
- ``lfw``: ``torchvision.datasets.LFWPeople`` (``ROOT/lfw-py/``), every image of the 10 folds,
  resized to 3x32x32, split 80/20 by a seed as in the paper; classes are identities.
"""

from __future__ import annotations

from pathlib import Path

import torch

from snnleak.data.base import (
    DatasetInfo,
    DataUnavailable,
    LoadRequest,
    Split,
    download_hint,
    require_root,
    seeded_indices,
)

LFW_SHAPE = (3, 32, 32)


def _missing(name: str, root: Path, alternative: str, exc: Exception) -> DataUnavailable:
    return DataUnavailable(
        f"{name} not found under {root} ({str(exc).splitlines()[0]}); fetch it with "
        f"'{download_hint(name, root)}', or use the embedded '{alternative}' set"
    )


def _to_tensor():
    from torchvision.transforms import v2

    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def load_mnist(req: LoadRequest) -> Split:
    from torchvision.datasets import MNIST

    root = require_root(req, "mnist")
    try:
        ds = MNIST(str(root), train=req.split == "train", download=req.download)
    except RuntimeError as exc:
        if req.download:  # the downloader's own failure: snnleak.data.download reports it
            raise
        raise _missing("mnist", root, "mnist-5k", exc) from exc
    info = DatasetInfo(
        "mnist",
        (1, 28, 28),
        10,
        tuple(str(i) for i in range(10)),
        "image",
        False,
        "torchvision MNIST",
        items="paper",
    )
    return Split(
        info, len(ds), lambda i: (ds.data[i].unsqueeze(0).float() / 255, int(ds.targets[i]))
    )


def load_cifar100(req: LoadRequest) -> Split:
    from torchvision.datasets import CIFAR100

    root = require_root(req, "cifar100")
    try:
        ds = CIFAR100(str(root), train=req.split == "train", download=req.download)
    except RuntimeError as exc:
        if req.download:  # the downloader's own failure: snnleak.data.download reports it
            raise
        raise _missing("cifar100", root, "patches", exc) from exc
    info = DatasetInfo(
        "cifar100",
        (3, 32, 32),
        100,
        tuple(ds.classes),
        "image",
        False,
        "torchvision CIFAR-100",
        items="paper",
    )
    data = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # uint8 [N, 3, 32, 32]
    return Split(info, len(ds), lambda i: (data[i].float() / 255, int(ds.targets[i])))


def load_lfw(req: LoadRequest) -> Split:
    from torchvision.datasets import LFWPeople
    from torchvision.transforms import v2

    root = require_root(req, "lfw")
    try:
        ds = LFWPeople(str(root), split="10fold", download=req.download)
    except RuntimeError as exc:
        if req.download:  # the downloader's own failure: snnleak.data.download reports it
            raise
        raise _missing("lfw", root, "lfw-subset", exc) from exc
    names = sorted(ds.class_to_idx, key=ds.class_to_idx.get)
    info = DatasetInfo(
        "lfw",
        LFW_SHAPE,
        len(names),
        tuple(names),
        "image",
        False,
        f"torchvision LFWPeople (10 folds), 80/20 split by seed {req.seed}",
        items="paper",
    )
    idx = seeded_indices(len(ds), req.seed)[req.split].tolist()
    prep = v2.Compose([_to_tensor(), v2.Resize(LFW_SHAPE[1:], antialias=True)])
    return Split(info, len(idx), lambda i: (prep(ds[idx[i]][0]), int(ds.targets[idx[i]])))
