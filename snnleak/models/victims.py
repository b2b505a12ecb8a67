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
from snnleak.errors import ConfigError, choose
from snnleak.models import plugin
from snnleak.models.lenet import INITS, LeNet
from snnleak.models.lenet_snn import ENCODINGS, LeNet5SNN
from snnleak.neurons import NeuronParams
from snnleak.neurons.surrogate import SURROGATES
from snnleak.seeding import derived_seed

NEURONS = ("if", "lif")  # the SNN victim's neuron (LIF: tau = 2)
SURROGATE_FAMILIES = tuple(SURROGATES)  # ATan everywhere; the others on the reference backend


@dataclass(frozen=True)
class VictimSpec:
    """Everything that makes a trial's victim besides its seed, checked when built. The
    messages name the ``snnleak attack`` option that sets each field."""

    model: str  # "ann", "snn", or a plug-in reference
    backend: str = "fused"
    timesteps: int = 20  # T of the spiking victim on images (event data bring their own T)
    neuron: str = "if"  # IF (the paper's) or LIF
    surrogate_alpha: float = 2.0  # the surrogate's sharpness
    surrogate: str = "atan"  # its family (the others: the reference backend)
    encoding: str = "direct"  # the image code: direct, or poisson (rate coding)
    init: str = "dlg"  # the initial weights: DLG's U(-0.5, 0.5), or torch's
    detach_reset: bool = False  # no gradient through the reset (SpikingJelly's)
    smooth_forward: bool = False  # fires the surrogate's primitive: a smooth control, no SNN
    accelerate: bool = False  # a plug-in's neurons on the fused op where exact

    def __post_init__(self) -> None:
        from snnleak.neurons import BACKENDS

        if self.model not in ("ann", "snn") and ":" not in self.model:
            raise ConfigError(
                f"unknown model {self.model!r}; choose 'ann', 'snn' or your own as "
                "path/to/file.py:factory or package.module:factory"
            )
        choose("backend", self.backend, tuple(BACKENDS))
        choose("--neuron", self.neuron, NEURONS)
        choose("--encoding", self.encoding, ENCODINGS)
        choose("--surrogate", self.surrogate, SURROGATE_FAMILIES)
        choose("--victim-init", self.init, INITS)
        for flag in ("detach_reset", "smooth_forward", "accelerate"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.accelerate and not plugin.is_plugin(self.model):
            raise ConfigError("--accelerate speeds up a plug-in's neurons; ours take --backend")
        if self.surrogate != "atan" and self.backend == "fused" and self.model == "snn":
            raise ConfigError(
                f"the {self.surrogate} surrogate runs on the reference backend only; "
                "pass --backend reference"
            )
        alpha = self.surrogate_alpha
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise ConfigError(f"--surrogate-alpha must be a number, got {alpha!r}")
        if not alpha > 0:
            raise ConfigError(f"--surrogate-alpha must be positive, got {alpha}")
        t = self.timesteps
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise ConfigError(f"--timesteps must be a positive integer, got {t!r}")


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
