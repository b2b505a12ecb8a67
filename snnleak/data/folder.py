"""``--dataset folder:PATH``: your own images, in torchvision's ImageFolder layout.

``PATH/<class name>/<image>`` (any format Pillow reads); classes are the sub-folders in sorted
order, as ImageFolder gives them. Images are converted to RGB and resized to 32x32 (LeNet's
CIFAR input; ``folder:PATH@S`` resizes to SxS), scaled to [0, 1], and split 80/20 into train and
test with the split seed, like the embedded sets. No judge exists for such a set: attacks report
MSE, PSNR, SSIM and label recovery, and leave the attack success rate out.
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
DEFAULT_SIZE = 32


def parse(name: str) -> tuple[Path, int]:
    """``folder:PATH`` or ``folder:PATH@S`` -> (PATH, S)."""
    rest = name[len(PREFIX) :]
    size = DEFAULT_SIZE
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


@functools.cache
def _images(path: Path, size: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    from torchvision import datasets, transforms

    tf = transforms.Compose(
        [
            transforms.Lambda(lambda im: im.convert("RGB")),
            transforms.Resize((size, size)),
            transforms.ToTensor(),
        ]
    )
    try:
        ds = datasets.ImageFolder(str(path), transform=tf)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ConfigError(
            f"dataset folder:{path}: {exc}; expected PATH/<class>/<image> (ImageFolder layout)"
        ) from exc
    if len(ds) < 2 or len(ds.classes) < 2:
        raise ConfigError(
            f"dataset folder:{path}: found {len(ds)} image(s) in {len(ds.classes)} class "
            "folder(s); give at least two classes"
        )
    xs, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)
    return torch.stack(xs), torch.tensor(ys, device="cpu"), tuple(ds.classes)


def spec(name: str) -> DatasetSpec:
    path, size = parse(name)

    def load(req: LoadRequest) -> Split:
        x, y, classes = _images(path.resolve(), size)
        info = DatasetInfo(
            name,
            (3, size, size),
            len(classes),
            classes,
            "image",
            False,
            f"ImageFolder {path} (RGB, {size}x{size})",
        )
        idx = seeded_indices(len(y), req.seed)[req.split]
        return tensor_split(info, x[idx], y[idx])

    return DatasetSpec(name, False, "image", load, f"your images in {path}")
