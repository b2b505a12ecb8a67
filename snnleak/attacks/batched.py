"""K independent DLG/iDLG trials as one batched computation.

Each trial has its own victim (stacked into one :class:`StackedLeNet`), its own observation,
dummy, label and L-BFGS state (:class:`TrialLBFGS`); a round of evaluations runs all trials'
matching losses and their gradients in one forward and two backward passes. Per trial, the
algorithm is :class:`~snnleak.attacks.dlg.GradientInversion`'s, step for step: the same
initialisation draws, loss weights, clamping, thresholding, and the same iterate bookkeeping
(:mod:`snnleak.attacks.iterates`). torch's strong-Wolfe line search has no batched form here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from snnleak.attacks import thresholding
from snnleak.attacks.config import DLGConfig
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.lbfgs import TrialLBFGS, run_step
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.errors import ConfigError
from snnleak.gradients import layer_weights
from snnleak.models.stacked import StackedLeNet
from snnleak.threat import Observation, Reconstruction


def stack_victims(observations: list[Observation]):
    """The K victims as one :class:`StackedLeNet`: ``(model, params, true, order)``, with the
    true gradients stacked like ``params`` and ``order[j']`` the stacked index of the solo
    model's j'-th parameter (conv1 w, b, conv2 w, b, ..., fc w, b)."""
    model = StackedLeNet([o.model for o in observations]).train()
    params = model.ordered_parameters()
    n_conv = len(model.conv_w)
    true = [torch.cat([o.gradients[2 * i] for o in observations]) for i in range(n_conv)]
    true += [torch.cat([o.gradients[2 * i + 1] for o in observations]) for i in range(n_conv)]
    true += [
        torch.stack([o.gradients[-2] for o in observations]),
        torch.stack([o.gradients[-1] for o in observations]),
    ]
    order = [j for i in range(n_conv) for j in (i, n_conv + i)] + [2 * n_conv, 2 * n_conv + 1]
    return model, params, true, order


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
        if cfg.lbfgs.line_search != "none":
            raise ConfigError(
                "batched trials use L-BFGS without a line search; run line-search trials with "
                "--batch-trials 1"
            )
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
        events = obs0.modality == "events"
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

        def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
            leaf = v.detach().clone().requires_grad_(True)
            x = leaf[:, :nx].reshape(k, *x_shape)
            if events:  # [K, T, B, ...] -> [T, K, B, ...]
                x = x.transpose(0, 1)
            logits = model(x)  # [K, B, O]
            if self.infer_label:
                ce = (
                    F.cross_entropy(
                        logits.reshape(k * b, classes), labels.reshape(-1), reduction="none"
                    )
                    .reshape(k, b)
                    .mean(1)
                )
            else:
                probs = torch.softmax(leaf[:, nx:].reshape(k, b, classes), -1)
                ce = torch.sum(-probs * F.log_softmax(logits, -1), -1).mean(1)
            grads = torch.autograd.grad(ce.sum(), params, create_graph=True)
            terms = [((grads[j] - true[j]) ** 2).reshape(k, -1).sum(1) for j in order]
            if weights is not None:
                terms = [weights[j] * term for j, term in zip(order, terms, strict=True)]
            dist = sum(terms)
            (dv,) = torch.autograd.grad(dist.sum(), leaf)
            return dist.detach(), dv

        trials = [TrialLBFGS(v[i], cfg.lbfgs) for i in range(k)]
        tracks = [IterateTracker() for _ in range(k)]
        steps = [0] * k
        active = [True] * k

        def state(i: int, row: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = row[:nx].reshape(x_shape).clone()
            if self.infer_label:
                return x, labels[i]
            return x, torch.softmax(row[nx:].reshape(b, classes), -1)

        initial = [state(i, v[i]) for i in range(k)]
        for step in range(cfg.iterations + 1):
            if step == cfg.iterations:  # the final iterates are measured as reported
                thresholding.before_final(v[:, :nx], obs0.modality)
            before = v.clone()
            if step < cfg.iterations:
                losses = run_step(trials, active, evaluate)
            else:  # the last pass only evaluates the final iterates
                losses = [float(x) for x in evaluate()[0]]
            for i in range(k):
                if not active[i]:
                    continue
                if not tracks[i].observe(losses[i], state(i, before[i])):
                    active[i] = False
                    continue
                if step < cfg.iterations:
                    steps[i] = step + 1
            if step == cfg.iterations or not any(active):
                break
            for i in range(k):
                if active[i]:
                    thresholding.after_step(v[i, :nx], obs0.modality, cfg.threshold, cfg.clamp)
        return [
            finish(tracks[i], steps[i], cfg.threshold, initial[i], obs0.modality) for i in range(k)
        ]
