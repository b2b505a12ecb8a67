"""Neuron parameters: one frozen, validated record shared by every backend."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from snnleak.errors import ConfigError

NeuronKind = Literal["if", "lif"]


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of a multi-step IF/LIF neuron with the ATan surrogate.

    Attributes:
        kind: ``"if"`` (integrate-and-fire) or ``"lif"`` (leaky integrate-and-fire).
        tau: LIF membrane time constant in steps (> 1). Ignored for IF.
        v_threshold: firing threshold theta.
        v_reset: reset potential Vr for a hard reset, or ``None`` for a soft reset
            (subtract theta on a spike).
        decay_input: LIF only: whether the input is divided by tau.
        detach_reset: treat the spike as a constant inside the reset (no gradient through it).
        alpha: surrogate sharpness; the ATan derivative at threshold is alpha / 2.
        surrogate: the surrogate family (``snnleak.neurons.surrogate.SURROGATES``): ``atan``
            (the paper's; every backend), or ``sigmoid``, ``fast_sigmoid`` (SuperSpike),
            ``triangle`` (the reference backend only).
        smooth: use the smooth primitive atan(pi*alpha*x/2)/pi + 1/2 instead of the Heaviside
            in the forward pass (SpikingJelly's ``spiking=False``): for finite-difference checks.
    """

    kind: NeuronKind = "if"
    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True
    detach_reset: bool = False
    alpha: float = 2.0
    smooth: bool = False
    surrogate: str = "atan"

    def __post_init__(self) -> None:
        if self.kind not in ("if", "lif"):
            raise ConfigError(f"neuron kind must be 'if' or 'lif', got {self.kind!r}")
        for name in ("tau", "v_threshold", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be finite, got {value!r}")
        if self.v_reset is not None and (
            isinstance(self.v_reset, bool)
            or not isinstance(self.v_reset, (int, float))
            or not math.isfinite(self.v_reset)
        ):
            raise ConfigError(
                f"v_reset must be a finite number (hard reset) or None (soft reset), "
                f"got {self.v_reset!r}"
            )
        if self.kind == "lif" and not self.tau > 1.0:
            raise ConfigError(f"LIF needs tau > 1 (the leak is 1 - 1/tau), got tau={self.tau}")
        if not self.alpha > 0:
            raise ConfigError(f"the ATan surrogate needs alpha > 0, got alpha={self.alpha}")
        rest = 0.0 if self.v_reset is None else self.v_reset
        if not self.v_threshold > rest:
            raise ConfigError(
                f"v_threshold ({self.v_threshold}) must be above the resting/reset potential "
                f"({rest}), otherwise the neuron fires at rest; raise v_threshold or lower v_reset"
            )
        from snnleak.neurons.surrogate import SURROGATES

        if self.surrogate not in SURROGATES:
            raise ConfigError(
                f"unknown surrogate {self.surrogate!r}; choose one of: {', '.join(SURROGATES)}"
            )
        for name in ("decay_input", "detach_reset", "smooth"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        # normalise ints to floats so equal configurations compare and hash equal
        object.__setattr__(self, "tau", float(self.tau))
        object.__setattr__(self, "v_threshold", float(self.v_threshold))
        object.__setattr__(self, "alpha", float(self.alpha))
        if self.v_reset is not None:
            object.__setattr__(self, "v_reset", float(self.v_reset))

    @property
    def hard_reset(self) -> bool:
        return self.v_reset is not None

    @property
    def v_rest(self) -> float:
        """Initial membrane potential and the Vr used in the LIF charge (0 for a soft reset)."""
        return 0.0 if self.v_reset is None else self.v_reset

    @property
    def k(self) -> float:
        """dH_t / dV_{t-1}: 1 for IF, 1 - 1/tau for LIF."""
        return 1.0 if self.kind == "if" else 1.0 - 1.0 / self.tau

    @property
    def c(self) -> float:
        """dH_t / dX_t: 1/tau for LIF with decay_input, else 1."""
        return 1.0 / self.tau if (self.kind == "lif" and self.decay_input) else 1.0
