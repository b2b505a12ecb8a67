r"""GRNN (Ren et al., 2022): a generator trained per target to reproduce the observed gradient.

A fixed noise vector feeds two branches: an image branch and a label branch (linear + softmax).
The image branch is, by default, the published generator (``generator="glu"``): a
``ConvTranspose2d(noise, 2*d*2^n, 4)`` + GLU seed of 4x4, then ``n = log2(S) - 3`` upsampling
blocks (nearest x2, 3x3 convolution without bias to twice the channels, batch norm, GLU) halving
the channels from ``d*2^n`` to ``d = 32``, and a last such block to the image channels, then a
sigmoid: three upsampling blocks for S = 32. Sizes that are not a power of two are generated at
the next one (S >= 8) and cropped, top-left. The published ``weight_init`` is applied to the
generator's container modules, where its ``isinstance`` test never matches, so the published
weights are torch's defaults, and so are ours. ``generator="upsample"`` is snnleak's earlier
stand-in (linear seed, two upsampling convolutions). The weights are trained with RMSprop
(lr 1e-4, momentum 0.99, 1000 steps) to minimise

.. math::
    \mathcal{L} = \sum_l \lVert \nabla_{W_l} L(G_x(z), G_y(z)) - \nabla_{W_l} L(x, y)\rVert^2
                 + \mathrm{WD}(\nabla', \nabla) + \lambda_{TV}\,\mathrm{TV}(G_x(z)).

``wasserstein="original"`` (the default, GRNN's own loss) reproduces the published code, whose
"Wasserstein" term is :math:`\lVert a - b \rVert_2`, an unsquared copy of the first term.
``"sorted"`` is the Wasserstein-2 distance between the empirical distributions of the two
flattened gradients, :math:`\sqrt{\mathrm{mean}((\mathrm{sort}\,a - \mathrm{sort}\,b)^2)}`:
the distributional distance the GRNN paper describes. For spiking victims on images
the generated image is replicated over T by the model; on events the image branch emits T
frames (non-negative, through a softplus).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from snnleak.attacks.config import GRNN_GENERATORS, GRNN_WASSERSTEIN, Thresholding
from snnleak.attacks.graphs import graphed_call
from snnleak.attacks.iterates import TrialsTracker, finish
from snnleak.attacks.priors import grnn_total_variation
from snnleak.attacks.rows import where_rows
from snnleak.attacks.victims import check_alike, stack_victims, trial_gradients
from snnleak.device import on_cpu
from snnleak.errors import ConfigError, choose
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class GRNNConfig:
    """GRNN (Ren et al.): RMSprop on a generator; loss = ||dG - dW||^2 + WD + tv * TV."""

    rmsprop_steps: int = 1000  # optimiser steps on the generator, one evaluation each
    lr: float = 1e-4
    momentum: float = 0.99
    tv_weight: float = 1e-3  # the original's value for LeNet
    noise_dim: int = 128
    wasserstein: Literal["original", "sorted"] = "original"
    generator: Literal["glu", "upsample"] = "glu"
    threshold: Thresholding | None = None

    def __post_init__(self) -> None:
        if self.rmsprop_steps < 1:
            raise ConfigError(f"rmsprop_steps must be >= 1, got {self.rmsprop_steps}")
        choose("GRNN wasserstein", self.wasserstein, GRNN_WASSERSTEIN)
        choose("GRNN generator", self.generator, GRNN_GENERATORS)


class GLU(nn.Module):
    """GLU over channels: the first half gated by the sigmoid of the second."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[1] // 2
        return x[:, :half] * torch.sigmoid(x[:, half:])


def _up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(in_channels, 2 * out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(2 * out_channels),
        GLU(),
    )


