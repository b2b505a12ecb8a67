"""The threat model in types: what an honest-but-curious server holds, and what an attack returns.

The server sent the global model, so it knows the architecture and the parameters; it receives
one client update (the per-parameter gradients of the cross-entropy loss at the client's
private batch, or the pseudo-gradient of its local steps) and knows the training
hyperparameters (batch size, T, local training). :func:`received` builds exactly that from the
model *as sent* and the update; an attack's ``reconstruct`` receives only an
:class:`Observation`. What the client does is :mod:`snnleak.client`; the private batch is seen by
:mod:`snnleak.evaluation` alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from snnleak.local_training import LocalTraining

# the seed of the server's own generators: what a model copy draws (a stochastic encoder) is
# the server's, never a continuation of the client's
SERVER_SEED = 0x5E4E4


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
    details: dict = field(default_factory=dict)  # what the attack reports of itself (fit time)

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


def server_copy(model: nn.Module) -> nn.Module:
    """The server's copy of a model it sent: parameters and buffers as they are now, every
    random generator a module holds replaced by one of the server's own (seeded from
    :data:`SERVER_SEED`), so that no copy replays a client's draws."""
    clone = copy.deepcopy(model)
    for m in clone.modules():
        for name, value in list(vars(m).items()):
            if isinstance(value, torch.Generator):
                own = torch.Generator(device=value.device).manual_seed(SERVER_SEED)
                setattr(m, name, own)
    return clone


def received(
    model: nn.Module,
    update: list[torch.Tensor],
    batch_size: int,
    input_shape: tuple[int, ...],
    modality: str,
    local: LocalTraining | None = None,
    *,
    copied: bool = False,
) -> Observation:
    """What a server holds after a round: its copy of the global model as it sent it (taken
    here with :func:`server_copy`, or ``model`` itself when ``copied`` says it is that copy
    already; in train mode, as the client trains) and one client's update (formed from the
    weights the client returned), with the federation's batch size and local-training
    hyperparameters."""
    copy_ = (model if copied else server_copy(model)).train()
    for p in copy_.parameters():
        p.requires_grad_(True)
        p.grad = None
    return Observation(
        model=copy_,
        gradients=tuple(update),
        batch_size=batch_size,
        input_shape=tuple(input_shape),
        num_classes=int(update[-1].shape[0]),  # the last parameter is the classifier's bias
        modality=modality,
        timesteps=getattr(model, "timesteps", None),
        local=local,
    )
