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
finite iterate. The bookkeeping is :mod:`snnleak.attacks.iterates`, shared with the batched
trials and GRNN. ``loss_norm`` weighs the layers of the matching loss
(:func:`~snnleak.gradients.layer_weights`); ``lbfgs.line_search`` passes torch's strong-Wolfe
line search.
"""

from __future__ import annotations

import torch

from snnleak.attacks import thresholding
from snnleak.attacks.config import DLGConfig
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.gradients import dummy_gradients, gradient_distance, layer_weights
from snnleak.local_training import pseudo_gradient
from snnleak.threat import Observation, Reconstruction


def dummy_update(obs: Observation, x: torch.Tensor, target: torch.Tensor, cfg: DLGConfig):
    """The update the dummy data would produce: one gradient (FedSGD, or a multi-step update
    under ``approx``), or the client's local steps run on it (``simulate``)."""
    if obs.local is None or cfg.update_attack == "approx":
        return dummy_gradients(obs.model, x, target)
    return pseudo_gradient(obs.model, x, target, obs.modality, obs.local, create_graph=True)


class GradientInversion:
    """DLG (``infer_label=False``) or iDLG (``infer_label=True``)."""

    def __init__(self, config: DLGConfig, infer_label: bool) -> None:
        self.config = config
        self.infer_label = infer_label

    @property
    def name(self) -> str:
        return "idlg" if self.infer_label else "dlg"

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        cfg = self.config
        true = list(obs.gradients)
        weights = layer_weights(true, cfg.loss_norm)
        x = initial_dummy(obs, rng)
        thresholding.start(x, cfg.threshold)
        x.requires_grad_(True)
        if self.infer_label:
            label = infer_label(obs)
            variables = [x]
        else:
            logits = (
                torch.randn(
                    obs.batch_size,
                    obs.num_classes,
                    generator=rng,
                    dtype=x.dtype,
                    device="cpu",
                )
                .to(obs.device)
                .requires_grad_(True)
            )
            variables = [x, logits]
        opt = torch.optim.LBFGS(variables, **cfg.lbfgs.kwargs())

        def closure() -> torch.Tensor:
            target = label if self.infer_label else torch.softmax(logits, -1)
            loss = gradient_distance(dummy_update(obs, x, target, cfg), true, weights)
            grads = torch.autograd.grad(loss, variables)
            for v, g in zip(variables, grads, strict=True):
                v.grad = g
            return loss.detach()

        def state() -> tuple[torch.Tensor, torch.Tensor]:
            if self.infer_label:
                return x.detach().clone(), label
            return x.detach().clone(), torch.softmax(logits.detach(), -1)

        track, steps, stuck = IterateTracker(), 0, False
        searched = thresholding.searched(cfg.threshold, cfg.lbfgs.line_search)
        for step in range(cfg.iterations + 1):
            last = step == cfg.iterations or stuck
            if last:  # the final iterate is measured as it is reported
                thresholding.before_final(x, obs.modality)
            before = state()
            previous = [v.detach().clone() for v in variables] if searched else None
            # the last pass only evaluates the final iterate
            loss = float(closure() if last else opt.step(closure))
            # `loss` is the loss at `before`, the iterate this step started at
            if not track.observe(loss, before) or last:
                break
            steps = step + 1
            if searched:  # Algorithm 2 under a line search: a fresh L-BFGS from each projection
                stuck = not thresholding.projected_search(
                    variables, previous, loss, cfg.threshold.tau, lambda: (float(closure()), x.grad)
                )
                opt.state.clear()
            else:
                thresholding.after_step(x, obs.modality, cfg.threshold, cfg.clamp)
        return finish(track, steps, cfg.threshold, before, obs.modality)

    def reconstruct_batch(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked as :meth:`reconstruct` would, all together as one batched
        computation (:mod:`snnleak.attacks.batched`): the same per trial up to float rounding."""
        from snnleak.attacks.batched import BatchedGradientInversion

        return BatchedGradientInversion(self.config, self.infer_label).reconstruct(
            observations, rngs
        )
