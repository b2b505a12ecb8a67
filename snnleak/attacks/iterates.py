"""Which iterate an attack reports, and how its optimisation went: one bookkeeping for every
attack (DLG, iDLG, batched trials, GRNN).

An attack evaluates its matching loss :math:`D_s` at iterates :math:`x_0, x_1, \\dots`. The
tracker keeps

- the **last** finite iterate (what DLG's code returns, and the default everywhere),
- the **best** iterate by loss (what an attacker can also pick: it needs no ground truth),
- every finite loss, and whether a non-finite loss stopped the run (diverged).

:func:`convergence` summarises a loss trajectory for the record: initial, final and minimum
loss, final/initial, the loss every ``k`` steps, whether the optimiser **stalled** (made
less than a :data:`STALL_RATIO`-fold reduction: final/initial above 1/2) and whether it
**diverged**: it ended above its start (final/initial above 1), or a non-finite loss stopped it
(``nonfinite``). A diverged run also counts as stalled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from snnleak.attacks import thresholding
from snnleak.attacks.rows import where_rows
from snnleak.threat import Reconstruction

STALL_RATIO = 0.5  # final/initial above this: the optimisation did not get anywhere
TRAJECTORY_POINTS = 20  # about this many losses kept per record


@dataclass
class IterateTracker:
    losses: list[float] = field(default_factory=list)
    last: object = None
    best: object = None
    best_loss: float = math.inf
    diverged: bool = False

    def record(self, loss: float, state: object) -> bool:
        """Record ``loss`` evaluated at ``state``; False (and diverged) if it is not finite."""
        if not math.isfinite(loss):
            self.diverged = True
            return False
        self.losses.append(loss)
        self.last = state
        if loss < self.best_loss:
            self.best_loss, self.best = loss, state
        return True


def convergence(losses: list[float], nonfinite: bool) -> dict:
    """The record's summary of one optimisation (see the module docstring)."""
    diverged = nonfinite
    if not losses:
        return {
            "loss_initial": None,
            "loss_final": None,
            "loss_min": None,
            "loss_ratio": None,
            "loss_every": None,
            "loss_trajectory": [],
            "stalled": None,
            "diverged": diverged,
            "nonfinite": nonfinite,
        }
    every = max(1, math.ceil((len(losses) - 1) / TRAJECTORY_POINTS))
    trajectory = losses[::every]
    if (len(losses) - 1) % every:
        trajectory.append(losses[-1])  # always end on the final loss
    initial, final = losses[0], losses[-1]
    ratio = final / initial if initial > 0 else (0.0 if final == 0 else math.inf)
    return {
        "loss_initial": initial,
        "loss_final": final,
        "loss_min": min(losses),
        "loss_ratio": ratio,
        "loss_every": every,
        "loss_trajectory": trajectory,
        "stalled": ratio > STALL_RATIO if len(losses) > 1 else None,  # None: no optimisation
        "diverged": diverged or ratio > 1,
        "nonfinite": nonfinite,
    }


def finish(
    track: IterateTracker, steps: int, threshold, initial, modality: str = "image"
) -> Reconstruction:
    """The reconstruction from a tracker whose states are ``(x, target)`` (``target``: hard
    labels, or the soft label's probabilities): last and best iterates, images in [0, 1] and
    thresholded by Algorithm 1 where asked (:mod:`snnleak.attacks.thresholding`); ``initial``
    stands in when not even the first loss was finite."""
    last = track.last if track.last is not None else initial
    best = track.best if track.best is not None else last

    def shown(x: torch.Tensor) -> torch.Tensor:
        return thresholding.after_optimisation(thresholding.project(x, modality), threshold)

    return Reconstruction(
        shown(last[0]),
        _hard(last[1]),
        track.losses,
        track.diverged,
        steps,
        best_x=shown(best[0]),
        best_label=_hard(best[1]),
        target=last[1],
    )


def _hard(target: torch.Tensor) -> torch.Tensor:
    return target if not target.is_floating_point() else target.argmax(-1)


class TrialsTracker:
    """:class:`IterateTracker` for K trials at once, on tensors: one :meth:`record` per step
    for every trial, no Python loop over trials; :meth:`trackers` gives the K trackers."""

    def __init__(self, k: int, device: torch.device | str = "cpu") -> None:
        self.k = k
        self.losses: list[torch.Tensor] = []  # [K] per observation
        self.kept: list[torch.Tensor] = []  # [K] bool: the trials that recorded it
        self.diverged = torch.zeros(k, dtype=torch.bool, device=device)
        self.seen = torch.zeros(k, dtype=torch.bool, device=device)
        self.best_loss = torch.full((k,), math.inf, device=device)
        # whether each trial's last recorded state is its best (a solo ``last is best``)
        self.last_was_best = torch.zeros(k, dtype=torch.bool, device=device)
        self.last: tuple[torch.Tensor, ...] | None = None
        self.best: tuple[torch.Tensor, ...] | None = None

    def record(
        self, loss: torch.Tensor, state: tuple[torch.Tensor, ...], active: torch.Tensor
    ) -> torch.Tensor:
        """Record each active trial's ``loss`` at its ``state`` (tensors with a leading K
        axis); returns the trials that go on: active, with a finite loss."""
        loss = loss.detach()
        finite = torch.isfinite(loss)
        kept = active & finite
        self.diverged |= active & ~finite
        self.losses.append(loss)
        self.kept.append(kept.clone())  # the caller may narrow what it gets back
        if self.last is None:
            self.last = tuple(s.clone() for s in state)
            self.best = tuple(s.clone() for s in state)
        better = kept & (loss < self.best_loss.to(loss.dtype))
        self.last = tuple(where_rows(kept, s, a) for s, a in zip(state, self.last, strict=True))
        self.best = tuple(where_rows(better, s, b) for s, b in zip(state, self.best, strict=True))
        self.best_loss = torch.where(better, loss.to(self.best_loss.dtype), self.best_loss)
        self.seen |= kept
        self.last_was_best = torch.where(kept, better, self.last_was_best)
        return kept

    def trackers(self) -> list[IterateTracker]:
        """The K trials' trackers, as K solo runs would have left them."""
        losses = torch.stack(self.losses).double().cpu().tolist() if self.losses else []
        kept = torch.stack(self.kept).cpu().tolist() if self.kept else []
        seen, diverged = self.seen.cpu().tolist(), self.diverged.cpu().tolist()
        best_loss = self.best_loss.double().cpu().tolist()
        out = []
        for i in range(self.k):
            track = IterateTracker(diverged=diverged[i])
            track.losses = [row[i] for row, keep in zip(losses, kept, strict=True) if keep[i]]
            if seen[i]:
                track.last = tuple(s[i] for s in self.last)
                track.best = tuple(s[i] for s in self.best)
                track.best_loss = best_loss[i]
            out.append(track)
        return out
