"""Client-side defenses: transforms of the update a client sends, and what they cost in privacy.

A defense is applied by the client to its update before the server sees it, so the attack's
:class:`~snnleak.threat.Observation` holds the transformed gradients and nothing else.
Each is a pure function of the update (and, for noise, a seeded rng):

- ``dp:CLIP:SIGMA``: clip the whole update to L2 norm CLIP, add N(0, (SIGMA * CLIP)^2) to every
  entry (the Gaussian mechanism of DP-FedAvg, applied by the client). Its (epsilon, delta) is
  reported by Opacus's RDP accountant for the rounds the client takes part in.
- ``topk:FRACTION``: keep the FRACTION of entries with the largest magnitude in each tensor,
  zero the rest (DLG's own pruning defense).
- ``quant:BITS``: uniform symmetric quantisation of each tensor to BITS bits (a scale per tensor:
  max |g| / (2^(BITS-1) - 1)).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from snnleak.errors import ConfigError

KINDS = ("none", "dp", "topk", "quant")
SYNTAX = "none, dp:CLIP:SIGMA, topk:FRACTION or quant:BITS"
DEFAULT_DELTA = 1e-5


@dataclass(frozen=True)
class Defense:
    kind: str = "none"
    clip: float = 0.0  # dp: the L2 bound of the whole update
    sigma: float = 0.0  # dp: the noise multiplier (noise std = sigma * clip)
    keep: float = 1.0  # topk: the fraction of entries kept per tensor
    bits: int = 32  # quant: bits per entry

    @classmethod
    def parse(cls, text: str) -> Defense:
        """``none``, ``dp:CLIP:SIGMA``, ``topk:FRACTION`` or ``quant:BITS`` (one clear error)."""
        parts = str(text).strip().lower().split(":")
        kind, args = parts[0], parts[1:]
        bad = ConfigError(f"--defense {text!r}: write {SYNTAX}")
        try:
            if kind == "none" and not args:
                return cls()
            if kind == "dp" and len(args) == 2:
                clip, sigma = float(args[0]), float(args[1])
                if not (clip > 0 and sigma >= 0 and math.isfinite(clip * sigma)):
                    raise ConfigError(f"--defense {text!r}: CLIP must be > 0 and SIGMA >= 0")
                return cls("dp", clip=clip, sigma=sigma)
            if kind == "topk" and len(args) == 1:
                keep = float(args[0])
                if not 0 < keep <= 1:
                    raise ConfigError(f"--defense {text!r}: FRACTION must be in (0, 1]")
                return cls("topk", keep=keep)
            if kind == "quant" and len(args) == 1:
                bits = int(args[0])
                if not 2 <= bits <= 16:
                    raise ConfigError(f"--defense {text!r}: BITS must be 2 to 16")
                return cls("quant", bits=bits)
        except ValueError:
            raise bad from None
        raise bad

    def __str__(self) -> str:
        if self.kind == "dp":
            return f"dp:{self.clip:g}:{self.sigma:g}"
        if self.kind == "topk":
            return f"topk:{self.keep:g}"
        if self.kind == "quant":
            return f"quant:{self.bits}"
        return "none"


def global_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum((g.double() ** 2).sum() for g in grads))


def clip_and_noise(
    grads: Sequence[torch.Tensor], clip: float, sigma: float, rng: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """Scale the update to L2 norm at most ``clip``; add N(0, (sigma * clip)^2) noise, drawn on
    the CPU from ``rng`` (the same noise on every device)."""
    scale = min(1.0, clip / max(float(global_norm(grads)), 1e-30))
    out = []
    for g in grads:
        noise = torch.randn(g.shape, generator=rng, dtype=g.dtype, device="cpu")
        out.append(g * scale + (sigma * clip) * noise.to(g.device))
    return tuple(out)


def top_k(grads: Sequence[torch.Tensor], keep: float) -> tuple[torch.Tensor, ...]:
    """Keep the ``ceil(keep * n)`` largest-magnitude entries of each tensor, zero the rest."""
    out = []
    for g in grads:
        flat = g.reshape(-1)
        k = max(1, math.ceil(keep * flat.numel()))
        kept = torch.zeros_like(flat)
        idx = flat.abs().topk(k).indices
        kept[idx] = flat[idx]
        out.append(kept.view_as(g))
    return tuple(out)


def quantise(grads: Sequence[torch.Tensor], bits: int) -> tuple[torch.Tensor, ...]:
    """Uniform symmetric quantisation of each tensor: ``round(g / s) * s``,
    ``s = max|g| / (2^(bits-1) - 1)``."""
    levels = 2 ** (bits - 1) - 1
    out = []
    for g in grads:
        peak = g.abs().max()
        if float(peak) == 0.0:
            out.append(g.clone())
            continue
        s = peak / levels
        out.append(torch.round(g / s).clamp(-levels, levels) * s)
    return tuple(out)


def apply(
    defense: Defense, grads: Sequence[torch.Tensor], rng: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """The update the client sends under ``defense``."""
    if defense.kind == "dp":
        return clip_and_noise(grads, defense.clip, defense.sigma, rng)
    if defense.kind == "topk":
        return top_k(grads, defense.keep)
    if defense.kind == "quant":
        return quantise(grads, defense.bits)
    return tuple(grads)


def privacy(
    defense: Defense, releases: int = 1, sample_rate: float = 1.0, delta: float = DEFAULT_DELTA
) -> dict | None:
    """(epsilon, delta) of ``releases`` noisy updates of one client (each taking part with
    probability ``sample_rate``), from Opacus's RDP accountant; None for a defense that gives no
    differential-privacy guarantee (and epsilon None, unbounded, for sigma = 0)."""
    if defense.kind != "dp":
        return None
    if defense.sigma == 0:
        return {"epsilon": None, "delta": delta, "releases": releases, "accountant": "no noise"}
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(releases):
        accountant.step(noise_multiplier=defense.sigma, sample_rate=sample_rate)
    with warnings.catch_warnings():  # tiny sigma: the bound sits at the smallest RDP order
        warnings.filterwarnings("ignore", "Optimal order is the smallest alpha", UserWarning)
        epsilon = float(accountant.get_epsilon(delta))
    return {
        "epsilon": epsilon,
        "delta": delta,
        "releases": releases,
        "sample_rate": sample_rate,
        "accountant": "opacus.accountants.RDPAccountant",
    }
