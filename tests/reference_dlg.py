"""The plain DLG / iDLG every K = 1 run of :class:`~snnleak.attacks.dlg.GradientInversion`
must equal in float64: one trial, one model, ``torch.optim.LBFGS``, written for clarity.

The library runs the attack over K trial rows (its own row-wise L-BFGS, a victim evaluator);
this is the attack as the papers state it, with the same draws (dummy, then DLG's label logits),
the same loss weights, clamping, Algorithm 2 (its projection searched under a line search) and
the same iterate bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from snnleak.attacks import thresholding
from snnleak.attacks.dlg import DLGConfig
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.thresholding import HALVINGS, binarise
from snnleak.attacks.victims import dummy_update
from snnleak.gradients import gradient_distance, layer_weights
from snnleak.threat import Observation, Reconstruction


def reference_dlg(
    cfg: DLGConfig, infer: bool, obs: Observation, rng: torch.Generator
) -> Reconstruction:
    true = list(obs.gradients)
    weights = layer_weights(true, cfg.loss_norm)
    x = initial_dummy(obs, rng)
    thresholding.start(x, cfg.threshold)
    x.requires_grad_(True)
    if infer:
        label = infer_label(obs)
        variables = [x]
    else:
        logits = torch.randn(obs.batch_size, obs.num_classes, generator=rng, dtype=x.dtype)
        logits = logits.to(obs.device).requires_grad_(True)
        variables = [x, logits]
    opt = torch.optim.LBFGS(variables, **cfg.lbfgs.kwargs())

    def target() -> torch.Tensor:
        return label if infer else torch.softmax(logits, -1)

    def closure() -> torch.Tensor:
        update = dummy_update(obs, x, target(), cfg.update_attack)
        loss = gradient_distance(update, true, weights)
        for v, g in zip(variables, torch.autograd.grad(loss, variables), strict=True):
            v.grad = g
        return loss.detach()

    def state() -> tuple[torch.Tensor, torch.Tensor]:
        return x.detach().clone(), target().detach().clone()

    track, steps, stuck = IterateTracker(), 0, False
    searched = thresholding.searched(cfg.threshold, cfg.lbfgs.line_search)
    for step in range(cfg.lbfgs_steps + 1):
        last = step == cfg.lbfgs_steps or stuck
        if last:  # the final iterate is measured as it is reported
            thresholding.before_final(x, obs.modality)
        before = state()
        previous = [v.detach().clone() for v in variables] if searched else None
        loss = float(closure() if last else opt.step(closure))  # the loss at `before`
        if not track.record(loss, before) or last:
            break
        steps = step + 1
        if searched:  # a fresh L-BFGS from each projection
            stuck = not projected_search(
                variables, previous, loss, cfg.threshold.level, lambda: (float(closure()), x.grad)
            )
            opt.state.clear()
        else:
            thresholding.after_step(x, obs.modality, cfg.threshold, cfg.clamp)
    return finish(track, steps, cfg.threshold, before, obs.modality)


def projected_search(
    variables: list[torch.Tensor],
    previous: list[torch.Tensor],
    previous_loss: float,
    tau: float,
    evaluate: Callable[[], tuple[float, torch.Tensor]],
    halvings: int = HALVINGS,
) -> bool:
    r"""Algorithm 2's projection, searched. ``variables`` (the dummy, then any free ones such as
    DLG's label logits) hold the optimiser's continuous step from ``previous``, whose dummy is
    binary; in place, they become the first point, of two searches, whose matching loss
    (``evaluate``: the loss at ``variables`` and its gradient to the dummy) is below
    ``previous_loss``.

    1. Along the projection arc (Bertsekas, 1976): the dummy :math:`[\,p + 2^{-k}(x - p) >
       \tau\,]` and the free variables :math:`p + 2^{-k}(v - p)`, k = 0, 1, ..., ``halvings``.
    2. Bit flips by the gradient at ``previous``: flipping entry i of the dummy changes the
       loss by about :math:`g_i (1 - 2 x_i)`; the m entries of most negative change are
       flipped, m halving from all of them down to one.

    When neither finds one, the variables return to ``previous`` and the result is False: no
    point either search tries lowers the loss."""
    steps = [v.detach() - p for v, p in zip(variables, previous, strict=True)]

    def place(point: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for v, p in zip(variables, point, strict=True):
                v.copy_(p)

    def accepted(point: list[torch.Tensor]) -> bool:
        place(point)
        return evaluate()[0] < previous_loss

    for k in range(halvings + 1):
        arc = [p + d * 0.5**k for p, d in zip(previous, steps, strict=True)]
        arc[0] = binarise(arc[0], tau)
        if torch.equal(arc[0], previous[0]):
            break
        if accepted(arc):
            return True
    place(previous)
    binary = previous[0]
    change = (evaluate()[1].detach() * (1 - 2 * binary)).reshape(-1)
    descending = torch.argsort(change, stable=True)[: int((change < 0).sum())]
    m = descending.numel()
    while m >= 1:
        flipped = binary.clone().reshape(-1)
        flipped[descending[:m]] = 1 - flipped[descending[:m]]
        if accepted([flipped.reshape(binary.shape), *previous[1:]]):
            return True
        m //= 2
    place(previous)
    return False
