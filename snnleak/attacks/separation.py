r"""Each item's last-layer features out of a batch update: the analytic step for B > 1.

For a last layer :math:`o = W h + b` and the mean cross-entropy over a batch of B items with
features :math:`H = [h_1 \dots h_B]^\top` and labels :math:`y`, the update holds

.. math::
    \partial\ell/\partial W = \tfrac1B E^\top H,\qquad \partial\ell/\partial b = \tfrac1B
    E^\top \mathbf 1,\qquad E = \mathrm{softmax}(H W^\top + b) - \mathrm{onehot}(y),

``K x D`` equations in the ``B x D`` unknowns H, with W and b the server's own. The rows of
:math:`\partial\ell/\partial W` span the rows of H, so :math:`H = A V` for the top B right
singular vectors V, and only the ``B x B`` mixing A is unknown: a small smooth least-squares
problem (float64 L-BFGS from the fixed point :math:`H \leftarrow B\,(E^\top)^+
\partial\ell/\partial W`, then from seeded perturbations of it). Two items of one class differ
only through their softmax outputs, which the same equations resolve as far as those outputs
differ: exactly on the SNN-LeNets tested, only approximately on a LeNet whose outputs barely
depend on its input.

The labels' multiset is chosen by the same residual: every class with a negative bias gradient
is in the batch (:mod:`snnleak.attacks.labels`); the other ``B - present`` items may be of any
class. Every such multiset is ranked by the residual of its fixed point, the best
:data:`SOLVED` are solved in full, and the attacker keeps the labels whose features explain the
update best (the right ones do to float rounding). Everything here reads the observation
alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from snnleak.attacks.victims import last_linear
from snnleak.threat import Observation

STARTS = 4  # starts per label multiset: the fixed point, then seeded perturbations of it
ROUNDS = 5  # L-BFGS runs of 500 iterations per start, while each halves the residual
SOLVED = 4  # label multisets solved in full, the best by their fixed point's residual
EXACT = 1e-12  # a relative residual this small explains the update to float rounding


@dataclass(frozen=True)
class Separated:
    features: torch.Tensor  # [B, D], float64
    labels: torch.Tensor  # [B]
    residual: float  # relative: 0 when the features explain the update exactly


def label_sets(bias_grad: torch.Tensor, batch: int) -> list[tuple[int, ...]]:
    """The label multisets of ``batch`` items that hold every class with a negative bias
    gradient (the most negative ``batch`` of them); the other items may be of any class (a
    class the model already favours can show a positive bias gradient though present)."""
    present = torch.nonzero(bias_grad < 0).flatten()
    present = present[torch.argsort(bias_grad[present])][:batch].tolist()
    classes = range(len(bias_grad))
    extra = itertools.combinations_with_replacement(classes, batch - len(present))
    return sorted({tuple(sorted(present + list(e))) for e in extra})


def residual(h, weight, bias, labels, weight_grad, bias_grad) -> torch.Tensor:
    """How far features ``h`` ``[B, D]`` with ``labels`` are from explaining the update, relative
    to its size."""
    e = torch.softmax(h @ weight.T + bias, 1) - F.one_hot(labels, weight.shape[0]).to(h.dtype)
    n = h.shape[0]
    r_w = ((e.T @ h / n - weight_grad) ** 2).sum() / (weight_grad**2).sum()
    return r_w + ((e.sum(0) / n - bias_grad) ** 2).sum() / (bias_grad**2).sum().clamp_min(1e-300)


def _fixed_point(weight, bias, onehot, weight_grad, e: torch.Tensor) -> torch.Tensor:
    """Features from E, then E from the features, 50 times: a start for the least squares."""
    n = len(onehot)
    for _ in range(50):
        h = n * torch.linalg.lstsq(e.T, weight_grad).solution
        e = torch.softmax(h @ weight.T + bias, 1) - onehot
    return h


def _solve(weight, bias, labels, weight_grad, bias_grad, basis, rng) -> tuple[float, torch.Tensor]:
    """The features that explain the update best with these labels, and their residual."""
    n, k = len(labels), weight.shape[0]
    onehot = F.one_hot(labels, k).double()
    best = (float("inf"), None)
    for start in range(STARTS):
        e = torch.full((n, k), 1.0 / k, dtype=torch.float64) - onehot
        if start:  # break the tie between items of one class
            e = e + 0.05 * torch.randn(n, k, generator=rng, dtype=torch.float64)
        h = _fixed_point(weight, bias, onehot, weight_grad, e)
        mix = (h @ basis.T).requires_grad_(True)
        opt = torch.optim.LBFGS(
            [mix],
            max_iter=500,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-15,
            tolerance_change=1e-18,
        )

        def closure(mix=mix) -> torch.Tensor:
            loss = residual(mix @ basis, weight, bias, labels, weight_grad, bias_grad)
            (mix.grad,) = torch.autograd.grad(loss, [mix])
            return loss.detach()

        loss = float("inf")
        for _ in range(ROUNDS):  # L-BFGS restarted while it still gains
            opt.step(closure)
            with torch.no_grad():
                h = mix @ basis
                now = float(residual(h, weight, bias, labels, weight_grad, bias_grad))
            if not now < 0.5 * loss or now < EXACT:
                loss = min(loss, now)
                break
            loss = now
            opt.state.clear()
        if loss < best[0]:
            best = (loss, h)
        if loss < EXACT:
            break
    return best


def _screen(weight, bias, labels, weight_grad, bias_grad) -> float:
    """A label multiset's residual after the fixed point alone: cheap, to order the sets."""
    onehot = F.one_hot(labels, weight.shape[0]).double()
    e = torch.full_like(onehot, 1.0 / weight.shape[0]) - onehot
    h = _fixed_point(weight, bias, onehot, weight_grad, e)
    loss = residual(h, weight, bias, labels, weight_grad, bias_grad)
    return float(loss) if torch.isfinite(loss) else float("inf")


def separate(obs: Observation, seed: int = 0) -> Separated:
    """The batch's features and labels that explain ``obs``'s last-layer update best."""
    layer = last_linear(obs.model)
    weight, bias = (p.detach().double().cpu() for p in (layer.weight, layer.bias))
    weight_grad, bias_grad = (g.detach().double().cpu() for g in obs.gradients[-2:])
    n = obs.batch_size
    _, sv, vh = torch.linalg.svd(weight_grad, full_matrices=False)
    basis = vh[: min(n, int((sv > sv[0] * 1e-9).sum()))]
    none = torch.zeros(n, dtype=torch.long, device="cpu")
    best = Separated(torch.zeros(n, weight.shape[1], dtype=torch.float64), none, float("inf"))
    sets = [torch.tensor(s, dtype=torch.long, device="cpu") for s in label_sets(bias_grad, n)]
    screened = [_screen(weight, bias, y, weight_grad, bias_grad) for y in sets]
    order = sorted(range(len(sets)), key=screened.__getitem__)[:SOLVED]
    for y in (sets[i] for i in order):
        rng = torch.Generator().manual_seed(seed)
        loss, h = _solve(weight, bias, y, weight_grad, bias_grad, basis, rng)
        if loss < best.residual:
            best = Separated(h, y, loss)
        if loss < EXACT:
            break
    return best
