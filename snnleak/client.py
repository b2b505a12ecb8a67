"""What a federated client does: its batch, its local training, its defense, the update it sends.

Everything here is the client's side of the threat model (:mod:`snnleak.threat` is the server's).
The client's random draws (which items it trains on, a stochastic encoder's spikes, a defense's
noise) come from generators of its own (:mod:`snnleak.seeding`), which the server never sees:
:func:`observe` takes the server's copy of the model *as sent*, before the client computes
anything on it, and the copy draws from the server's own generators.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from snnleak import data, layout
from snnleak.defenses import Defense
from snnleak.defenses import apply as apply_defense
from snnleak.errors import ConfigError
from snnleak.gradients import parameter_gradients
from snnleak.local_training import LocalTraining, pseudo_gradient
from snnleak.seeding import derived_seed, trial_rng
from snnleak.threat import Observation, received, server_copy


@dataclass(frozen=True)
class ClientSpec:
    """What the client does with its items, all of it known to the server: its batch size B
    (the update is its mean gradient over B items), its local training (FedAvg; one full-batch
    step is FedSGD) and its defense (:mod:`snnleak.defenses`: ``dp:C:S``, ``topk:F``,
    ``quant:B``). Checked when built."""

    batch: int = 1
    local: LocalTraining = field(default_factory=LocalTraining)
    defense: str = "none"

    def __post_init__(self) -> None:
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"--batch must be a positive integer, got {self.batch!r}")
        Defense.parse(self.defense)

    def local_training(self) -> LocalTraining | None:
        """The client's local training, or None for one full-batch step (FedSGD)."""
        return None if self.local.single_step(self.batch) else self.local


def client_indices(split_size: int, index: int, batch: int, rng: torch.Generator) -> list[int]:
    """Item ``index`` and ``batch - 1`` others of the split, drawn from ``rng``."""
    others = torch.randperm(split_size, generator=rng, device="cpu").tolist()
    return [index, *[j for j in others if j != index][: batch - 1]]


def client_batch(split: data.Split, index: int, batch: int, seed: int):
    """Trial ``index``'s private data: its item and label, or, for ``batch`` > 1, a batch
    ``[B, ...]`` of it and B - 1 other items with their labels."""
    if batch == 1:
        return split[index]
    rng = trial_rng(seed, index, "batch")
    return items_of(split, client_indices(len(split), index, batch, rng))


def items_of(split: data.Split, picks: list[int]):
    """The items ``picks`` of ``split`` as a client's batch: ``([B, ...], labels)``."""
    pairs = [split[j] for j in picks]
    return layout.stack([x for x, _ in pairs], split.info.modality), [y for _, y in pairs]


def own_generators(model: nn.Module, rng: torch.Generator) -> nn.Module:
    """In place: every random generator a module of ``model`` holds (a stochastic encoder's)
    replaced by one seeded from ``rng``, the client's own."""
    for m in model.modules():
        for name, value in list(vars(m).items()):
            if isinstance(value, torch.Generator):
                seed = derived_seed(rng)
                setattr(m, name, torch.Generator(device=value.device).manual_seed(seed))
    return model


def sent_update(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    modality: str,
    defense: Defense | None = None,
    rng: torch.Generator | None = None,
    local: LocalTraining | None = None,
) -> list[torch.Tensor]:
    """The update a client sends: its gradient at ``(x, y)`` (FedSGD) or the pseudo-gradient
    ``(w_0 - w_S) / (lr * S)`` of its local steps (FedAvg), after its ``defense`` (whose noise
    comes from ``rng``)."""
    model.train()  # the client trains: surrogate gradients, batch statistics
    if local is None:
        grads = parameter_gradients(model, x, y)
    else:
        grads = list(pseudo_gradient(model, x, y, modality, local))
    if defense is not None and defense.kind != "none":
        if rng is None:
            raise ValueError("a defense that draws noise needs a generator")
        grads = list(apply_defense(defense, grads, rng))
    return grads


def observe(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    modality: str,
    defense: Defense | None = None,
    rng: torch.Generator | None = None,
    local: LocalTraining | None = None,
) -> Observation:
    """One round seen from both sides: the server keeps its copy of ``model`` as sent, the
    client computes its update on the private batch ``(x, y)`` (``[B, C, H, W]``, or
    ``[T, B, C, H, W]`` for events) after its ``defense``, and the server receives it."""
    as_sent = server_copy(model)  # before the client's forward touches a buffer
    update = sent_update(model, x, y, modality, defense, rng, local)
    shape = layout.item_shape(x, modality)
    return received(as_sent, update, int(y.shape[0]), shape, modality, local, copied=True)
