r"""Inverting Gradients (Geiping et al., 2020): cosine matching, a TV prior, signed Adam, restarts.

.. math::
    \min_{x \in [0,1]} 1 - \frac{\langle \nabla_W \ell(f(x), y), g\rangle}
    {\lVert \nabla_W \ell(f(x), y)\rVert\,\lVert g\rVert} + \lambda\,\mathrm{TV}(x)

over all parameters as one vector, with the label from the iDLG rule. Adam (lr 0.1) steps on the
**sign** of the input gradient, the learning rate cut tenfold at 3/8, 5/8 and 7/8 of the run;
images are boxed to [0, 1]. ``restarts`` independent starts; the one kept is the one with the
lowest final objective, which the attacker can evaluate. ``on`` chooses the model the
attacker differentiates: the victim as observed (``"victim"``, the published attack) or the
attacker's smooth copy at ``alpha`` (``"proxy"``, see :mod:`snnleak.attacks.proxy`). The
reconstruction's losses are the plain matching loss on the victim at each restart's start and
end, so records measure every attack on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snnleak.attacks.config import Thresholding
from snnleak.attacks.graphs import graphed_call
from snnleak.attacks.iterates import TrialsTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.proxy import smooth_copy, spiking_neurons, trial_tv
from snnleak.attacks.rows import where_rows
from snnleak.attacks.victims import (
    check_alike,
    stack_victims,
    stacked_matching_loss,
    trial_gradients,
)
from snnleak.device import on_cpu
from snnleak.errors import ConfigError
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class InvertingConfig:
    adam_steps: int = 200  # Adam steps per restart
    restarts: int = 2
    lr: float = 0.1
    tv: float = 1e-2
    on: str = "victim"  # or "proxy"
    alpha: float = 2.0
    threshold: Thresholding | None = None

    def __post_init__(self) -> None:
        if self.adam_steps < 1 or self.restarts < 1 or not self.lr > 0 or self.tv < 0:
            raise ConfigError("inverting gradients needs adam_steps, restarts >= 1, lr > 0")
        if self.on not in ("victim", "proxy"):
            raise ConfigError(f"inverting gradients runs on 'victim' or 'proxy', not {self.on!r}")


def cosine_rows(stack, x: torch.Tensor, labels: torch.Tensor, observed_norm=None) -> torch.Tensor:
    """Each trial's 1 - cos(its dummy's parameter gradient, its observed one), ``[K]``;
    ``observed_norm``: the observed updates' norms ``[K]``, when the caller keeps them."""
    updates, observed = trial_gradients(stack, x, labels)
    if observed_norm is None:
        observed_norm = observed.norm(dim=1)
    dot = torch.linalg.vecdot(updates, observed)
    return 1 - dot / (updates.norm(dim=1) * observed_norm + 1e-12)


class InvertingGradients:
    """Inverting Gradients over K trial rows (see the module docstring): each trial keeps its
    victim (or its smooth copy), its restarts' starting dummies (drawn from its own generator,
    restart after restart), its signed-Adam state (Adam is elementwise, so one optimiser over
    the stacked dummies is K independent ones; the trials share the step count and the
    schedule), its objective and its choice of restart. A trial whose objective turns
    non-finite keeps its dummy from then on, as a lone restart stops."""

    name = "ig"

    def __init__(self, config: InvertingConfig = InvertingConfig()) -> None:
        self.config = config

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        return self.reconstruct_trials([obs], [rng])[0]

    def reconstruct_trials(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked on its own, all K as one computation."""
        cfg = self.config
        check_alike(observations)
        obs0, k = observations[0], len(observations)
        victim = stack_victims(observations)
        stack = victim
        if cfg.on == "proxy" and spiking_neurons(obs0.model):
            stack = stack_victims(
                observations, [smooth_copy(o.model, cfg.alpha) for o in observations]
            )
        labels = torch.stack([infer_label(o) for o in observations])
        # every restart's start, drawn from each trial's generator restart after restart
        starts = [
            torch.stack([initial_dummy(o, g) for _ in range(cfg.restarts)])
            for o, g in zip(observations, rngs, strict=True)
        ]
        starts = torch.stack(starts, 1)  # [restarts, K, ...]

        def on_victim(x: torch.Tensor) -> torch.Tensor:
            return stacked_matching_loss(victim, x, labels, create_graph=False).detach()

        observed_norm = stack.observed.norm(dim=1)
        track = TrialsTracker(k, starts.device)
        everyone = torch.ones(k, dtype=torch.bool, device=starts.device)
        track.record(on_victim(starts[0]), (starts[0].clone(), labels), everyone)
        milestones = [round(cfg.adam_steps * f) for f in (3 / 8, 5 / 8, 7 / 8)]
        ends, objectives = [], []
        for restart in range(cfg.restarts):
            x = starts[restart].clone().requires_grad_(True)

            def evaluate(x=x) -> tuple[torch.Tensor, torch.Tensor]:
                leaf = x.detach().clone().requires_grad_(True)
                loss = cosine_rows(stack, leaf, labels, observed_norm) + cfg.tv * trial_tv(leaf)
                (grad,) = torch.autograd.grad(loss.sum(), [leaf])
                return loss.detach(), grad

            if stack.graphable:
                evaluate = graphed_call(evaluate, x)
            opt = torch.optim.Adam([x], lr=cfg.lr)
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
            objective = torch.full((k,), float("inf"), dtype=x.dtype, device=x.device)
            alive = everyone.clone()
            for _ in range(cfg.adam_steps):
                value, grad = evaluate()
                alive &= torch.isfinite(value)
                objective = torch.where(alive, value, objective)
                every = bool(alive.all())  # else a stopped trial keeps its dummy
                before = None if every else x.detach().clone()
                x.grad = grad.sign()
                with on_cpu():  # torch < 2.12 makes Adam's step counter on the default device
                    opt.step()
                sched.step()
                with torch.no_grad():
                    if obs0.modality == "image":
                        x.clamp_(0, 1)
                    if before is not None:
                        x.copy_(where_rows(alive, x, before))
                if not every and not bool(alive.any()):
                    break
            dead = ~torch.isfinite(objective) | ~alive
            objectives.append(torch.where(dead, float("inf"), objective))
            ends.append(x.detach().clone())
        ends, objectives = torch.stack(ends), torch.stack(objectives)  # [R, K, ...], [R, K]
        kept = objectives.argmin(0)  # the first restart of the lowest objective
        rows = torch.arange(k, device=kept.device)
        # the victim loss of each restart's end, the kept one last
        for p in range(cfg.restarts - 1):
            other = p + (p >= kept).long()
            end = ends[other, rows]
            track.record(on_victim(end), (end, labels), everyone)
        best_end = ends[kept, rows]
        track.record(on_victim(best_end), (best_end, labels), everyone)
        out = []
        for i, t in enumerate(track.trackers()):
            t.last = (best_end[i], labels[i])
            steps = cfg.adam_steps * cfg.restarts
            out.append(finish(t, steps, cfg.threshold, t.last, obs0.modality))
        return out
