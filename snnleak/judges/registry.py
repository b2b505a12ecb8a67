"""Which judge serves which dataset (Table II), with its training hyperparameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from snnleak.data import DatasetInfo
from snnleak.errors import ConfigError


@dataclass(frozen=True)
class JudgeSpec:
    arch: str
    # build(info, pretrained): pretrained=False when a checkpoint's weights replace them anyway
    build: Callable[[DatasetInfo, bool], nn.Module]
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float = 0.0


def _lenet(info: DatasetInfo, pretrained: bool = True) -> nn.Module:
    from snnleak.judges.lenet5 import LeNet5Judge

    return LeNet5Judge(info.input_shape, info.num_classes)


def _arcface(info: DatasetInfo, pretrained: bool = True) -> nn.Module:
    from snnleak.judges.arcface import ResNet50ArcFace

    return ResNet50ArcFace(info.input_shape, info.num_classes, pretrained=pretrained)


def _dvs(width: int) -> Callable[[DatasetInfo], nn.Module]:
    def build(info: DatasetInfo, pretrained: bool = True) -> nn.Module:
        from snnleak.judges.dvs_snn import DVSGestureSNN

        return DVSGestureSNN(info.input_shape, info.num_classes, width=width, backend="fused")

    return build


LENET = JudgeSpec("lenet5", _lenet, epochs=15, lr=2e-3, batch_size=64)
JUDGES: dict[str, JudgeSpec] = {
    "mnist": LENET,
    "mnist-5k": LENET,
    "digits": LENET,
    "cifar100": JudgeSpec("lenet5", _lenet, epochs=30, lr=1e-3, batch_size=64),
    "patches": JudgeSpec("lenet5", _lenet, epochs=30, lr=2e-3, batch_size=32),
    "lfw": JudgeSpec("resnet50-arcface", _arcface, epochs=20, lr=1e-3, batch_size=64),
    "lfw-subset": JudgeSpec("resnet50-arcface", _arcface, epochs=8, lr=1e-3, batch_size=32),
    "dvsgesture": JudgeSpec("dvsgesture-snn-w64", _dvs(64), epochs=30, lr=1e-3, batch_size=16),
    "dvs-synth": JudgeSpec("dvsgesture-snn-w8", _dvs(8), epochs=12, lr=3e-3, batch_size=16),
}


def judge_spec(dataset: str) -> JudgeSpec:
    try:
        return JUDGES[dataset]
    except KeyError:
        raise ConfigError(
            f"no judge for dataset {dataset!r}; judges exist for: {', '.join(JUDGES)}"
        ) from None


def to_model_input(x: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    """A DataLoader batch ``[B, ...]`` -> the judge's input (time first for event data)."""
    return x.transpose(0, 1) if info.modality == "events" else x


def logits(model: nn.Module, x: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    return model(to_model_input(x, info))
