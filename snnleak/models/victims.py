"""Victims: the model a client trains, built fresh for each trial from a :class:`VictimSpec`.

``ann`` is the sigmoid LeNet of DLG; ``snn`` is LeNet5SNN with the spec's neuron (IF or LIF),
surrogate (family and sharpness), reset, forward (spiking, or the surrogate's primitive as a
control), image code, T and backend (event data bring their own T); ``FILE.py:FACTORY`` or
``MODULE:FACTORY`` is your own (:mod:`snnleak.models.plugin`). Weights are drawn on the CPU from
the trial's rng, so a trial's victim is the same on every device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snnleak import layout
from snnleak.accelerate import accelerate
from snnleak.data import DatasetInfo
from snnleak.device import CPU, on_cpu
from snnleak.models import plugin
from snnleak.models.lenet import LeNet
from snnleak.models.lenet_snn import LeNet5SNN
from snnleak.neurons import NeuronParams
from snnleak.seeding import derived_seed


@dataclass(frozen=True)
class VictimSpec:
    """Everything that makes a trial's victim besides its seed (checked by the attack spec
    that carries it, :class:`snnleak.attacks.config.AttackSpec`)."""

    model: str  # "ann", "snn", or a plug-in reference
    backend: str = "fused"
    timesteps: int = 20
    neuron: str = "if"
    surrogate_alpha: float = 2.0
    surrogate: str = "atan"
    encoding: str = "direct"
    init: str = "dlg"
    detach_reset: bool = False
    smooth_forward: bool = False
    accelerate: bool = False  # a plug-in's neurons on the fused op where exact


def accelerated(model: torch.nn.Module, info: DatasetInfo):
    """:func:`~snnleak.accelerate.accelerate` for this dataset's inputs: the copy and the
    line for each neuron."""
    example = torch.zeros(layout.batch_shape(info.input_shape, 1, info.modality))
    return accelerate(model, example=example, batch_axis=layout.batch_axis(info.modality))


def build_victim(
    victim: VictimSpec, info: DatasetInfo, rng: torch.Generator, device: torch.device = CPU
) -> torch.nn.Module:
    """A freshly initialised victim on ``device``, its weights drawn on the CPU from ``rng``."""
    with on_cpu():
        model = _build(victim, info, rng)
    return model.to(device)


def _build(victim: VictimSpec, info: DatasetInfo, rng: torch.Generator) -> torch.nn.Module:
    if plugin.is_plugin(victim.model):
        seed = derived_seed(rng)
        model = plugin.build(
            victim.model, info.input_shape, info.num_classes, victim.timesteps, seed
        )
        model = plugin.check(victim.model, model, info.input_shape, info.num_classes, info.modality)
        return accelerated(model, info)[0] if victim.accelerate else model
    if victim.model == "ann":  # the attack spec has refused event data for the ANN
        return LeNet(info.input_shape, info.num_classes, rng=rng, init=victim.init)
    neuron = NeuronParams(
        kind=victim.neuron,
        alpha=float(victim.surrogate_alpha),
        surrogate=victim.surrogate,
        detach_reset=victim.detach_reset,
        smooth=victim.smooth_forward,
    )
    shape, t = info.input_shape, victim.timesteps
    if info.modality == "events":
        t, *item = info.input_shape
        shape = tuple(item)
    rates = None
    if victim.encoding != "direct":  # the client's own draws, seeded from the victim's rng
        rates = torch.Generator().manual_seed(derived_seed(rng))
    return LeNet5SNN(
        shape,
        info.num_classes,
        t,
        neuron,
        backend=victim.backend,
        rng=rng,
        encoding=victim.encoding,
        rate_rng=rates,
        init=victim.init,
    )
