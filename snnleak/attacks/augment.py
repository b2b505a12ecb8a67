r"""More public items for the attacker's decoders: seeded small deformations of its own items.

Learning To Invert (Wu et al. 2022) trains its decoder on tens of thousands of public pairs.
An attacker with fewer public items makes more of them the way a classifier's training does:
each copy of an image is warped by a random similarity transform (rotation within
``ROTATION``, scale within ``SCALE``, shift within ``SHIFT`` pixels) plus a smooth elastic
displacement (a 4 x 4 field of N(0, ``ELASTIC``) offsets in normalised coordinates, upsampled
bicubically), sampled bilinearly with zero padding and clipped to [0, 1]. The label stays the
item's. Everything is drawn from one generator, so the same seed gives the same set.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ROTATION = math.radians(12)
SCALE = 0.1
SHIFT = 2.5
ELASTIC = 0.06


def deform(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """One random deformation of each image of ``x`` ``[N, C, H, W]``."""
    n, _, h, w = x.shape
    draw = lambda *shape: torch.rand(*shape, generator=rng, device="cpu") * 2 - 1  # noqa: E731
    angle, scale = draw(n) * ROTATION, 1 + draw(n) * SCALE
    shift = draw(n, 2) * torch.tensor([2 * SHIFT / w, 2 * SHIFT / h])
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    field = torch.randn(n, 2, 4, 4, generator=rng, device="cpu") * ELASTIC
    field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)
    grid = grid + field.permute(0, 2, 3, 1).to(x.dtype)
    out = F.grid_sample(x.cpu(), grid, align_corners=False, padding_mode="zeros")
    return out.clamp(0, 1).to(x.device)


def augmented(
    items: list[tuple[torch.Tensor, int]], copies: int, seed: int = 3
) -> list[tuple[torch.Tensor, int]]:
    """``items`` followed by ``copies`` deformed copies of each (images ``[C, H, W]``)."""
    if copies == 0:
        return list(items)
    rng = torch.Generator().manual_seed(seed)
    x = torch.stack([x for x, _ in items])
    out = list(items)
    for _ in range(copies):
        out += list(zip(deform(x, rng).unbind(0), (y for _, y in items), strict=True))
    return out
