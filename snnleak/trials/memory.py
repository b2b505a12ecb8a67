"""An upper estimate of the memory one attack step needs, checked before any work."""

from __future__ import annotations

import os
from pathlib import Path

from snnleak import data
from snnleak.attacks.config import AttackSpec
from snnleak.errors import ConfigError
from snnleak.models import plugin
from snnleak.models.lenet import CHANNELS, KERNEL, PADDING, STRIDES

# Bytes kept per element of the per-step feature maps in one gradient-matching step (forward,
# backward and double backward, saved tensors included). An upper bound: on LeNet5SNN (fused,
# float32) the peak RSS grew by about 0.4x of this estimate from T = 20 to T = 400.
BYTES_PER_ACTIVATION = 96


def step_memory(spec: AttackSpec, info: data.DatasetInfo, trials: int) -> int:
    """An upper estimate of the memory (bytes) one attack step of ``trials`` together needs:
    the activations of one step and the L-BFGS history of the dummies."""
    if info.modality == "events":
        t, c, h, w = info.input_shape
        dummy = t * c * h * w
    else:
        (c, h, w), t = info.input_shape, (spec.victim.timesteps if spec.model == "snn" else 1)
        dummy = c * h * w
    elements = c * h * w
    for stride in STRIDES:
        h = (h + 2 * PADDING - KERNEL) // stride + 1
        w = (w + 2 * PADDING - KERNEL) // stride + 1
        elements += CHANNELS * h * w
    history = 2 * spec.settings.lbfgs.history_size * dummy * 4
    return trials * (t * elements * BYTES_PER_ACTIVATION + history)


def available_memory() -> int:
    """Bytes of memory available to this process now (MemAvailable, else physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(spec: AttackSpec, info: data.DatasetInfo, trials: int) -> None:
    """One clear error, before any work, when ``trials`` run together cannot fit in memory
    (LeNet victims: a plug-in model's memory is its own)."""
    if plugin.is_plugin(spec.model):
        return
    need, have = step_memory(spec, info, trials), available_memory()
    if need > have:
        gib = 2**30
        t = info.input_shape[0] if info.modality == "events" else spec.victim.timesteps
        raise ConfigError(
            f"one attack step at T={t} with {trials} trial(s) together needs about "
            f"{need / gib:.1f} GiB, but only "
            f"{have / gib:.1f} GiB is available; lower --timesteps or --batch-trials"
        )
