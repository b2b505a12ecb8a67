r"""ResNet-50 with an ArcFace margin head: the LFW judge.

The backbone is torchvision's ``resnet50`` with its classifier replaced by a 512-d embedding
(Linear + BatchNorm). The ArcFace head (Deng et al., 2019) keeps one unit-norm weight per class;
with :math:`\cos\theta_k = \hat e \cdot \hat W_k`, training uses the additive angular margin on
the true class,

.. math::
    \text{logit}_k = s \cos(\theta_k + m\,[k = y]),

and prediction uses :math:`s\cos\theta_k`. Small inputs are resized to ``INPUT_SIZE`` and grey
images repeated over three channels. ImageNet weights (``IMAGENET1K_V1``) are used when they are
already in the local torch cache; otherwise the backbone starts from scratch, with a warning.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 64
EMBEDDING = 512


def imagenet_weights_path() -> Path:
    """Where torchvision looks for ``ResNet50_Weights.IMAGENET1K_V1`` (the torch hub cache)."""
    from torchvision.models import ResNet50_Weights

    url = ResNet50_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def cached_imagenet_weights():
    """``ResNet50_Weights.IMAGENET1K_V1`` if its file is in the torch hub cache, else None."""
    from torchvision.models import ResNet50_Weights

    return ResNet50_Weights.IMAGENET1K_V1 if imagenet_weights_path().exists() else None


class ArcFaceHead(nn.Module):
    def __init__(self, num_classes: int, dim: int = EMBEDDING, s: float = 30.0, m: float = 0.5):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.xavier_uniform_(self.weight)
        self.s, self.m = s, m

    def forward(self, emb: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.linear(F.normalize(emb), F.normalize(self.weight)).clamp(-1 + 1e-7, 1 - 1e-7)
        if labels is None:
            return self.s * cos
        theta = torch.acos(cos)
        target = torch.cos(theta + self.m)
        # keep the margin monotone where theta + m would pass pi (the usual ArcFace fallback)
        target = torch.where(theta + self.m < math.pi, target, cos - self.m * math.sin(self.m))
        onehot = F.one_hot(labels, cos.shape[1]).bool()
        return self.s * torch.where(onehot, target, cos)


class ResNet50ArcFace(nn.Module):
    def __init__(
        self, in_shape: tuple[int, int, int], num_classes: int, pretrained: bool = True
    ) -> None:
        super().__init__()
        from torchvision.models import resnet50

        weights = cached_imagenet_weights() if pretrained else None
        if pretrained and weights is None:
            warnings.warn(
                "ResNet-50 ImageNet weights are not in the local torch cache; the LFW "
                "judge starts from scratch",
                stacklevel=2,
            )
        self.in_channels = in_shape[0]
        self.init = "imagenet" if weights is not None else "scratch"
        self.backbone = resnet50(weights=weights)
        self.backbone.fc = nn.Sequential(nn.Linear(2048, EMBEDDING), nn.BatchNorm1d(EMBEDDING))
        self.head = ArcFaceHead(num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
            x = F.interpolate(
                x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
            )
        return self.backbone(x)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.embed(x), labels)