class GLUGenerator(nn.Module):
    """The published GRNN generator (see the module docstring)."""

    def __init__(
        self,
        item_shape: tuple[int, ...],
        num_classes: int,
        noise_dim: int,
        events: bool,
        width: int = 32,
    ) -> None:
        super().__init__()
        self.item_shape, self.events, self.noise_dim = tuple(item_shape), events, noise_dim
        channels = math.prod(item_shape[:-2])  # C, or T * C for events
        side = max(8, 2 ** math.ceil(math.log2(max(item_shape[-2:]))))
        blocks = int(math.log2(side)) - 3
        self.label = nn.Linear(noise_dim, num_classes)
        self.seed = nn.Sequential(
            nn.ConvTranspose2d(noise_dim, 2 * width * 2**blocks, 4, 1, 0), GLU()
        )
        self.blocks = nn.Sequential(
            *(_up_block(2 ** (n + 1) * width, 2**n * width) for n in reversed(range(blocks)))
        )
        self.out = _up_block(width, channels)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = z.shape[0]
        h = self.out(self.blocks(self.seed(z.view(b, self.noise_dim, 1, 1))))
        h = h[..., : self.item_shape[-2], : self.item_shape[-1]]
        return _to_item(h, self.item_shape, self.events), torch.softmax(self.label(z), -1)


def _to_item(h: torch.Tensor, item_shape: tuple[int, ...], events: bool) -> torch.Tensor:
    """Generator output ``[B, C', H, W]`` -> an image in [0, 1] (sigmoid), or non-negative
    event counts ``[T, B, C, H, W]`` (softplus)."""
    if events:
        b, t = h.shape[0], item_shape[0]
        return F.softplus(h).view(b, t, *item_shape[1:]).transpose(0, 1)
    return torch.sigmoid(h)


GENERATORS = {"glu": GLUGenerator}


class Generator(nn.Module):
    """snnleak's earlier stand-in (``generator="upsample"``)."""

    def __init__(
        self, item_shape: tuple[int, ...], num_classes: int, noise_dim: int, events: bool
    ) -> None:
        super().__init__()
        self.item_shape, self.events = tuple(item_shape), events
        channels = math.prod(item_shape[:-2])  # C, or T * C for events
        h, w = item_shape[-2:]
        self.seed_hw = (math.ceil(h / 4), math.ceil(w / 4))
        self.fc = nn.Sequential(
            nn.Linear(noise_dim, 128 * self.seed_hw[0] * self.seed_hw[1]), nn.LeakyReLU(0.2)
        )
        self.image = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(64, channels, 3, padding=1),
        )
        self.label = nn.Linear(noise_dim, num_classes)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = z.shape[0]
        h = self.image(self.fc(z).view(b, 128, *self.seed_hw))
        h = h[..., : self.item_shape[-2], : self.item_shape[-1]]
        return _to_item(h, self.item_shape, self.events), torch.softmax(self.label(z), -1)


GENERATORS["upsample"] = Generator


def wasserstein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """W2 between the empirical distributions of the values of ``a`` and ``b`` (same size)."""
    return torch.sqrt(((torch.sort(a).values - torch.sort(b).values) ** 2).mean() + 1e-30)


def original_wasserstein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """What the published GRNN code computes under that name: ||a - b||_2."""
    return torch.sqrt(((a - b) ** 2).sum() + 1e-30)


