r"""What constrains a dummy between optimiser steps and after them: the pixel range of images,
and spike-domain binarisation (the paper's Algorithms 1 and 2).

Algorithm 1 (``post``): after the optimisation, :math:`\tilde x' = [x' > \tau]` per time step.
Algorithm 2 (``in``): after every optimiser step, :math:`x' \leftarrow [x' > \tau]`, so the
optimisation proceeds from binary spike tensors.

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

import torch

from snnleak.attacks.config import Thresholding


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
        x.copy_(binarise(x, threshold.tau))


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
    return x if threshold is None else binarise(x, threshold.tau)
