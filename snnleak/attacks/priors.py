r"""Image priors an attack adds to its matching loss: the two total variations in use.

- :func:`total_variation`, Inverting Gradients' (Geiping et al. 2020) anisotropic TV, used by
  the smooth proxy, Inverting Gradients and the analytic inversion: the mean absolute
  difference between vertical neighbours plus that between horizontal neighbours,
  :math:`\mathrm{mean}|x_{i+1,j} - x_{ij}| + \mathrm{mean}|x_{i,j+1} - x_{ij}|`.
- :func:`grnn_total_variation`, GRNN's (Ren et al. 2022, as its code computes it): twice the sum
  of the squared vertical and horizontal differences, each divided by the number of
  differences per item, divided by the batch size; per trial when ``trials`` is given.
"""

from __future__ import annotations

import torch


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Inverting Gradients' TV: mean absolute vertical plus horizontal differences."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (
        x[..., :, 1:] - x[..., :, :-1]
    ).abs().mean()


def grnn_total_variation(x: torch.Tensor, trials: int | None = None) -> torch.Tensor:
    """GRNN's TV of a batch ``[B, C, H, W]`` (or ``[T, B, C, H, W]``); with ``trials`` = K,
    ``x`` holds K trials' batches one after another and the result is ``[K]``."""
    k = 1 if trials is None else trials
    x = x.reshape(k, -1, *x.shape[-3:])
    b, c, h, w = x.shape[1:]
    h_tv = ((x[..., 1:, :] - x[..., :-1, :]) ** 2).reshape(k, -1).sum(1) / (c * (h - 1) * w)
    w_tv = ((x[..., :, 1:] - x[..., :, :-1]) ** 2).reshape(k, -1).sum(1) / (c * h * (w - 1))
    tv = 2 * (h_tv + w_tv) / b
    return tv[0] if trials is None else tv
