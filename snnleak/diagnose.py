"""Landscape diagnostics of the matching loss: why descent does or does not reach the truth.

**This is evaluation that uses the ground truth, outside any attacker.** No attack may call
it. For each item, with the victim's observed gradient, the iDLG label, the attack's grey start
:math:`x_0` and the truth :math:`x^*`, and :math:`L` the matching loss on the victim:

- the loss along the segment :math:`x_0 + f (x^* - x_0)` for ``FRACTIONS`` f, divided by
  :math:`L(x_0)`;
- the cosine between the descent direction :math:`-\\nabla L(x_0)` and :math:`x^* - x_0`;
- the loss at :math:`x^* + N(0, \\sigma^2)` for ``SIGMAS``, divided by :math:`L(x_0)`.

Medians over the items go into a table; the segment curves of the ANN and the SNN into one
figure.

:func:`basin` measures how close an attack must get before the exact victim finishes the job:
from the truth plus N(0, sigma^2) noise (clamped into [0, 1]) for ``BASIN_SIGMAS``, the polish
every adaptive attack ends with (strong-Wolfe L-BFGS on the victim's matching loss,
:func:`snnleak.attacks.proxy.stage_rows`); the fraction of items it recovers exactly (SSIM >=
``EXACT``), with the median SSIM at the start and at the end.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from snnleak import data, layout, metrics
from snnleak.attacks.config import spec_of
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.gradients import matching_loss
from snnleak.reporting import model_name
from snnleak.seeding import trial_rng
from snnleak.trials.loop import sample_order
from snnleak.trials.runner import observe_trial

FRACTIONS = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0)
SIGMAS = (1e-3, 1e-2, 1e-1)
BASIN_SIGMAS = (0.01, 0.03, 0.1, 0.3)
EXACT = 0.99  # the SSIM from which a reconstruction counts as the item itself


@dataclass(frozen=True)
class Landscape:
    model: str
    segment: tuple[float, ...]  # median L / L(x0) at FRACTIONS
    cosine: float  # median cos(-grad L(x0), x* - x0)
    noise: tuple[float, ...]  # median L(x* + noise) / L(x0) at SIGMAS
    items: int


def _victims(model: str, dataset: str, samples: int, seed: int, timesteps: int, split: str):
    """(item, label, observation) of the first ``samples`` items, each its own victim."""
    spec = spec_of("idlg", model, dataset, timesteps=timesteps, split=split)
    items = data.load(dataset, split)
    for i in sample_order(len(items), seed)[:samples]:
        x, y = items[i]
        yield i, x, observe_trial(spec, items, i, seed, item=(x, y))


def landscape(
    model: str, dataset: str, samples: int, seed: int = 0, timesteps: int = 20, split="train"
) -> Landscape:
    segments, cosines, noises = [], [], []
    for i, x, obs in _victims(model, dataset, samples, seed, timesteps, split):
        true, label = list(obs.gradients), infer_label(obs)
        x0 = initial_dummy(obs, trial_rng(seed, i, "attack"))
        truth = layout.as_batch(x, obs.modality).to(x0.dtype)

        def loss(z: torch.Tensor, obs=obs, label=label, true=true) -> float:
            return float(matching_loss(obs.model, z, label, true).detach())

        start = loss(x0)
        segments.append([loss(x0 + f * (truth - x0)) / start for f in FRACTIONS])
        z = x0.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(matching_loss(obs.model, z, label, true), [z])
        direction = (truth - x0).reshape(-1)
        cos = torch.nn.functional.cosine_similarity(-grad.reshape(-1), direction, dim=0)
        cosines.append(float(cos))
        noise_gen = trial_rng(seed, i, "diagnose-noise")
        noises.append(
            [
                loss(truth + s * torch.randn(truth.shape, generator=noise_gen, dtype=truth.dtype))
                / start
                for s in SIGMAS
            ]
        )
    return Landscape(
        model,
        tuple(statistics.median(col) for col in zip(*segments, strict=True)),
        statistics.median(cosines),
        tuple(statistics.median(col) for col in zip(*noises, strict=True)),
        len(segments),
    )


@dataclass(frozen=True)
class Basin:
    model: str
    sigmas: tuple[float, ...]
    recovered: tuple[float, ...]  # the fraction of items at SSIM >= EXACT after the polish
    ssim_start: tuple[float, ...]  # median SSIM of the noisy start
    ssim_end: tuple[float, ...]  # median SSIM after the polish
    items: int


def basin(
    model: str,
    dataset: str,
    samples: int,
    seed: int = 0,
    timesteps: int = 20,
    split: str = "train",
    steps: int = 20,
) -> Basin:
    """From the truth plus noise, the fraction of items the exact victim's polish recovers."""
    from snnleak.attacks.proxy import stage_rows
    from snnleak.attacks.victims import stack_victims

    ends: dict[float, list] = {s: [] for s in BASIN_SIGMAS}
    starts: dict[float, list] = {s: [] for s in BASIN_SIGMAS}
    n = 0
    for i, x, obs in _victims(model, dataset, samples, seed, timesteps, split):
        n += 1
        label, victim = infer_label(obs), stack_victims([obs])
        one = torch.ones(1, dtype=torch.bool, device=obs.device)
        truth = layout.as_batch(x, obs.modality).to(obs.gradients[0].dtype)
        rng = trial_rng(seed, i, "diagnose-basin")
        for s in BASIN_SIGMAS:
            noise = torch.randn(truth.shape, generator=rng, dtype=truth.dtype)
            x0 = (truth + s * noise).clamp(0, 1)
            end = stage_rows(victim, x0[None], label[None], steps, 0.0, obs.modality, 20, one)[0]
            starts[s].append(metrics.ssim(x0[0], x))
            ends[s].append(metrics.ssim(end[0].clamp(0, 1), x))
    return Basin(
        model,
        BASIN_SIGMAS,
        tuple(sum(v >= EXACT for v in ends[s]) / max(1, n) for s in BASIN_SIGMAS),
        tuple(statistics.median(starts[s]) for s in BASIN_SIGMAS),
        tuple(statistics.median(ends[s]) for s in BASIN_SIGMAS),
        n,
    )


