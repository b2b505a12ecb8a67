"""``[optimiser.MODEL.DATASET]``: DLG/iDLG's L-BFGS per victim model and dataset.

MODEL is ``ann``, ``snn`` or a plug-in's quoted reference (``[optimiser."net.py:make".mnist]``).
A pair not listed uses the default (:func:`default_optimiser`); ``snnleak reproduce sweep``
chooses them by what an attacker observes and prints the lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnleak import data
from snnleak.attacks.config import MODELS
from snnleak.errors import ConfigError
from snnleak.reproduce.sections import dataset_name, take

OPTIMISER_DEFAULTS = {"lr": 1.0, "line_search": "none", "loss_norm": "global"}
OPTIMISER_KEYS = {"lr": float, "line_search": str, "loss_norm": str}


@dataclass(frozen=True)
class Optimiser:
    """DLG/iDLG's L-BFGS on one victim model and dataset. The default is DLG's L-BFGS (lr 1, no
    line search, torch's other defaults) on the matching loss divided by the observed update's
    squared norm (``loss_norm="global"``: docs/fidelity.md, B9)."""

    lr: float = 1.0
    line_search: str = "none"
    loss_norm: str = "global"

    def __str__(self) -> str:
        return f"lr {self.lr:g}, line search {self.line_search}, loss norm {self.loss_norm}"


def default_optimiser(model: str) -> Optimiser:
    """DLG's L-BFGS for our victims; strong Wolfe for a plug-in, on which DLG's fixed step
    diverged (the matching loss ended above its start on the snnTorch CSNN)."""
    return Optimiser(line_search="strong_wolfe") if ":" in model else Optimiser()


def parse_optimisers(table: dict) -> tuple[tuple[tuple[str, str], Optimiser], ...]:
    """``[optimiser.MODEL.DATASET]`` tables -> ((model, dataset), Optimiser) pairs."""
    out = []
    plugins = {k: v for k, v in table.items() if ":" in k}
    ours = {k: v for k, v in table.items() if ":" not in k}
    for model, per_dataset in [
        *take(ours, "optimiser", dict.fromkeys(MODELS, dict), {m: {} for m in MODELS}).items(),
        *plugins.items(),
    ]:
        if not isinstance(per_dataset, dict):
            raise ConfigError(f"optimiser.{model} must be a table of datasets")
        for name, settings in per_dataset.items():
            where = f"optimiser.{model}.{name}"
            dataset_name(name, where)
            if not isinstance(settings, dict):
                raise ConfigError(f"{where} must be a table of {', '.join(OPTIMISER_KEYS)}")
            if model == "ann" and data.get_dataset(name).modality == "events":
                raise ConfigError(f"{where}: the ANN LeNet takes no event data")
            out.append(
                (
                    (model, name),
                    Optimiser(**take(settings, where, OPTIMISER_KEYS, OPTIMISER_DEFAULTS)),
                )
            )
    return tuple(out)
