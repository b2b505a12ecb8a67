"""The ``[defenses]`` section of a preset: the federation and the defense strengths swept."""

from __future__ import annotations

from dataclasses import dataclass

from snnleak.defenses import Defense
from snnleak.errors import ConfigError


@dataclass(frozen=True)
class DefensesPlan:
    """``reproduce defenses``: for each model and defense, R federated rounds on Flower, then
    the curious server's attack on the last round's updates: attack success against the test
    accuracy the defense leaves."""

    dataset: str = "mnist-5k"
    models: tuple[str, ...] = ("ann", "snn")
    defenses: tuple[str, ...] = ("none", "dp:1:0.01", "dp:1:0.1", "topk:0.1", "quant:4")
    clients: int = 4
    rounds: int = 20
    batch: int = 4
    local_lr: float = 0.1
    attack: str = "idlg"
    iterations: int = 50
    timesteps: int = 8


def parse_defenses(table: dict) -> DefensesPlan:
    base = DefensesPlan()
    types = {
        "dataset": str,
        "models": list,
        "defenses": list,
        "clients": int,
        "rounds": int,
        "batch": int,
        "local_lr": float,
        "attack": str,
        "iterations": int,
        "timesteps": int,
    }
    unknown = set(table) - set(types)
    if unknown:
        raise ConfigError(f"defenses: unknown key(s) {', '.join(sorted(unknown))}")
    values = {}
    for key, kind in types.items():
        value = table.get(key, getattr(base, key))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is list:
            value = list(value)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ConfigError(f"defenses.{key} must be a {kind.__name__}, got {value!r}")
        values[key] = value
    for m in values["models"]:
        if m not in ("ann", "snn"):
            raise ConfigError(f"defenses.models: {m!r} is not ann or snn")
    for d in values["defenses"]:
        Defense.parse(d)
    if values["rounds"] < 1 or values["clients"] < 2:
        raise ConfigError("defenses: rounds must be >= 1 and clients >= 2")
    values["models"] = tuple(dict.fromkeys(values["models"]))
    values["defenses"] = tuple(dict.fromkeys(values["defenses"]))
    return DefensesPlan(**values)
