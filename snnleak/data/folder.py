"""``--dataset folder:PATH``: your own images, in torchvision's ImageFolder layout.

``PATH/<class name>/<image>`` (any format Pillow reads); classes are the sub-folders in sorted
order, as ImageFolder gives them. Images keep what they are where the victim can take it:

- channels: one (grey) when every image is single-channel (Pillow modes ``1``, ``L``, ``I``,
  ``I;16``, ``F``), else three (RGB);
- size: the images' own when they all share one, else 32x32 (LeNet's CIFAR input);
  ``folder:PATH@S`` resizes every image to SxS.

Pixels are scaled to [0, 1] and split 80/20 into train and test with the split seed, like the
embedded sets. No judge exists for such a set: attacks report MSE, PSNR, SSIM and label
recovery, and leave the attack success rate out.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from snnleak.data.base import (
    DatasetInfo,
    DatasetSpec,
    LoadRequest,
    Split,
    seeded_indices,
    tensor_split,
)
from snnleak.errors import ConfigError

PREFIX = "folder:"
DEFAULT_SIZE = 32  # for folders whose images differ in size
GREY_MODES = ("1", "L", "I", "I;16", "F")  # Pillow's single-channel modes


def parse(name: str) -> tuple[Path, int | None]:
    """``folder:PATH`` or ``folder:PATH@S`` -> (PATH, S); S is None without ``@``."""
    rest = name[len(PREFIX) :]
    size = None
    if "@" in rest:
        rest, _, tail = rest.rpartition("@")
        if not tail.isdigit() or not 4 <= int(tail) <= 512:
            raise ConfigError(f"dataset {name!r}: the size after '@' must be 4 to 512 pixels")
        size = int(tail)
    path = Path(rest).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"dataset {name!r}: {path} is not a folder; give PATH/<class>/<image> "
            "(torchvision ImageFolder layout)"
        )
    return path, size


def _open(path: str):
    """An image as stored (torchvision's default loader converts everything to RGB)."""
    from PIL import Image

    with open(path, "rb") as f:
        image = Image.open(f)
        image.load()
    return image


@functools.cache
def _images(path: Path, size: int | None) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    from torchvision import datasets, transforms

    try:
        ds = datasets.ImageFolder(str(path), loader=_open)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ConfigError(
            f"dataset folder:{path}: {exc}; expected PATH/<class>/<image> (ImageFolder layout)"
        ) from exc
    if len(ds) < 2 or len(ds.classes) < 2:
        raise ConfigError(
            f"dataset folder:{path}: found {len(ds)} image(s) in {len(ds.classes)} class "
            "folder(s); give at least two classes"
        )
    images, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)
    grey = all(im.mode in GREY_MODES for im in images)
    sizes = {im.size for im in images}  # (width, height)
    if size is not None:
        hw = (size, size)
    elif len(sizes) == 1:
        w, h = sizes.pop()
        hw = (h, w)
    else:
        hw = (DEFAULT_SIZE, DEFAULT_SIZE)
    tf = transforms.Compose(
        [
            transforms.Lambda(lambda im: im.convert("L" if grey else "RGB")),
            transforms.Resize(hw),
            transforms.ToTensor(),
        ]
    )
    return torch.stack([tf(im) for im in images]), torch.tensor(ys, device="cpu"), tuple(ds.classes)


def spec(name: str) -> DatasetSpec:
    path, size = parse(name)

    def load(req: LoadRequest) -> Split:
        x, y, classes = _images(path.resolve(), size)
        c, h, w = x.shape[1:]
        info = DatasetInfo(
            name,
            (c, h, w),
            len(classes),
            classes,
            "image",
            False,
            f"ImageFolder {path} ({'grey' if c == 1 else 'RGB'}, {h}x{w})",
        )
        idx = seeded_indices(len(y), req.seed)[req.split]
        return tensor_split(info, x[idx], y[idx])

    return DatasetSpec(name, False, "image", load, f"your images in {path}")
