"""``[ablations]``: one factor at a time away from the base SNN victim (``reproduce
ablations``)."""

from __future__ import annotations

from dataclasses import dataclass

from snnleak import data
from snnleak.attacks.config import (
    ATTACKS,
    PUBLIC_DATA_ATTACKS,
    VICTIM_PROTOCOLS,
)
from snnleak.errors import ConfigError
from snnleak.models.lenet import INITS
from snnleak.models.lenet_snn import ENCODINGS
from snnleak.models.victims import SURROGATE_FAMILIES
from snnleak.reproduce.sections import dataset_name, take

RESETS = ("gradient", "detached")  # the reset's spike: differentiated through, or detached
FORWARDS = ("spiking", "smooth")  # the victim's forward: the spike, or the surrogate's primitive


@dataclass(frozen=True)
class AblationPlan:
    """``reproduce ablations``: one factor at a time away from the base victim (IF, ATan
    alpha 2, T = 20, direct encoding, DLG's init, a gradient through the reset, spiking
    forward): T, the neuron, the surrogate's alpha and family, the image code, the initial
    weights, the reset's gradient, and a smooth forward (a control)."""

    dataset: str = "mnist-5k"
    samples: int = 4
    timesteps: tuple[int, ...] = (1, 4, 8, 20)
    neurons: tuple[str, ...] = ("if", "lif")
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0)
    attacks: tuple[str, ...] = ("idlg", "learned")
    surrogates: tuple[str, ...] = SURROGATE_FAMILIES
    encodings: tuple[str, ...] = ENCODINGS
    inits: tuple[str, ...] = INITS
    resets: tuple[str, ...] = RESETS
    forwards: tuple[str, ...] = FORWARDS
    public_items: tuple[int, ...] = (64, 256, 1000, 0)  # the learned attacks' (0: all)
    split: str = "train"  # the victims' items (the public items: the other split)
    victims: str = "fresh"  # a victim per trial, or one per cell (a round's clients)


ABLATION_LISTS = (
    "timesteps",
    "neurons",
    "alphas",
    "attacks",
    "surrogates",
    "encodings",
    "inits",
    "resets",
    "forwards",
    "public_items",
)


def parse_ablations(table: dict) -> AblationPlan:
    base = AblationPlan()
    a = take(
        table,
        "ablations",
        {"dataset": str, "samples": int, "split": str, "victims": str}
        | dict.fromkeys(ABLATION_LISTS, list),
        {k: getattr(base, k) for k in ("dataset", "samples", "split", "victims")}
        | {k: list(getattr(base, k)) for k in ABLATION_LISTS},
    )
    dataset_name(a["dataset"], "ablations.dataset")
    if data.get_dataset(a["dataset"]).modality != "image":
        raise ConfigError(f"ablations.dataset must be an image dataset, got {a['dataset']!r}")
    for key, choices in (("split", ("train", "test")), ("victims", VICTIM_PROTOCOLS)):
        if a[key] not in choices:
            raise ConfigError(
                f"ablations.{key} must be one of {', '.join(choices)}, got {a[key]!r}"
            )
    checks = {
        "timesteps": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000,
        "neurons": lambda v: v in ("if", "lif"),
        "alphas": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
        "attacks": lambda v: v in ATTACKS,
        "surrogates": lambda v: v in SURROGATE_FAMILIES,
        "encodings": lambda v: v in ENCODINGS,
        "inits": lambda v: v in INITS,
        "resets": lambda v: v in RESETS,
        "forwards": lambda v: v in FORWARDS,
        "public_items": lambda v: (
            isinstance(v, int) and not isinstance(v, bool) and v != 1 and v >= 0
        ),
    }
    for key, ok in checks.items():
        if not a[key] or not all(ok(v) for v in a[key]):
            raise ConfigError(f"ablations.{key} has a value out of range: {a[key]}")
    lists = {k: tuple(dict.fromkeys(a[k])) for k in ABLATION_LISTS}
    lists["alphas"] = tuple(float(v) for v in lists["alphas"])
    return AblationPlan(a["dataset"], a["samples"], **lists, split=a["split"], victims=a["victims"])


BASE_VICTIM = {
    "timesteps": 20,
    "neuron": "if",
    "surrogate_alpha": 2.0,
    "surrogate": "atan",
    "encoding": "direct",
    "victim_init": "dlg",
    "detach_reset": False,
    "smooth_forward": False,
    "aux_items": 0,  # the learned attacks' public items (0: all): an attacker's factor
}


def ablation_points(a: AblationPlan) -> list[tuple[str, object, dict]]:
    """(factor, value, settings): one factor at a time away from BASE_VICTIM (the victim's
    settings, and the public-set size of the learned attacks); the base itself appears once per
    factor, so every factor's row set is complete."""
    points = [("T", t, {**BASE_VICTIM, "timesteps": t}) for t in a.timesteps]
    points += [("neuron", n.upper(), {**BASE_VICTIM, "neuron": n}) for n in a.neurons]
    points += [("alpha", al, {**BASE_VICTIM, "surrogate_alpha": al}) for al in a.alphas]
    points += [("surrogate", f, {**BASE_VICTIM, "surrogate": f}) for f in a.surrogates]
    points += [("encoding", e, {**BASE_VICTIM, "encoding": e}) for e in a.encodings]
    points += [("init", i, {**BASE_VICTIM, "victim_init": i}) for i in a.inits]
    points += [("reset", r, {**BASE_VICTIM, "detach_reset": r == "detached"}) for r in a.resets]
    points += [("forward", f, {**BASE_VICTIM, "smooth_forward": f == "smooth"}) for f in a.forwards]
    points += [("public items", n, {**BASE_VICTIM, "aux_items": n}) for n in a.public_items]
    return points


def ablation_applies(attack: str, factor: str) -> bool:
    """The public-set size is a factor of the attacks that use public data alone."""
    return factor != "public items" or attack in PUBLIC_DATA_ATTACKS
