r"""Spike-domain binarisation of reconstructions (the paper's Algorithms 1 and 2).

Algorithm 1 (``post``): after the optimisation, :math:`\tilde x' = [x' > \tau]` per time step.
Algorithm 2 (``in``): after every optimiser step, :math:`x' \leftarrow [x' > \tau]`, so the
optimisation proceeds from binary spike tensors.
"""

from __future__ import annotations

import torch

from snnleak.attacks.config import Thresholding


def binarise(x: torch.Tensor, tau: float) -> torch.Tensor:
    return (x > tau).to(x.dtype)


@torch.no_grad()
def after_step(x: torch.Tensor, modality: str, threshold: Thresholding | None) -> None:
    """In place, after every optimiser step: images are clamped to [0, 1]; then Algorithm 2,
    when configured."""
    if modality == "image":
        x.clamp_(0, 1)
    if threshold is not None and threshold.mode == "in":
        x.copy_(binarise(x, threshold.tau))


def after_optimisation(x: torch.Tensor, threshold: Thresholding | None) -> torch.Tensor:
    """Algorithm 1; under Algorithm 2 the iterates are binary already, and this also binarises
    the one that is not (the initial dummy, when it is the best iterate)."""
    return x if threshold is None else binarise(x, threshold.tau)
