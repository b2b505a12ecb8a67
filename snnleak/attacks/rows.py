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


def pair_products(sy, rows, slot, push, s, y) -> None:
    """In place: ``sy[k, i, j]`` = :math:`s_i^\\top y_j` after row ``k``'s slot ``slot[k]`` of
    ``s, y [K, m, n]`` took a new pair (where ``push``): that slot's row and column, in
    :math:`O(m n)` where all of :math:`S Y^\\top` would cost :math:`O(m^2 n)`."""
    new_s, new_y = s[rows, slot], y[rows, slot]
    sy[rows, slot] = where_rows(push, torch.bmm(y, new_s[:, :, None])[..., 0], sy[rows, slot])
    sy[rows, :, slot] = where_rows(push, torch.bmm(s, new_y[:, :, None])[..., 0], sy[rows, :, slot])


def two_loop(
    q: torch.Tensor,
    s: torch.Tensor,
    y: torch.Tensor,
    ro: torch.Tensor,
    h_diag: torch.Tensor,
    sy: torch.Tensor | None = None,
):
    r"""L-BFGS's two-loop recursion for K rows at once: ``q [K, n]`` (the negative gradient),
    the pairs ``s, y [K, m, n]`` and ``ro [K, m]`` (:math:`1/y_j^\top s_j`) newest first,
    ``h_diag [K]``; returns :math:`H q`. ``sy [K, m, m]``, :math:`s_i^\top y_j` in the same
    order, when the caller keeps it (else it is computed here, :math:`O(m^2 n)`).

    The first loop's :math:`a_j = \rho_j s_j^\top (q - \sum_{i<j} a_i y_i)` is the unit lower
    triangular system :math:`(I + \mathrm{diag}(\rho) L) a = \rho \circ S q` with
    :math:`L` the strictly lower part of :math:`S Y^\top`; the second loop's
    :math:`c_j = a_j - \rho_j y_j^\top (r_0 + \sum_{i>j} c_i s_i)` the unit upper triangular
    system :math:`(I + \mathrm{diag}(\rho) L^\top) c = a - \rho \circ Y r_0`. Torch's
    loops, in a dozen operations whatever the history's length m instead of ten per pair.
    A slot a trial does not hold is zero (its ``ro`` too), so its terms vanish."""
    if s.shape[1] == 0:
        return q * h_diag[:, None]
    strict = torch.tril(torch.bmm(s, y.mT) if sy is None else sy, -1)  # L
    eye = torch.eye(s.shape[1], dtype=q.dtype, device=q.device)
    rhs = (ro * torch.bmm(s, q[:, :, None])[..., 0])[..., None]
    a = torch.linalg.solve_triangular(
        eye + strict * ro[:, :, None], rhs, upper=False, unitriangular=True
    )
    q = q - torch.bmm(y.mT, a)[..., 0]
    r = q * h_diag[:, None]
    rhs = a - (ro * torch.bmm(y, r[:, :, None])[..., 0])[..., None]
    c = torch.linalg.solve_triangular(
        eye + strict.mT * ro[:, :, None], rhs, upper=True, unitriangular=True
    )
    return r + torch.bmm(s.mT, c)[..., 0]
