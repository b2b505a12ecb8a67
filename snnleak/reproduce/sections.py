"""The checks every section of a preset shares: keys and their types, choices, datasets."""

from __future__ import annotations

from snnleak import data
from snnleak.attacks.config import (
    GRNN_GENERATORS,
    GRNN_WASSERSTEIN,
    LINE_SEARCHES,
    LOSS_NORMS,
    SPLITS,
)
from snnleak.errors import ConfigError

ITERATES = ("last", "best")
# keys whose value is one of a closed set, in every section
CHOICES = {
    "split": SPLITS,
    "iterate": ITERATES,
    "line_search": LINE_SEARCHES,
    "loss_norm": LOSS_NORMS,
    "grnn_generator": GRNN_GENERATORS,
    "grnn_wasserstein": GRNN_WASSERSTEIN,
}


AUTO = "auto"  # a batch_trials chosen for the device (snnleak.reproduce.batching)


def check_setting(value, where: str):
    """A preset's ``batch_trials``: an integer of at least 1, or ``"auto"``."""
    if value == AUTO or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ConfigError(f"{where}.batch_trials must be 'auto' or an integer >= 1, got {value!r}")


def take(table: dict, where: str, spec: dict[str, type], defaults: dict | None = None) -> dict:
    """The ``spec``'s keys of ``table`` (section ``where``), each of its type and in range,
    ``defaults`` filling the missing optional ones; an unknown or missing key, or a bad value,
    is one clear error."""
    defaults = defaults or {}
    unknown = sorted(set(table) - set(spec))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected: {', '.join(spec)}")
    out = {}
    for key, kind in spec.items():
        if key not in table and key in defaults:
            out[key] = defaults[key]
            continue
        if key not in table:
            raise ConfigError(f"{where}: missing key {key!r}")
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{where}.{key} must be a {kind.__name__}, got {value!r}")
        low = 0 if key in ("seed", "per_class") else 1
        if kind is int and value < low:
            raise ConfigError(f"{where}.{key} must be at least {low}, got {value}")
        if kind is float and not value > 0:
            raise ConfigError(f"{where}.{key} must be positive, got {value}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(
                f"{where}.{key} must be one of {', '.join(CHOICES[key])}, got {value!r}"
            )
        out[key] = value
    return out


def dataset_name(name: str, where: str) -> str:
    """``name``, if it is a dataset; else one clear error naming the section."""
    if name not in data.DATASETS:
        raise ConfigError(
            f"{where}: unknown dataset {name!r}; choose one of: {', '.join(data.DATASETS)}"
        )
    return name
