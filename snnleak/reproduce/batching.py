"""``batch_trials = "auto"``: how many trials a worker runs together, chosen per cell for the
device.

- On a GPU, as many as fill :data:`MEMORY_SHARE` of its free memory by the memory estimate of
  one trial's step (:func:`~snnleak.trials.memory.step_memory`, an upper bound), up to
  :data:`GPU_MAX`: a launch-bound step gains until the card is busy. With CUDA graphs (the
  default there) a trial counts twice: a graph keeps a step's memory in its own pool, beside
  the memory of the eager warm-up evaluations that precede its capture.
- On the CPU, :data:`CPU_BATCH` within the memory available, and one trial at a time on
  event data or for a classifier above :data:`CPU_LARGE` parameters. On this project's 2-core
  CPU, one torch thread per worker as ``--executor local`` runs them, iDLG's seconds per
  trial-step at K = 16 against K = 1: 5.0x fewer on the MNIST LeNet, 2.6x on its SNN twin,
  1.8x on CIFAR-100's SNN; with two threads K = 32 gains little more than K = 16 (3.3x
  against 3.1x; docs/reproducing.md).

A run resolves ``"auto"`` for its device (:func:`resolve_batches`) before planning; a plan made
without a device (to read a run's records, in tests) slices as the CPU would. The trials'
records do not depend on K (a batched trial equals its solo run up to float rounding), so a
run resumed on another device with another K keeps what it has.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from snnleak import data
from snnleak.attacks.config import PUBLIC_DATA_ATTACKS, AttackSpec
from snnleak.device import cuda_options
from snnleak.models.lenet import feature_size
from snnleak.reproduce.preset import Preset
from snnleak.reproduce.sections import AUTO
from snnleak.trials.memory import available_memory, step_memory

CPU_BATCH = 16
# On the CPU, event data and a classifier above this many parameters run one trial at a time:
# there batching was slower than solo trials (LFW's 5,749 classes, 4.4M parameters: 0.6x at
# K = 4, the K gradients overflowing the cache; dvs-synth's Table V cells of `make run`: 1.3x to
# 3.4x the seconds per trial at K = 4, grouped convolutions of 2-channel event frames)
CPU_LARGE = 1_000_000
GPU_MAX = 512
MEMORY_SHARE = 0.8


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_memory()


@dataclass(frozen=True)
class AutoBatch:
    """``"auto"`` resolved for one device: K per cell (:meth:`for_spec`)."""

    gpu: bool
    free: int  # bytes of memory free on the device when resolved
    graphs: bool = False  # CUDA graphs: each step's memory twice (the graph's pool and eager's)

    def for_spec(self, spec: AttackSpec, info=None) -> int:
        """K for ``spec``'s cell (``info``: its data, when loaded already)."""
        info = info or data.info_of(spec.dataset)
        large = feature_size(info.input_shape[-3:]) * info.num_classes > CPU_LARGE
        if not self.gpu and (large or info.modality == "events"):
            return 1
        per_trial = step_memory(spec, info, 1) * (2 if self.graphs else 1)
        fits = int(MEMORY_SHARE * self.free // per_trial)
        return max(1, min(GPU_MAX if self.gpu else CPU_BATCH, fits))


def auto_for(device: torch.device) -> AutoBatch:
    gpu = device.type == "cuda"
    return AutoBatch(gpu, free_memory(device), gpu and cuda_options().graphs)


def resolve_batches(preset: Preset, device: torch.device) -> Preset:
    """``preset`` with every ``"auto"`` batch resolved for ``device``."""
    auto = auto_for(device)
    t4, t5 = preset.table4, preset.table5
    if t4.batch_trials == AUTO:
        t4 = replace(t4, batch_trials=auto)
    if t5.batch_trials == AUTO:
        t5 = replace(t5, batch_trials=auto)
    return replace(preset, table4=t4, table5=t5)


def batch_of(setting, samples: int, spec: AttackSpec, info=None) -> int:
    """A cell's K: its table's setting (an integer, ``"auto"`` or an :class:`AutoBatch`), at
    most its samples. ``"auto"`` runs a learned attack on fresh victims one trial at a time:
    each trial fits a decoder of its own (minutes), which batching does not shorten, and its
    record is then written as its fit ends."""
    auto = setting == AUTO or isinstance(setting, AutoBatch)
    if auto and spec.attack in PUBLIC_DATA_ATTACKS and spec.victims == "fresh":
        return 1
    if setting == AUTO:
        setting = CPU_BATCH
    if isinstance(setting, AutoBatch):
        setting = setting.for_spec(spec, info)
    return min(setting, samples)
