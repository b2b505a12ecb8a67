"""Where the batch axis is: the one owner of the image/event tensor layout.

Images are items ``[C, H, W]`` and batches ``[B, C, H, W]``; event tensors are items
``[T, C, H, W]`` and batches ``[T, B, C, H, W]`` (time first, as the spiking models take them).
Everything that adds, takes or stacks the batch axis goes through these helpers.
"""

from __future__ import annotations

import torch

MODALITIES = ("image", "events")


def batch_axis(modality: str) -> int:
    """0 for images ``[B, ...]``, 1 for event tensors ``[T, B, ...]``."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return 1 if modality == "events" else 0


def as_batch(item: torch.Tensor, modality: str) -> torch.Tensor:
    """One item -> a batch of one."""
    return item.unsqueeze(batch_axis(modality))


def item(batch: torch.Tensor, index: int, modality: str) -> torch.Tensor:
    """Item ``index`` of a batch."""
    return batch.select(batch_axis(modality), index)


def stack(items: list[torch.Tensor], modality: str) -> torch.Tensor:
    """Items -> a batch."""
    return torch.stack(items, dim=batch_axis(modality))


def item_shape(batch: torch.Tensor, modality: str) -> tuple[int, ...]:
    """The shape of one item of ``batch``."""
    axis = batch_axis(modality)
    return tuple(batch.shape[:axis]) + tuple(batch.shape[axis + 1 :])


def batch_size(batch: torch.Tensor, modality: str) -> int:
    return int(batch.shape[batch_axis(modality)])


def batch_shape(item_shape: tuple[int, ...], size: int, modality: str) -> tuple[int, ...]:
    """The shape of a batch of ``size`` items of ``item_shape``."""
    axis = batch_axis(modality)
    return (*item_shape[:axis], size, *item_shape[axis:])
