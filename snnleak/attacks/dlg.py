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

The reconstruction is the iterate with the lowest matching loss: the attacker can evaluate that
loss (it needs no ground truth), and L-BFGS at lr 1 sometimes leaves a converged solution with
one near-singular curvature step. A NaN or infinite loss marks the trial diverged and stops it,
keeping the best finite iterate.
"""

from __future__ import annotations

import math

import torch

from snnleak.attacks import thresholding
from snnleak.attacks.config import DLGConfig
from snnleak.attacks.threat import Observation, Reconstruction
from snnleak.gradients import dummy_gradients, gradient_distance


def infer_label(obs: Observation) -> torch.Tensor:
    """iDLG: the class whose row of the classifier's weight gradient sums lowest."""
    weight_grad = obs.gradients[-2]  # [K, D]: the last linear layer's weight
    return weight_grad.sum(dim=1).argmin().reshape(1).expand(obs.batch_size).clone()


def initial_dummy(obs: Observation, generator: torch.Generator) -> torch.Tensor:
    dtype = obs.gradients[0].dtype
    if obs.modality == "events":
        t, *item = obs.input_shape
        shape = (t, obs.batch_size, *item)
        return torch.randn(shape, generator=generator, dtype=dtype).mul_(0.1).abs_()
    shape = (obs.batch_size, *obs.input_shape)
    return torch.rand(shape, generator=generator, dtype=dtype).mul_(0.1).add_(0.45)


class GradientInversion:
    """DLG (``infer_label=False``) or iDLG (``infer_label=True``)."""

    def __init__(self, config: DLGConfig, infer_label: bool) -> None:
        self.config = config
        self.infer_label = infer_label

    @property
    def name(self) -> str:
        return "idlg" if self.infer_label else "dlg"

    def reconstruct(self, obs: Observation, generator: torch.Generator) -> Reconstruction:
        cfg = self.config
        model, true = obs.model, list(obs.gradients)
        x = initial_dummy(obs, generator).requires_grad_(True)
        if self.infer_label:
            label = infer_label(obs)
            variables = [x]
        else:
            logits = torch.randn(
                obs.batch_size,
                obs.num_classes,
                generator=generator,
                dtype=x.dtype,
                requires_grad=True,
            )
            variables = [x, logits]
        opt = torch.optim.LBFGS(variables, **cfg.lbfgs.kwargs())

        def closure() -> torch.Tensor:
            target = label if self.infer_label else torch.softmax(logits, -1)
            loss = gradient_distance(dummy_gradients(model, x, target), true)
            grads = torch.autograd.grad(loss, variables)
            for v, g in zip(variables, grads, strict=True):
                v.grad = g
            return loss.detach()

        result = Reconstruction(x.detach().clone(), torch.zeros(0, dtype=torch.long))
        best = math.inf
        best_label = None if self.infer_label else logits.detach().clone()
        for step in range(cfg.iterations + 1):
            before = (x.detach().clone(), None if self.infer_label else logits.detach().clone())
            # the last pass only evaluates the final iterate
            loss = float(opt.step(closure) if step < cfg.iterations else closure())
            if not math.isfinite(loss):
                result.diverged = True
                break
            result.losses.append(loss)
            if loss < best:  # `loss` is the loss at `before`, the iterate this step started at
                best, result.x, best_label = loss, before[0], before[1]
            if step == cfg.iterations:
                break
            result.steps = step + 1
            thresholding.after_step(x, obs.modality, cfg.threshold)
        result.x = thresholding.after_optimisation(result.x, cfg.threshold)
        result.label = label if self.infer_label else best_label.argmax(-1)
        return result
