"""The threat model in types: what an honest-but-curious server sees, and what an attack returns.

The server sent the global model, so it knows the architecture and the parameters; it receives
one client update (the per-parameter gradients of the cross-entropy loss at the client's
private batch) and knows the training hyperparameters (batch size, T). ``observe`` builds exactly
that; an attack's ``reconstruct`` receives only an :class:`Observation`. The private sample and
its label are seen by the evaluation alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from snnleak import layout
from snnleak.defenses import Defense
from snnleak.defenses import apply as apply_defense
from snnleak.gradients import parameter_gradients
from snnleak.local_training import LocalTraining, pseudo_gradient


@dataclass(frozen=True)
class Observation:
    model: nn.Module  # the server's copy of the global model (architecture + parameters)
    gradients: tuple[torch.Tensor, ...]  # the client's update, one tensor per parameter
    batch_size: int
    input_shape: tuple[int, ...]  # one item: [C, H, W] (images) or [T, C, H, W] (events)
    num_classes: int
    modality: str  # "image" or "events"
    timesteps: int | None  # T of a spiking model, None for an ANN
    # the client's local training (FedAvg; known to the server): the update is then the
    # pseudo-gradient (w_0 - w_S) / (lr * S), not one gradient. None: FedSGD
    local: LocalTraining | None = None

    @property
    def device(self) -> torch.device:
        """Where the server holds the model and the update (and where the attack runs)."""
        return self.gradients[0].device


@dataclass
class Reconstruction:
    """The last finite iterate (``x``, ``label``: what DLG's code returns) and the iterate with
    the lowest matching loss (``best_x``, ``best_label``), both computable by the attacker."""

    x: torch.Tensor  # [B, C, H, W] images, or [T, B, C, H, W] spike tensors
    label: torch.Tensor  # [B] recovered (DLG, GRNN) or inferred (iDLG) labels
    losses: list[float] = field(default_factory=list)  # the matching loss at each iterate
    diverged: bool = False  # a NaN/inf loss stopped the optimisation (x is the last finite)
    steps: int = 0
    best_x: torch.Tensor | None = None  # None: the same as x
    best_label: torch.Tensor | None = None
    target: torch.Tensor | None = None  # the last iterate's label target (hard or soft)

    @property
    def best(self) -> Reconstruction:
        """The best-by-loss iterate as a reconstruction of its own."""
        return Reconstruction(
            self.x if self.best_x is None else self.best_x,
            self.label if self.best_label is None else self.best_label,
            self.losses,
            self.diverged,
            self.steps,
        )


def sent_update(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    modality: str,
    defense: Defense | None = None,
    generator: torch.Generator | None = None,
    local: LocalTraining | None = None,
) -> list[torch.Tensor]:
    """The update a client sends: its gradient at ``(x, y)`` (FedSGD) or the pseudo-gradient
    ``(w_0 - w_S) / (lr * S)`` of its local steps (FedAvg), after its ``defense``."""
    model.train()  # the client trains: surrogate gradients, batch statistics
    if local is None:
        grads = parameter_gradients(model, x, y)
    else:
        grads = list(pseudo_gradient(model, x, y, modality, local))
    if defense is not None and defense.kind != "none":
        if generator is None:
            raise ValueError("a defense that draws noise needs a generator")
        grads = list(apply_defense(defense, grads, generator))
    return grads


def observe(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    modality: str,
    defense: Defense | None = None,
    generator: torch.Generator | None = None,
    local: LocalTraining | None = None,
) -> Observation:
    """What the server sees of one client update computed at the private batch ``(x, y)``,
    after the client's ``defense`` (drawing any noise from ``generator``).

    ``x`` is a batch of items (``[B, C, H, W]``, or ``[T, B, C, H, W]`` for events).
    """
    grads = sent_update(model, x, y, modality, defense, generator, local)
    shape = layout.item_shape(x, modality)
    return received(model, grads, int(y.shape[0]), shape, modality, local)


def received(
    model: nn.Module,
    update: list[torch.Tensor],
    batch_size: int,
    input_shape: tuple[int, ...],
    modality: str,
    local: LocalTraining | None = None,
) -> Observation:
    """What a server holds after a round: its copy of the global model it sent and one
    client's update (formed from the weights the client returned), with the federation's
    batch size and local-training hyperparameters."""
    server_copy = copy.deepcopy(model).train()
    for m in server_copy.modules():  # a stochastic encoder: the server never sees the draw
        if hasattr(m, "redraw"):
            m.redraw()
    for p in server_copy.parameters():
        p.requires_grad_(True)
        p.grad = None
    return Observation(
        model=server_copy,
        gradients=tuple(update),
        batch_size=batch_size,
        input_shape=tuple(input_shape),
        num_classes=int(update[-1].shape[0]),  # the last parameter is the classifier's bias
        modality=modality,
        timesteps=getattr(model, "timesteps", None),
        local=local,
    )