class GRNN:
    name = "grnn"

    def __init__(self, config: GRNNConfig) -> None:
        if config.threshold is not None and config.threshold.mode == "in":
            raise ConfigError(
                "GRNN generates its input through a network, so in-optimisation thresholding "
                "(--threshold-mode in) does not apply; use --threshold-mode post"
            )
        self.config = config

    def generator_and_noise(
        self, obs: Observation, rng: torch.Generator
    ) -> tuple[nn.Module, torch.Tensor]:
        """The trial's generator network and noise, drawn on the CPU from the trial's ``rng``
        (the same on every device, solo or batched) and placed on the observation's device."""
        cfg = self.config
        dtype = obs.gradients[0].dtype
        seed = int(torch.randint(0, 2**62, (1,), generator=rng, device="cpu"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            build = GENERATORS[cfg.generator]
            with on_cpu():
                gen = build(
                    obs.input_shape, obs.num_classes, cfg.noise_dim, obs.modality == "events"
                )
        z = torch.randn(obs.batch_size, cfg.noise_dim, generator=rng, dtype=dtype, device="cpu")
        return gen.to(obs.device, dtype).train(), z.to(obs.device)

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        return self.reconstruct_trials([obs], [rng])[0]

    def reconstruct_trials(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked on its own, all K as one computation: a step runs every
        trial's generator (the K generators' parameters stacked and run with
        ``torch.func.vmap``; batch norm uses each trial's own batch statistics), victim
        update, GRNN loss and gradient to the generators in one pass. RMSprop is elementwise,
        so one optimiser over the stacked parameters is K independent ones; a trial that stops
        (a non-finite loss) keeps its parameters from then on."""
        cfg = self.config
        check_alike(observations)
        obs0, k = observations[0], len(observations)
        stack = stack_victims(observations)
        observed = stack.observed
        pairs = [self.generator_and_noise(o, g) for o, g in zip(observations, rngs, strict=True)]
        nets, zs = [n for n, _ in pairs], [z for _, z in pairs]
        params, buffers = stack_module_state(nets)
        base = copy.deepcopy(nets[0]).to("meta")
        z = torch.stack(zs)

        def one(p, b, noise):
            return functional_call(base, (p, b), (noise,))

        def single(p, b, noise):  # vmap over one trial: the call on its slice
            first = [{n: t[0] for n, t in d.items()} for d in (p, b)]
            return tuple(out.unsqueeze(0) for out in one(*first, noise[0]))

        generate = single if k == 1 else vmap(one, in_dims=(0, 0, 0), randomness="error")
        leaves = list(params.values())
        opt = torch.optim.RMSprop(leaves, lr=cfg.lr, momentum=cfg.momentum)
        if cfg.wasserstein == "sorted":
            sorted_true = torch.sort(observed, dim=1).values

        def losses() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            x, probs = generate(params, buffers, z)  # [K, ...item batch], [K, B, classes]
            updates = trial_gradients(stack, x, probs)[0]
            dist = ((updates - observed) ** 2).sum(1)
            if cfg.wasserstein == "sorted":
                diff = torch.sort(updates, dim=1).values - sorted_true
                wd = torch.sqrt((diff**2).mean(1) + 1e-30)
            else:  # the published code's ||a - b||_2
                wd = torch.sqrt(dist + 1e-30)
            return dist + wd + cfg.tv_weight * grnn_total_variation(x, k), x, probs

        def evaluate() -> tuple[torch.Tensor, ...]:
            """A step's computation: every trial's loss, output and gradients to its generator."""
            loss, x, probs = losses()
            grads = torch.autograd.grad(loss.sum(), leaves)
            return loss.detach(), x.detach(), probs.detach(), *grads

        with torch.no_grad():
            x0, p0 = generate(params, buffers, z)
        track = TrialsTracker(k, x0.device)
        steps = torch.zeros(k, dtype=torch.long, device=x0.device)
        active = torch.ones(k, dtype=torch.bool, device=x0.device)
        if stack.graphable:
            evaluate = graphed_call(evaluate, z)
        for step in range(cfg.rmsprop_steps):
            opt.zero_grad(set_to_none=True)
            loss, x, probs, *grads = evaluate()
            active = track.record(loss, (x.detach().clone(), probs.detach().clone()), active)
            steps = torch.where(active, step + 1, steps)
            if not bool(active.any()):
                break
            kept = (
                None if bool(active.all()) else {n: t.detach().clone() for n, t in params.items()}
            )
            for leaf, g in zip(leaves, grads, strict=True):
                leaf.grad = g
            opt.step()
            if kept is not None:
                with torch.no_grad():  # a stopped trial keeps its parameters
                    for n, t in params.items():
                        t.copy_(where_rows(active, t, kept[n]))
        tracks, steps = track.trackers(), steps.tolist()
        return [
            finish(tracks[i], steps[i], cfg.threshold, (x0[i], p0[i]), obs0.modality)
            for i in range(k)
        ]
