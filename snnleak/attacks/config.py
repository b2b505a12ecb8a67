"""Typed, frozen attack configurations, validated when built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from snnleak.errors import ConfigError


@dataclass(frozen=True)
class LBFGSConfig:
    """``torch.optim.LBFGS`` settings (DLG's defaults: lr 1, torch's other defaults)."""

    lr: float = 1.0
    max_iter: int = 20
    history_size: int = 100
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9

    def __post_init__(self) -> None:
        if not self.lr > 0 or self.max_iter < 1 or self.history_size < 1:
            raise ConfigError("L-BFGS needs lr > 0, max_iter >= 1 and history_size >= 1")

    def kwargs(self) -> dict:
        return dict(
            lr=self.lr,
            max_iter=self.max_iter,
            history_size=self.history_size,
            tolerance_grad=self.tolerance_grad,
            tolerance_change=self.tolerance_change,
        )


@dataclass(frozen=True)
class Thresholding:
    """Spike-domain binarisation: Algorithm 1 (``post``: once, after the optimisation) or
    Algorithm 2 (``in``: after every optimiser step), at threshold ``tau`` in (0, 1)."""

    tau: float
    mode: Literal["post", "in"] = "post"

    def __post_init__(self) -> None:
        if not 0 < self.tau < 1:
            raise ConfigError(f"--threshold must be in (0, 1), got {self.tau}")
        if self.mode not in ("post", "in"):
            raise ConfigError(f"--threshold-mode must be 'post' or 'in', got {self.mode!r}")


@dataclass(frozen=True)
class DLGConfig:
    iterations: int = 300
    lbfgs: LBFGSConfig = field(default_factory=LBFGSConfig)
    threshold: Thresholding | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")


@dataclass(frozen=True)
class GRNNConfig:
    """GRNN (Ren et al.): RMSprop on a generator; loss = ||dG - dW||^2 + WD + tv * TV."""

    iterations: int = 1000
    lr: float = 1e-4
    momentum: float = 0.99
    tv_weight: float = 1e-3  # the original's value for LeNet
    noise_dim: int = 128
    wasserstein: Literal["true", "original"] = "true"
    threshold: Thresholding | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        if self.wasserstein not in ("true", "original"):
            raise ConfigError("GRNN wasserstein must be 'true' or 'original'")
