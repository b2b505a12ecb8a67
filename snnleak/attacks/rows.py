"""Tensors whose leading dimension is K trials, one row each: what the attacks that run K
trials together (:mod:`snnleak.attacks.lbfgs` and the attacks over it) select, merge and
compare row by row; and the row-wise L-BFGS's per-trial numbers, ``[K]`` float64 arrays on
the host, as torch's L-BFGS computes them on Python floats."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
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


def maximum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b > a, b, a)  # Python's max(a, b): a NaN in a stays


def minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b < a, b, a)  # Python's min(a, b)


def cubic_interpolate(x1, f1, g1, x2, f2, g2, lo=None, hi=None) -> np.ndarray:
    """torch's ``_cubic_interpolate`` on ``[K]`` float64 arrays: the minimiser of the cubic
    through (x1, f1, g1) and (x2, f2, g2) within [lo, hi] (default: between x1 and x2)."""
    if lo is None:
        lo = np.where(x1 <= x2, x1, x2)
        hi = np.where(x1 <= x2, x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = np.sqrt(np.maximum(d2_square, 0))
    forward = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    backward = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    min_pos = np.where(x1 <= x2, forward, backward)
    return np.where(d2_square >= 0, minimum(maximum(min_pos, lo), hi), (lo + hi) / 2.0)


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vecdot(a, b)


def pair_products(sy, rows: Rows, slot: np.ndarray, s, y, new_s, new_y) -> None:
    """In place: ``sy[k, i, j]`` = :math:`s_i^\\top y_j` after the trials ``rows`` took the
    pair ``new_s, new_y [R, n]`` into their slots ``slot`` (host ``[K]``) of ``s, y [K, m, n]``:
    that slot's row and column, in :math:`O(m n)` where all of :math:`S Y^\\top` would cost
    :math:`O(m^2 n)`."""
    rows.put_at(sy, slot, torch.bmm(rows.take(y), new_s.unsqueeze(2)).squeeze(2))
    column = torch.bmm(rows.take(s), new_y.unsqueeze(2)).squeeze(2)
    rows.put_at(sy.transpose(1, 2), slot, column)


def two_loop(
    q: torch.Tensor,
    s: torch.Tensor,
    y: torch.Tensor,
    ro: torch.Tensor,
    h_diag: torch.Tensor,
    sy: torch.Tensor | None = None,
):
    r"""L-BFGS's two-loop recursion for K rows at once: ``q [K, n]`` (the negative gradient),
    the pairs ``s, y [K, m, n]`` and ``ro [K, m]`` (:math:`1/y_j^\top s_j`) oldest first,
    ``h_diag [K]``; returns :math:`H q`. ``sy [K, m, m]``, :math:`s_i^\top y_j` in the same
    order, when the caller keeps it (else it is computed here, :math:`O(m^2 n)`).

    The first loop (newest to oldest) :math:`a_j = \rho_j s_j^\top (q - \sum_{i>j} a_i y_i)` is
    the unit upper triangular system :math:`(I + \mathrm{diag}(\rho) U) a = \rho \circ S q`
    with :math:`U` the strictly upper part of :math:`S Y^\top`; the second loop's (oldest to
    newest) :math:`c_j = a_j - \rho_j y_j^\top (r_0 + \sum_{i<j} c_i s_i)` the unit lower
    triangular system :math:`(I + \mathrm{diag}(\rho) U^\top) c = a - \rho \circ Y r_0`.
    Torch's loops, in a dozen operations whatever the history's length m instead of ten per
    pair, with the vectors as ``[K, n, 1]`` columns throughout. ``solve_triangular`` reads
    only the triangle it is told and, unit-triangular, not the diagonal, so both systems take
    :math:`S Y^\top` scaled by :math:`\rho` as it is. A slot a trial does not hold is zero
    (its ``ro`` too), so its terms vanish."""
    if s.shape[1] == 0:
        return q * h_diag[:, None]
    sy = torch.bmm(s, y.mT) if sy is None else sy
    ro = ro.unsqueeze(2)
    q = q.unsqueeze(2)
    a = torch.linalg.solve_triangular(
        sy * ro, torch.bmm(s, q) * ro, upper=True, unitriangular=True
    )  # fmt: skip
    r = torch.baddbmm(q, y.mT, a, alpha=-1) * h_diag[:, None, None]
    c = torch.linalg.solve_triangular(
        sy.mT * ro, a - torch.bmm(y, r) * ro, upper=False, unitriangular=True
    )
    return torch.baddbmm(r, s.mT, c).squeeze(2)


def host(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as float64 on the host (a copy)."""
    return (t.detach() if t.requires_grad else t).to("cpu", torch.float64, copy=True).numpy()


class Rows:
    """The trials a branch selects (a ``[K]`` bool mask decided on the host), and how to read
    and write their rows of a ``[K, ...]`` tensor: the whole tensor when it is every trial."""

    def __init__(self, mask: np.ndarray, device: torch.device) -> None:
        self.mask, self.idx, self.device = mask, mask.nonzero()[0], device
        self.all = len(self.idx) == len(mask)
        self._index: torch.Tensor | None = None

    @property
    def index(self) -> torch.Tensor | None:
        """The selected trials as a tensor on the device (None for every trial), made on first
        use: most selections of a round are read on the host only, or are empty."""
        if self.all:
            return None
        if self._index is None:
            self._index = torch.as_tensor(self.idx, device=self.device)
        return self._index

    @classmethod
    def at(cls, idx: np.ndarray, k: int, device: torch.device) -> Rows:
        """The trials ``idx`` (indices) of ``k``."""
        mask = np.zeros(k, bool)
        mask[idx] = True
        return cls(mask, device)

    def __bool__(self) -> bool:
        return len(self.idx) > 0

    def take(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.all else x[self.index]

    def put(self, dst: torch.Tensor, src: torch.Tensor) -> None:
        if self.all:
            dst.copy_(src)
        else:
            dst[self.index] = src

    def _at(self, pos: np.ndarray, device: torch.device):
        """The index of entry ``pos[k]`` (host ``[K]``) of each selected row ``k``: one basic
        index where every trial is selected at the same entry."""
        p = pos[self.idx]
        if self.all and (len(p) == 1 or (p == p[0]).all()):
            return (slice(None), int(p[0]))
        return (torch.as_tensor(self.idx, device=device), torch.as_tensor(p, device=device))

    def take_at(self, x: torch.Tensor, pos: np.ndarray) -> torch.Tensor:
        """Entry ``pos[k]`` of each selected row ``k`` of ``x [K, m, ...]``."""
        return x[self._at(pos, x.device)]

    def put_at(self, dst: torch.Tensor, pos: np.ndarray, src: torch.Tensor) -> None:
        """Entry ``pos[k]`` of each selected row ``k`` of ``dst [K, m, ...]`` := ``src``."""
        dst[self._at(pos, dst.device)] = src
