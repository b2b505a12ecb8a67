"""Tensors whose leading dimension is K trials, one row each: what the attacks that run K
trials together (:mod:`snnleak.attacks.lbfgs` and the attacks over it) select, merge and
compare row by row."""

from __future__ import annotations

from collections.abc import Callable

import torch

# evaluate(rows) -> loss [R] and gradient [R, n] of the trials `rows` (indices) at their rows
# of v; rows None: every trial
Evaluate = Callable[[torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


def take_rows(t: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """The rows ``rows`` (indices) of ``t``, as an :data:`Evaluate` is asked for them; all of
    ``t`` when ``rows`` is None."""
    return t if rows is None else t.index_select(0, rows)


def where_rows(mask: torch.Tensor, a, b):
    """``torch.where`` with a ``[K]`` mask over the rows of ``a`` (broadcast over its trailing
    dimensions): each trial's row from ``a`` where its mask is set, else from ``b``."""
    if isinstance(a, torch.Tensor):
        mask = mask.reshape(mask.shape + (1,) * (a.dim() - 1))
    return torch.where(mask, a, b)


def maximum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > a, b, a)  # Python's max(a, b): a NaN in a stays


def minimum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b < a, b, a)  # Python's min(a, b)


def cubic_interpolate(x1, f1, g1, x2, f2, g2, lo=None, hi=None) -> torch.Tensor:
    """torch's ``_cubic_interpolate`` on ``[K]`` tensors: the minimiser of the cubic through
    (x1, f1, g1) and (x2, f2, g2) within [lo, hi] (default: between x1 and x2)."""
    if lo is None:
        lo = torch.where(x1 <= x2, x1, x2)
        hi = torch.where(x1 <= x2, x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = d2_square.clamp(min=0).sqrt()
    forward = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    backward = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    min_pos = torch.where(x1 <= x2, forward, backward)
    return torch.where(d2_square >= 0, minimum(maximum(min_pos, lo), hi), (lo + hi) / 2.0)


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vecdot(a, b)
