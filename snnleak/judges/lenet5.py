"""The LeNet judge of MNIST and CIFAR-100 (and their stand-ins): a conventional LeNet-5.

conv 5x5 (C -> 6, padding 2) -> ReLU -> max-pool 2 -> conv 5x5 (6 -> 16) -> ReLU -> max-pool 2
-> FC 120 -> ReLU -> FC 84 -> ReLU -> FC K.
"""

from __future__ import annotations

import torch
from torch import nn


class LeNet5Judge(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        with torch.no_grad():
            probe = torch.zeros(1, c, h, w, device=self.features[0].weight.device)
            n = self.features(probe).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
