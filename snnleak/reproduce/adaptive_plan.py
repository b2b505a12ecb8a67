"""``[adaptive]``: the paper's attack beside the adaptive ones (``reproduce adaptive``)."""

from __future__ import annotations

from dataclasses import dataclass

from snnleak.attacks.config import ATTACKS, DECODERS, REHEARSAL_ITEMS, VICTIM_PROTOCOLS
from snnleak.errors import ConfigError
from snnleak.reproduce.sections import take


@dataclass(frozen=True)
class AdaptivePlan:
    """``reproduce adaptive``: the paper's attack beside the adaptive ones, on Table IV's data."""

    samples: int = 4
    attacks: tuple[str, ...] = ("idlg", "proxy", "ig", "analytic", "learned")
    iterations: int | None = None  # the adaptive attacks' steps (None: each attack's own)
    datasets: tuple[str, ...] = ()  # a subset of Table IV's data (empty: all of it)
    split: str | None = None  # the victims' split (None: Table IV's); the public set: the other
    victims: str = "fresh"  # fresh: a victim per trial; round: one model, a round's clients
    # round: the broadcast models (rounds), each with ``samples`` clients; the tables' CIs
    # resample the models, then the items within them
    broadcasts: int = 1
    decoder: str = "mlp"  # the learned attacks' decoder: Learning To Invert's MLP, or ridge
    # the attacker's own public items (kept out of every decoder fit) each attack also runs on,
    # on the clients' victims: the rehearsed pick chooses the attack that did best there
    rehearse: int = 0


def parse_adaptive(section: dict, table4_data: tuple[str, ...]) -> AdaptivePlan:
    """The ``[adaptive]`` section; its datasets must be among Table IV's ``table4_data``."""
    a = take(
        section,
        "adaptive",
        {
            "samples": int,
            "attacks": list,
            "iterations": int,
            "datasets": list,
            "split": str,
            "victims": str,
            "broadcasts": int,
            "decoder": str,
            "rehearse": int,
        },
        {
            "samples": 4,
            "attacks": list(AdaptivePlan.attacks),
            "iterations": None,
            "datasets": [],
            "split": None,
            "victims": "fresh",
            "broadcasts": 1,
            "decoder": "mlp",
            "rehearse": 0,
        },
    )
    stray = [d for d in a["datasets"] if d not in table4_data]
    if stray:
        raise ConfigError(
            f"adaptive.datasets must be among Table IV's ({', '.join(sorted(table4_data))}), "
            f"got {stray}"
        )
    for key, choices in (
        ("split", ("train", "test")),
        ("victims", VICTIM_PROTOCOLS),
        ("decoder", DECODERS),
    ):
        if a[key] is not None and a[key] not in choices:
            raise ConfigError(f"adaptive.{key} must be one of {', '.join(choices)}, got {a[key]!r}")
    if not 0 <= a["rehearse"] <= REHEARSAL_ITEMS:
        raise ConfigError(
            f"adaptive.rehearse must be 0 to {REHEARSAL_ITEMS} (the public items kept out of "
            f"the decoders' fits), got {a['rehearse']}"
        )
    if a["broadcasts"] < 1 or (a["broadcasts"] > 1 and a["victims"] != "round"):
        raise ConfigError(
            f'adaptive.broadcasts must be 1, or more with victims = "round", got '
            f"{a['broadcasts']} with victims = {a['victims']!r}"
        )
    unknown = [x for x in a["attacks"] if x not in ATTACKS]
    if unknown or not a["attacks"]:
        raise ConfigError(
            f"adaptive.attacks must name attacks among {', '.join(ATTACKS)}, got {a['attacks']}"
        )
    return AdaptivePlan(
        a["samples"],
        tuple(dict.fromkeys(a["attacks"])),
        a["iterations"],
        tuple(a["datasets"]),
        a["split"],
        a["victims"],
        a["broadcasts"],
        a["decoder"],
        a["rehearse"],
    )
