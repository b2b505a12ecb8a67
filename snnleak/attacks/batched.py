"""K independent DLG/iDLG trials as one batched computation.

Each trial has its own victim (stacked into one :class:`StackedLeNet`), its own observation,
dummy, label and L-BFGS state (one row of :class:`~snnleak.attacks.lbfgs.BatchedLBFGS`, with
or without its strong-Wolfe line search); a round of evaluations runs all trials' matching
losses and their gradients in one forward and two backward passes. Per trial, the algorithm is
:class:`~snnleak.attacks.dlg.GradientInversion`'s, step for step: the same initialisation
draws, loss weights, clamping, thresholding (Algorithm 2's searched projection included:
:func:`~snnleak.attacks.thresholding.projected_search_rows`), and the same iterate bookkeeping
(:class:`~snnleak.attacks.iterates.BatchedTracker`). Nothing in a step loops over trials in
Python: the operations a step dispatches are the same at every K (tested).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from snnleak.attacks import thresholding
from snnleak.attacks.config import DLGConfig
from snnleak.attacks.graphs import graphed
from snnleak.attacks.iterates import BatchedTracker, finish
from snnleak.attacks.lbfgs import BatchedLBFGS
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.rows import take_rows
from snnleak.errors import ConfigError
from snnleak.gradients import layer_weights
from snnleak.models.stacked import StackedLeNet
from snnleak.threat import Observation, Reconstruction


def stack_victims(observations: list[Observation], models: list | None = None):
    """The K victims as one :class:`StackedLeNet`: ``(model, params, true, order)``, with the
    true gradients stacked like ``params`` and ``order[j']`` the stacked index of the solo
    model's j'-th parameter (conv1 w, b, conv2 w, b, ..., fc w, b). ``models`` stand in for
    the observed ones (the attacker's copies of them)."""
    model = StackedLeNet(models or [o.model for o in observations]).train()
    params = model.ordered_parameters()
    n_conv = len(model.conv_w)
    true = [torch.stack([o.gradients[2 * i] for o in observations]) for i in range(n_conv)]
    true += [torch.stack([o.gradients[2 * i + 1] for o in observations]) for i in range(n_conv)]
    true += [
        torch.stack([o.gradients[-2] for o in observations]),
        torch.stack([o.gradients[-1] for o in observations]),
    ]
    order = [j for i in range(n_conv) for j in (i, n_conv + i)] + [2 * n_conv, 2 * n_conv + 1]
    return model, params, true, order


def trial_gradients(
    stack, x: torch.Tensor, target: torch.Tensor, create_graph: bool = True, rows=None
):
    """Each trial's parameter gradient at its dummy, on a :func:`stack_victims` stack, and its
    observed one: ``(grads, true)``, stacked, in the stack's order. ``x``: dummies
    ``[K, B, C, H, W]`` (or events ``[K, T, B, C, H, W]``); ``target``: hard labels ``[K, B]``
    or probabilities ``[K, B, classes]``. With ``rows`` (indices), only those trials: ``x`` and
    ``target`` hold theirs, and so do the results."""
    model, params, true, _ = stack
    if rows is not None:
        params = model.rows(rows)
        true = [take_rows(t, rows) for t in true]
    k = x.shape[0]
    logits = model(x.transpose(0, 1) if x.dim() == 6 else x, params)  # [K, B, O]
    if target.is_floating_point():
        ce = torch.sum(-target * F.log_softmax(logits, -1), -1).mean(1)
    else:
        flat = logits.reshape(-1, logits.shape[-1])
        ce = F.cross_entropy(flat, target.reshape(-1), reduction="none").reshape(k, -1).mean(1)
    return torch.autograd.grad(ce.sum(), params, create_graph=create_graph), true


def stacked_matching_loss(
    stack,
    x: torch.Tensor,
    target: torch.Tensor,
    weights=None,
    create_graph: bool = True,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Every trial's matching loss ``[K]`` (:func:`trial_gradients` for the arguments);
    ``weights[j]``, when given, the ``[K]`` weights of the j-th stacked term
    (:func:`~snnleak.gradients.layer_weights`)."""
    order = stack[3]
    grads, true = trial_gradients(stack, x, target, create_graph, rows)
    terms = [((grads[j] - true[j]) ** 2).sum(tuple(range(1, true[j].dim()))) for j in order]
    if weights is not None:
        terms = [take_rows(weights[j], rows) * term for j, term in zip(order, terms, strict=True)]
    return sum(terms)


def check_alike(observations: list[Observation]) -> None:
    obs0 = observations[0]
    if any(
        o.input_shape != obs0.input_shape or o.batch_size != obs0.batch_size for o in observations
    ):
        raise ConfigError("batched trials must share input shape and batch size")


class BatchedGradientInversion:
    def __init__(self, config: DLGConfig, infer_label: bool) -> None:
        self.config = config
        self.infer_label = infer_label

    def reconstruct(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        cfg, k = self.config, len(observations)
        obs0 = observations[0]
        check_alike(observations)
        model, params, true, order = stack_victims(observations)
        # per trial, in GradientInversion's order of random draws: dummy, then label logits
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
        v_dtype = v.dtype
        nx = math.prod(x_shape)
        labels = torch.stack([infer_label(o) for o in observations]) if self.infer_label else None
        b, classes = obs0.batch_size, obs0.num_classes
        per_trial = [layer_weights(list(o.gradients), cfg.loss_norm) for o in observations]
        # weights[j]: the [K] weights of the j-th stacked term (solo layer order[j'] == j)
        weights = None
        if per_trial[0] is not None:
            weights = [None] * len(order)
            for solo_index, j in enumerate(order):
                weights[j] = torch.tensor(
                    [w[solo_index] for w in per_trial], dtype=v_dtype, device=v.device
                )

        stack = (model, params, true, order)

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

        evaluate = graphed(evaluate, v)
        opt = BatchedLBFGS(v, cfg.lbfgs)
        track = BatchedTracker(k, v.device)
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
        for step in range(cfg.iterations + 1):
            final = step == cfg.iterations
            last = stuck | final  # these rows are only evaluated, as they are reported
            with torch.no_grad():
                x = v[:, :nx]
                measured = x.clone()
                thresholding.before_final(measured, obs0.modality)
                x.copy_(torch.where(last[:, None], measured, x))
            before = v.clone()
            # every row's loss at `before`; the rows not `last` also take their step
            losses = evaluate()[0] if final else opt.step(evaluate, active & ~stuck)
            active = track.observe(losses, state(before), active)
            if final:
                break
            active &= ~stuck
            steps = torch.where(active, step + 1, steps)
            if not bool(active.any()):
                break
            if searched:  # Algorithm 2 under a line search: a fresh L-BFGS from each projection
                found = thresholding.projected_search_rows(
                    v, before, losses, nx, cfg.threshold.tau, evaluate, active
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
