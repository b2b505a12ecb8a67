"""``snnleak reproduce``: the paper's Tables IV to VI and Figures 3 to 5 from a preset.

- :mod:`~snnleak.reproduce.preset`: ``snnleak/presets/<name>.toml`` as a typed, frozen config;
- :mod:`~snnleak.reproduce.plan`: cells (one table row's trials) and units (an executor's work);
- :mod:`~snnleak.reproduce.executor`: a local process pool or a Ray cluster;
- :mod:`~snnleak.reproduce.tables`, :mod:`~snnleak.reproduce.figures`: the outputs, with the
  paper's reported numbers (:mod:`~snnleak.reproduce.reported`) beside ours;
- :mod:`~snnleak.reproduce.run`: one reproduction, resumable.
"""

from snnleak.reproduce.plan import TARGETS
from snnleak.reproduce.preset import Preset, load_preset
from snnleak.reproduce.run import Result, Run, reproduce

__all__ = ["TARGETS", "Preset", "Result", "Run", "load_preset", "reproduce"]
