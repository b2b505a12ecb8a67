r"""What constrains a dummy between optimiser steps and after them: the pixel range of images,
and spike-domain binarisation (the paper's Algorithms 1 and 2).

Algorithm 1 (``post``): after the optimisation, :math:`\tilde x' = [x' > \tau]` per time step.
Algorithm 2 (``in``): after every optimiser step, :math:`x' \leftarrow [x' > \tau]`, so the
optimisation proceeds from binary spike tensors. The initial dummy is binarised too
(:func:`start`), so that every loss the record compares, the first included, is a binary
tensor's. Under a line search, the projection is searched as well
(:func:`projected_search_rows`): L-BFGS is not told about the binarisation, which otherwise
throws it off its descent (the final binary iterate ended above its start in 3 of 4 quick
Table V runs at tau 0.1).

Images are kept in [0, 1] (the paper's Table III) in one of two ways (``clamp``):

- ``"final"`` (the default): the optimisation runs unconstrained, as DLG's and iDLG's code
  do, and the final iterate is projected into [0, 1] before its loss is measured and it is
  reported;
- ``"step"``: projected after every optimiser step. L-BFGS is not told: its next curvature pair
  pairs the step it proposed with the gradient change of the step it was given. On real digits,
  whose background sits exactly at 0, the projection moves most pixels at every step, and
  L-BFGS without a line search stalls or jumps away (docs/fidelity.md, B9).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from snnleak.attacks.config import Thresholding
from snnleak.attacks.rows import where_rows

HALVINGS = 8  # step halvings tried by projected_search_rows before it keeps the previous iterate


def binarise(x: torch.Tensor, tau: float) -> torch.Tensor:
    return (x > tau).to(x.dtype)


@torch.no_grad()
def after_step(
    x: torch.Tensor, modality: str, threshold: Thresholding | None, clamp: str = "final"
) -> None:
    """In place, after every optimiser step: images are clamped to [0, 1] under ``clamp =
    "step"``; then Algorithm 2, when configured."""
    if modality == "image" and clamp == "step":
        x.clamp_(0, 1)
    if threshold is not None and threshold.mode == "in":
        x.copy_(binarise(x, threshold.level))


@torch.no_grad()
def start(x: torch.Tensor, threshold: Thresholding | None) -> None:
    """In place, on the initial dummy: Algorithm 2 starts from a binary spike tensor."""
    if threshold is not None and threshold.mode == "in":
        x.copy_(binarise(x, threshold.level))


def searched(threshold: Thresholding | None, line_search: str) -> bool:
    """Whether Algorithm 2's projection is searched (:func:`projected_search_rows`)."""
    return threshold is not None and threshold.mode == "in" and line_search != "none"


@torch.no_grad()
def before_final(x: torch.Tensor, modality: str) -> None:
    """In place, before the final iterate's loss is measured: images into [0, 1]."""
    if modality == "image":
        x.clamp_(0, 1)


def project(x: torch.Tensor, modality: str) -> torch.Tensor:
    """A reported image reconstruction lies in the pixel range; event tensors are as they are."""
    return x.clamp(0, 1) if modality == "image" else x


def after_optimisation(x: torch.Tensor, threshold: Thresholding | None) -> torch.Tensor:
    """Algorithm 1; under Algorithm 2 the iterates are binary already, and this also binarises
    the one that is not (the initial dummy, when it is the best iterate)."""
    return x if threshold is None else binarise(x, threshold.level)


def projected_search_rows(
    v: torch.Tensor,
    previous: torch.Tensor,
    previous_loss: torch.Tensor,
    nx: int,
    tau: float,
    evaluate: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    active: torch.Tensor,
    halvings: int = HALVINGS,
) -> torch.Tensor:
    r"""Algorithm 2's projection, searched, for K trials at once, on the rows of ``v``
    (``[K, n]``: the flat dummy in the first ``nx`` columns, then any free variables such as
    DLG's label logits), in place. ``v`` holds the optimiser's continuous step from
    ``previous``, whose dummy is binary; each trial in ``active`` moves to the first point, of
    two searches, whose matching loss is below ``previous_loss`` (``evaluate``: loss ``[K]``
    and gradient ``[K, n]`` at ``v``; the rounds evaluate all trials together).

    1. Along the projection arc (Bertsekas, 1976): the dummy :math:`[\,p + 2^{-k}(x - p) >
       \tau\,]` and the free variables :math:`p + 2^{-k}(v - p)`, k = 0, 1, ..., ``halvings``.
    2. Bit flips by the gradient at ``previous``: flipping entry i of the dummy changes the
       loss by about :math:`g_i (1 - 2 x_i)`; the m entries of most negative change are
       flipped, m halving from all of them down to one.

    Returns the trials that found a lower loss; the others in ``active`` are back at
    ``previous`` (no point either search tries lowers their loss)."""

    step = v - previous
    found = torch.zeros_like(active)
    arc_on = active.clone()  # trials still searching the arc
    for k in range(halvings + 1):
        point = previous + step * 0.5**k
        point[:, :nx] = binarise(point[:, :nx], tau)
        arc_on &= ~(point[:, :nx] == previous[:, :nx]).all(1)  # the arc has collapsed
        v.copy_(where_rows(arc_on, point, v))
        lower = arc_on & (evaluate()[0] < previous_loss)
        found |= lower
        arc_on &= ~lower
    v.copy_(where_rows(active & ~found, previous, v))
    binary = previous[:, :nx]
    change = evaluate()[1][:, :nx] * (1 - 2 * binary)
    # rank[i, j]: entry j's place among trial i's entries sorted by change, most negative first
    order = torch.argsort(change, dim=1, stable=True)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(nx, device=v.device).expand_as(order).contiguous()
    )
    m = (change < 0).sum(1)
    flip_on = active & ~found
    for _ in range(max(1, nx).bit_length()):
        flip_on &= m >= 1
        flipped = torch.where(rank < m[:, None], 1 - binary, binary)
        v[:, :nx] = where_rows(flip_on, flipped, v[:, :nx])
        lower = flip_on & (evaluate()[0] < previous_loss)
        found |= lower
        flip_on &= ~lower
        m = m // 2
    v.copy_(where_rows(active & ~found, previous, v))
    return found
