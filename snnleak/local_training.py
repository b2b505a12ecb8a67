r"""A client's local training, as a pure function of the global weights: FedSGD and FedAvg.

The client starts from the global weights :math:`w_0`, runs ``epochs`` passes of plain SGD
(learning rate :math:`\eta`) over its B items in mini-batches of ``batch`` items, in order,
and sends :math:`\Delta = w_0 - w_S` after :math:`S` steps. The server knows these
hyperparameters (they are the federation's), not the data. snnleak hands an attack the update
as a pseudo-gradient :math:`\Delta / (\eta S)`, which for one full-batch step is exactly the
gradient (FedSGD). Two ways to attack a multi-step update:

- ``approx``: treat :math:`\Delta/(\eta S)` as one gradient at :math:`w_0` and match it as DLG
  does (cheap; biased as the local model drifts).
- ``simulate``: run the same S local steps on the dummy data, differentiably
  (:func:`local_weights` with ``create_graph``), and match the simulated pseudo-gradient to the
  observed one (exact model of the client; each step is one more level of the graph).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from snnleak import layout
from snnleak.errors import ConfigError

UPDATE_ATTACKS = ("simulate", "approx")


@dataclass(frozen=True)
class LocalTraining:
    epochs: int = 1
    batch: int = 0  # mini-batch size; 0: all the client's items in one batch
    lr: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"--local-epochs must be a positive integer, got {self.epochs!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 0:
            raise ConfigError(f"--local-batch must be 0 (all) or positive, got {self.batch!r}")
        if not (isinstance(self.lr, int | float) and self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--local-lr must be a positive number, got {self.lr!r}")

    def mini_batch(self, items: int) -> int:
        return items if self.batch == 0 else min(self.batch, items)

    def steps(self, items: int) -> int:
        return self.epochs * math.ceil(items / self.mini_batch(items))

    def single_step(self, items: int) -> bool:
        """One full-batch step: the update is the gradient itself (FedSGD)."""
        return self.steps(items) == 1


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if target.dtype in (torch.int64, torch.int32):
        return F.cross_entropy(logits, target)
    return torch.sum(-target * F.log_softmax(logits, -1), -1).mean()


def local_weights(
    model: nn.Module,
    weights: list[torch.Tensor],
    x: torch.Tensor,
    target: torch.Tensor,
    modality: str,
    cfg: LocalTraining,
    create_graph: bool = False,
) -> list[torch.Tensor]:
    """The weights after the client's local steps from ``weights`` on ``(x, target)``
    (hard labels ``[B]`` or probabilities ``[B, K]``)."""
    names = [n for n, _ in model.named_parameters()]
    axis = layout.batch_axis(modality)
    items = x.shape[axis]
    size = cfg.mini_batch(items)
    w = list(weights)
    for _ in range(cfg.epochs):
        for start in range(0, items, size):
            xb = x.narrow(axis, start, min(size, items - start))
            tb = target[start : start + size]
            logits = functional_call(model, dict(zip(names, w, strict=True)), (xb,))
            grads = torch.autograd.grad(_loss(logits, tb), w, create_graph=create_graph)
            w = [wi - cfg.lr * gi for wi, gi in zip(w, grads, strict=True)]
    return w


def pseudo_gradient(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    modality: str,
    cfg: LocalTraining,
    create_graph: bool = False,
) -> tuple[torch.Tensor, ...]:
    """``(w_0 - w_S) / (lr * S)``: the update a FedAvg client sends, on the gradient's scale."""
    w0 = [p if create_graph else p.detach().requires_grad_(True) for p in model.parameters()]
    items = x.shape[layout.batch_axis(modality)]
    scale = cfg.lr * cfg.steps(items)
    w = local_weights(model, w0, x, target, modality, cfg, create_graph)
    out = tuple((a - b) / scale for a, b in zip(w0, w, strict=True))
    return out if create_graph else tuple(t.detach() for t in out)
