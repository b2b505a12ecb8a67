r"""GRNN (Ren et al., 2022): a generator trained per target to reproduce the observed gradient.

A fixed noise vector feeds two branches: an image branch (linear, then two upsampling
convolutions) and a label branch (linear + softmax). The generator's weights are trained with
RMSprop (lr 1e-4, momentum 0.99, 1000 iterations) to minimise

.. math::
    \mathcal{L} = \sum_l \lVert \nabla_{W_l} L(G_x(z), G_y(z)) - \nabla_{W_l} L(x, y)\rVert^2
                 + \mathrm{WD}(\nabla', \nabla) + \lambda_{TV}\,\mathrm{TV}(G_x(z)).

``wasserstein="sorted"`` (the default) is the Wasserstein-2 distance between the empirical
distributions of the two flattened gradients, :math:`\sqrt{\mathrm{mean}((\mathrm{sort}\,a -
\mathrm{sort}\,b)^2)}`: the distributional distance the GRNN paper describes.
``"original"`` reproduces the published code, whose "Wasserstein" term is
:math:`\lVert a - b \rVert_2`, an unsquared copy of the first term. For spiking victims on images
the generated image is replicated over T by the model; on events the image branch emits T
frames (non-negative, through a softplus).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from snnleak.attacks import thresholding
from snnleak.attacks.config import GRNNConfig
from snnleak.attacks.threat import Observation, Reconstruction
from snnleak.errors import ConfigError
from snnleak.gradients import dummy_gradients, gradient_distance


class Generator(nn.Module):
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
        if self.events:  # [B, T*C, H, W] -> [T, B, C, H, W], non-negative counts
            t = self.item_shape[0]
            x = F.softplus(h).view(b, t, *self.item_shape[1:]).transpose(0, 1)
        else:
            x = torch.sigmoid(h)
        return x, torch.softmax(self.label(z), -1)


def wasserstein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """W2 between the empirical distributions of the values of ``a`` and ``b`` (same size)."""
    return torch.sqrt(((torch.sort(a).values - torch.sort(b).values) ** 2).mean() + 1e-30)


def original_wasserstein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """What the published GRNN code computes under that name: ||a - b||_2."""
    return torch.sqrt(((a - b) ** 2).sum() + 1e-30)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """GRNN's TV: 2 (mean squared vertical + horizontal differences) / batch."""
    x = x.reshape(-1, *x.shape[-3:]) if x.dim() > 4 else x
    b = x.shape[0]
    h_tv = ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum() / x[:, :, 1:, :][0].numel()
    w_tv = ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum() / x[:, :, :, 1:][0].numel()
    return 2 * (h_tv + w_tv) / b


class GRNN:
    name = "grnn"

    def __init__(self, config: GRNNConfig) -> None:
        if config.threshold is not None and config.threshold.mode == "in":
            raise ConfigError(
                "GRNN generates its input through a network, so in-optimisation thresholding "
                "(--threshold-mode in) does not apply; use --threshold-mode post"
            )
        self.config = config

    def reconstruct(self, obs: Observation, generator: torch.Generator) -> Reconstruction:
        cfg = self.config
        dtype = obs.gradients[0].dtype
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            gen = (
                Generator(obs.input_shape, obs.num_classes, cfg.noise_dim, obs.modality == "events")
                .to(dtype)
                .train()
            )
        z = torch.randn(obs.batch_size, cfg.noise_dim, generator=generator, dtype=dtype)
        opt = torch.optim.RMSprop(gen.parameters(), lr=cfg.lr, momentum=cfg.momentum)
        true = list(obs.gradients)
        flat_true = torch.cat([g.reshape(-1) for g in true])
        wd = wasserstein if cfg.wasserstein == "sorted" else original_wasserstein
        x, probs = gen(z)
        result = Reconstruction(x.detach().clone(), probs.detach().argmax(-1))
        for step in range(cfg.iterations):
            opt.zero_grad(set_to_none=True)
            x, probs = gen(z)
            dummy = dummy_gradients(obs.model, x, probs)
            flat = torch.cat([g.reshape(-1) for g in dummy])
            loss = (
                gradient_distance(dummy, true)
                + wd(flat, flat_true)
                + cfg.tv_weight * total_variation(x)
            )
            value = float(loss.detach())
            if not math.isfinite(value):
                result.diverged = True
                break
            result.x, result.label = x.detach().clone(), probs.detach().argmax(-1)
            result.losses.append(value)
            result.steps = step + 1
            params = [p for p in gen.parameters()]
            for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
                p.grad = g
            opt.step()
        result.x = thresholding.after_optimisation(result.x, cfg.threshold)
        return result
