r"""DLG (Zhu et al., 2019) and iDLG (Zhao et al., 2020), adapted to spiking victims.

DLG optimises a dummy input :math:`x'` and dummy label logits :math:`\hat y'` jointly with
L-BFGS to minimise :math:`\sum_l \lVert \nabla_{W_l} L(x', \mathrm{softmax}(\hat y')) -
\nabla_{W_l} L(x, y) \rVert^2`. iDLG first reads the label from the classifier's weight gradient
(for cross entropy, :math:`\partial L/\partial W_k = (p_k - y_k) h`, whose row sum is negative
only for the true class when the features h are non-negative, as sigmoid outputs and spikes
are), then optimises :math:`x'` alone against the hard label.

Images start near-uniform grey U(0.45, 0.55) and are clamped to [0, 1] after each step (a
spiking victim replicates them over T); event tensors start at :math:`|N(0, 0.1)|`, shaped
``[T, B, C, H, W]``, unclamped, optionally thresholded (Algorithms 1 and 2).

The reconstruction is the last iterate, as DLG's code returns it; the iterate with the lowest
matching loss rides along (``best_x``): the attacker can evaluate that loss (it needs no ground
truth), and L-BFGS at lr 1 sometimes leaves a converged solution with one near-singular
curvature step. A NaN or infinite loss marks the trial diverged and stops it, keeping the last
finite iterate. The bookkeeping is :mod:`snnleak.attacks.iterates`, shared with GRNN.
``loss_norm`` weighs the layers of the matching loss (:func:`~snnleak.gradients.layer_weights`);
``lbfgs.line_search`` passes torch's strong-Wolfe line search.

The attack is written once, over K trial rows; a single trial is K = 1. Each trial has its own
victim (one :mod:`victim evaluator <snnleak.attacks.victims>` serves them all), observation,
dummy, label and L-BFGS state (one row of :class:`~snnleak.attacks.lbfgs.RowLBFGS`, with or
without its strong-Wolfe line search, which follows torch's ``LBFGS`` row by row); a round of
evaluations is one call of the evaluator. Nothing in a step loops over trials in Python on
stacked victims: the operations a step dispatches are the same at every K (tested). A plain
DLG/iDLG on ``torch.optim.LBFGS`` lives in the tests as the reference every K = 1 run equals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from snnleak.attacks import thresholding
from snnleak.attacks.config import CLAMPS, LOSS_NORMS, LBFGSConfig, Thresholding
from snnleak.attacks.graphs import graphed
from snnleak.attacks.iterates import TrialsTracker, finish
from snnleak.attacks.lbfgs import RowLBFGS
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.rows import take_rows
from snnleak.attacks.victims import (
    check_alike,
    stack_victims,
    stacked_matching_loss,
    update_weights,
)
from snnleak.errors import ConfigError, choose
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class DLGConfig:
    lbfgs_steps: int = 300  # optimiser steps, each up to lbfgs.max_iter evaluations
    lbfgs: LBFGSConfig = field(default_factory=LBFGSConfig)
    threshold: Thresholding | None = None
    loss_norm: str = "global"
    update_attack: str = "simulate"  # a multi-step FedAvg update: simulate, or approx
    clamp: str = "final"  # images into [0, 1]: once at the end, or after every step

    def __post_init__(self) -> None:
        if self.lbfgs_steps < 1:
            raise ConfigError(f"lbfgs_steps must be >= 1, got {self.lbfgs_steps}")
        choose("loss normalisation", self.loss_norm, LOSS_NORMS)
        choose("clamp", self.clamp, CLAMPS)


class GradientInversion:
    """DLG (``infer_label=False``) or iDLG (``infer_label=True``)."""

    def __init__(self, config: DLGConfig, infer_label: bool) -> None:
        self.config = config
        self.infer_label = infer_label

    @property
    def name(self) -> str:
        return "idlg" if self.infer_label else "dlg"

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        return self.reconstruct_trials([obs], [rng])[0]

    def reconstruct_trials(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked on its own, all K as one computation."""
        cfg, k = self.config, len(observations)
        obs0 = observations[0]
        check_alike(observations)
        stack = stack_victims(observations, update_attack=cfg.update_attack)
        # per trial, its generator's draws in this order: dummy, then label logits
        rows, x_shape = [], None
        for obs, g in zip(observations, rngs, strict=True):
            x0 = initial_dummy(obs, g)
            thresholding.start(x0, cfg.threshold)
            x_shape = x0.shape
            parts = [x0.reshape(-1)]
            if not self.infer_label:
                parts.append(
                    torch.randn(
                        obs.batch_size, obs.num_classes, generator=g, dtype=x0.dtype, device="cpu"
                    )
                    .to(x0.device)
                    .reshape(-1)
                )
            rows.append(torch.cat(parts))
        v = torch.stack(rows)  # [K, n]: trial k's flat variables, updated in place
        nx = math.prod(x_shape)
        labels = torch.stack([infer_label(o) for o in observations]) if self.infer_label else None
        b, classes = obs0.batch_size, obs0.num_classes
        weights = update_weights(observations, cfg.loss_norm)

        def evaluate(rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
            """The losses and gradients of the trials ``rows`` (default: all) at ``v``."""
            leaf = take_rows(v, rows).detach().clone().requires_grad_(True)
            n = leaf.shape[0]
            x = leaf[:, :nx].reshape(n, *x_shape)
            if self.infer_label:
                target = take_rows(labels, rows)
            else:
                target = torch.softmax(leaf[:, nx:].reshape(n, b, classes), -1)
            dist = stacked_matching_loss(stack, x, target, weights, rows=rows)
            (dv,) = torch.autograd.grad(dist.sum(), leaf)
            return dist.detach(), dv

        if stack.graphable:
            evaluate = graphed(evaluate, v)
        opt = RowLBFGS(v, cfg.lbfgs)
        track = TrialsTracker(k, v.device)
        steps = torch.zeros(k, dtype=torch.long, device=v.device)
        active = torch.ones(k, dtype=torch.bool, device=v.device)
        searched = thresholding.searched(cfg.threshold, cfg.lbfgs.line_search)

        def state(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = rows[:, :nx].reshape(k, *x_shape).clone()
            if self.infer_label:
                return x, labels
            return x, torch.softmax(rows[:, nx:].reshape(k, b, classes), -1)

        initial = state(v)
        stuck = torch.zeros_like(active)  # Algorithm 2's searches that found nothing lower
        for step in range(cfg.lbfgs_steps + 1):
            final = step == cfg.lbfgs_steps
            last = stuck | final  # these rows are only evaluated, as they are reported
            with torch.no_grad():
                x = v[:, :nx]
                measured = x.clone()
                thresholding.before_final(measured, obs0.modality)
                x.copy_(torch.where(last[:, None], measured, x))
            before = v.clone()
            # every row's loss at `before`; the rows not `last` also take their step
            losses = evaluate()[0] if final else opt.step(evaluate, active & ~stuck)
            active = track.record(losses, state(before), active)
            if final:
                break
            active &= ~stuck
            steps = torch.where(active, step + 1, steps)
            if not bool(active.any()):
                break
            if searched:  # Algorithm 2 under a line search: a fresh L-BFGS from each projection
                found = thresholding.projected_search_rows(
                    v, before, losses, nx, cfg.threshold.level, evaluate, active
                )
                stuck = active & ~found
                opt.reset()
            else:
                with torch.no_grad():
                    moved = x.clone()
                    thresholding.after_step(moved, obs0.modality, cfg.threshold, cfg.clamp)
                    x.copy_(torch.where(active[:, None], moved, x))
        steps = steps.tolist()
        tracks = track.trackers()
        first = [(initial[0][i], initial[1][i]) for i in range(k)]
        return [
            finish(tracks[i], steps[i], cfg.threshold, first[i], obs0.modality) for i in range(k)
        ]