def basin_markdown(results: list[Basin], dataset: str, timesteps: int) -> str:
    lines = [
        f"**The exact basin on {dataset} (T = {timesteps}): the victim's strong-Wolfe polish from "
        f"the truth + N(0, sigma^2) (uses the ground truth: evaluation, not an attack); "
        f"recovered: SSIM >= {EXACT}**",
        "",
        "| model | n | sigma | SSIM at the start (median) | SSIM after (median) | recovered |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for s, rec, a, b in zip(r.sigmas, r.recovered, r.ssim_start, r.ssim_end, strict=True):
            lines.append(
                f"| {model_name(r.model)} | {r.items} | {s:g} | {a:.2f} | {b:.2f} | "
                f"{100 * rec:.0f}% |"
            )
    return "\n".join(lines) + "\n"


def markdown(results: list[Landscape], dataset: str, timesteps: int) -> str:
    head = (
        "| model | n | cos(-grad L(x0), x* - x0) | "
        + " | ".join(f"L at {f:g}" for f in FRACTIONS[1:])
        + " | "
        + " | ".join(f"L(x* + N(0, {s:g}^2))" for s in SIGMAS)
        + " |"
    )
    lines = [
        f"**Landscape of the matching loss on {dataset} (T = {timesteps}; uses the ground "
        "truth: evaluation, not an attack; losses divided by L(x0), medians)**",
        "",
        head,
        "|" + "---|" * (3 + len(FRACTIONS) - 1 + len(SIGMAS)),
    ]
    for r in results:
        cells = [f"{v:.3g}" for v in r.segment[1:]] + [f"{v:.3g}" for v in r.noise]
        name = model_name(r.model)
        lines.append(f"| {name} | {r.items} | {r.cosine:.3g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(results: list[Landscape], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnleak.io import write_atomic

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for r in results:
        ax.plot(FRACTIONS, r.segment, marker="o", label="LeNet" if r.model == "ann" else "SNN")
    ax.set_xlabel("fraction of the way from the start to the truth")
    ax.set_ylabel("matching loss / loss at start")
    ax.set_yscale("log")
    ax.set_title("Matching loss on the segment (uses the ground truth)", fontsize=9)
    ax.legend()
    out = write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return out
