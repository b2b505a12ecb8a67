"""``batch_trials = "auto"``: how many trials a worker runs together, chosen for its device.

- On a GPU, as many as fill :data:`MEMORY_SHARE` of its free memory by the memory estimate of
  one trial's step (:func:`~snnleak.trials.memory.step_memory`, an upper bound), up to
  :data:`GPU_MAX`: a launch-bound step gains until the card is busy.
- On the CPU, :data:`CPU_BATCH`, the best measured on this project's 2-core CPU with one torch
  thread per worker (``snnleak bench attacks --threads 1``, docs/performance.md), within the
  memory available.

The trials' records do not depend on K (a batched trial equals its solo run up to float
rounding), so a run resumed on another device with another K keeps what it has.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from snnleak.attacks.config import AttackSpec, LBFGSConfig
from snnleak.reproduce.preset import Preset
from snnleak.reproduce.sections import AUTO
from snnleak.trials.memory import available_memory, step_memory

CPU_BATCH = 16
GPU_MAX = 512
MEMORY_SHARE = 0.8


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_memory()


def auto_batch(specs: list[tuple[AttackSpec, object]], device: torch.device) -> int:
    """K for cells of these (spec, dataset info) pairs on ``device``: the smallest over them."""
    cap = GPU_MAX if device.type == "cuda" else CPU_BATCH
    budget = MEMORY_SHARE * free_memory(device)
    fits = min(int(budget // step_memory(spec, info, 1)) for spec, info in specs)
    return max(1, min(cap, fits))


def resolve_batches(preset: Preset, device: torch.device) -> Preset:
    """``preset`` with every ``"auto"`` batch replaced by the K chosen for ``device``."""
    from snnleak.reproduce.cost import info_of

    t4, t5 = preset.table4, preset.table5
    if t4.batch_trials == AUTO:
        lbfgs = LBFGSConfig(max_iter=t4.lbfgs_max_iter)
        specs = [
            (AttackSpec("dlg", "snn", d, timesteps=t4.timesteps, lbfgs=lbfgs), info_of(d))
            for _, d in t4.datasets
        ]
        t4 = replace(t4, batch_trials=auto_batch(specs, device))
    if t5.batch_trials == AUTO:
        lbfgs = LBFGSConfig(max_iter=t5.lbfgs_max_iter)
        spec = AttackSpec("dlg", "snn", t5.dataset, lbfgs=lbfgs)
        t5 = replace(t5, batch_trials=auto_batch([(spec, info_of(t5.dataset))], device))
    return replace(preset, table4=t4, table5=t5)


def batch_of(setting, samples: int) -> int:
    """A cell's K: its table's setting, at most its samples. Runs and dry runs resolve
    ``"auto"`` for their device first (:func:`resolve_batches`); a plan made without one (to
    read a run's records, in tests) slices as the CPU would."""
    return min(CPU_BATCH if setting == AUTO else setting, samples)
