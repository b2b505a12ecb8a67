"""Presets: the typed, frozen form of an ``experiments/<name>.toml`` file.

A preset fixes everything a reproduction computes besides the backend: which data stands in for
each of the paper's datasets, samples per cell, attack budgets, thresholds and the seed. It is
read once, checked key by key (an unknown or missing key is one clear error), and never mutated.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from snnleak import data
from snnleak.attacks.config import (
    ATTACKS,
    ENCODINGS,
    GRNN_GENERATORS,
    GRNN_WASSERSTEIN,
    LINE_SEARCHES,
    LOSS_NORMS,
    MODELS,
    PAPER_ATTACKS,
    SPLITS,
    SURROGATE_FAMILIES,
)
from snnleak.errors import ConfigError
from snnleak.reproduce.defense_plan import DefensesPlan, parse_defenses

PRESETS_DIR = Path(__file__).resolve().parents[2] / "experiments"
PAPER_DATASETS = ("MNIST", "CIFAR-100", "LFW")
ITERATES = ("last", "best")
# optional keys of [table4] and their defaults: the paper's protocol
TABLE4_DEFAULTS = {
    "split": "train",
    "iterate": "last",
    "grnn_generator": "glu",
    "grnn_wasserstein": "original",
}
# [table4.optimiser.ann] and [table4.optimiser.snn]: DLG/iDLG's L-BFGS per victim model
# (defaults: DLG's own; `snnleak reproduce sweep` chooses them by what an attacker observes)
OPTIMISER_DEFAULTS = {"lr": 1.0, "line_search": "none", "loss_norm": "none"}
CHOICES = {
    "split": SPLITS,
    "iterate": ITERATES,
    "line_search": LINE_SEARCHES,
    "loss_norm": LOSS_NORMS,
    "grnn_generator": GRNN_GENERATORS,
    "grnn_wasserstein": GRNN_WASSERSTEIN,
}


@dataclass(frozen=True)
class Optimiser:
    """DLG/iDLG's L-BFGS on one victim model."""

    lr: float = 1.0
    line_search: str = "none"
    loss_norm: str = "none"


@dataclass(frozen=True)
class Table4Plan:
    samples: int
    timesteps: int
    lbfgs_max_iter: int
    batch_trials: int
    iterations: tuple[tuple[str, int], ...]  # (attack, optimiser steps)
    datasets: tuple[tuple[str, str], ...]  # (the paper's dataset, the snnleak dataset used)
    split: str = "train"  # the split the attacked items come from (the paper: train)
    iterate: str = "last"  # which iterate the tables show: last (DLG's code) or best by loss
    grnn_generator: str = "glu"
    grnn_wasserstein: str = "original"
    # (model, Optimiser) for DLG/iDLG; a model not listed uses DLG's own
    optimisers: tuple[tuple[str, Optimiser], ...] = ()

    def iterations_of(self, attack: str) -> int:
        return dict(self.iterations)[attack]

    def optimiser_of(self, model: str) -> Optimiser:
        return dict(self.optimisers).get(model, Optimiser())


@dataclass(frozen=True)
class Table5Plan:
    dataset: str
    samples: int
    iterations: int
    lbfgs_max_iter: int
    batch_trials: int
    thresholds: tuple[float, ...]
    split: str = "train"
    iterate: str = "last"


@dataclass(frozen=True)
class Table6Plan:
    dataset: str
    per_class: int  # 0: every item of the test split
    self_pairs: bool = True  # count each item's zero distance to itself among intra pairs


@dataclass(frozen=True)
class SweepPlan:
    """``reproduce sweep``: the L-BFGS grid per model, chosen on ``tune`` items by what an
    attacker observes, then evaluated on ``evaluate`` other items."""

    dataset: str = "digits"
    attack: str = "idlg"
    tune: int = 4
    evaluate: int = 6
    iterations: int = 30
    timesteps: int = 20


@dataclass(frozen=True)
class AdaptivePlan:
    """``reproduce adaptive``: the paper's attack beside the adaptive ones, on Table IV's data."""

    samples: int = 4
    attacks: tuple[str, ...] = ("idlg", "proxy", "ig", "analytic", "learned")
    iterations: int | None = None  # the adaptive attacks' steps (None: each attack's own)


@dataclass(frozen=True)
class AblationPlan:
    """``reproduce ablations``: one factor at a time away from the base victim (IF, ATan
    alpha 2, T = 20): T, the neuron, the surrogate's alpha."""

    dataset: str = "digits"
    samples: int = 4
    timesteps: tuple[int, ...] = (1, 4, 8, 20)
    neurons: tuple[str, ...] = ("if", "lif")
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0)
    attacks: tuple[str, ...] = ("idlg", "learned")
    surrogates: tuple[str, ...] = SURROGATE_FAMILIES
    encodings: tuple[str, ...] = ENCODINGS


@dataclass(frozen=True)
class JudgePlan:
    require_imagenet: bool = False  # refuse to train the LFW judge from scratch


@dataclass(frozen=True)
class FigurePlan:
    samples: int


@dataclass(frozen=True)
class Preset:
    name: str
    seed: int
    backend: str
    table4: Table4Plan
    table5: Table5Plan
    table6: Table6Plan
    figures: FigurePlan
    source: str  # the file it was read from
    judges: JudgePlan = JudgePlan()
    sweep: SweepPlan = SweepPlan()
    adaptive: AdaptivePlan = AdaptivePlan()
    ablations: AblationPlan = AblationPlan()
    defenses: DefensesPlan = field(default_factory=DefensesPlan)


def _take(table: dict, where: str, spec: dict[str, type], defaults: dict | None = None) -> dict:
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


def _dataset(name: str, where: str) -> str:
    if name not in data.DATASETS:
        raise ConfigError(
            f"{where}: unknown dataset {name!r}; choose one of: {', '.join(data.DATASETS)}"
        )
    return name


def parse_preset(doc: dict, source: str) -> Preset:
    top = _take(
        doc,
        source,
        {
            "name": str,
            "seed": int,
            "backend": str,
            "table4": dict,
            "table5": dict,
            "table6": dict,
            "figures": dict,
            "judges": dict,
            "sweep": dict,
            "adaptive": dict,
            "ablations": dict,
            "defenses": dict,
        },
        {"judges": {}, "sweep": {}, "adaptive": {}, "ablations": {}, "defenses": {}},
    )
    t4 = _take(
        top["table4"],
        "table4",
        {
            "samples": int,
            "timesteps": int,
            "lbfgs_max_iter": int,
            "batch_trials": int,
            "iterations": dict,
            "datasets": dict,
            "split": str,
            "iterate": str,
            "grnn_generator": str,
            "grnn_wasserstein": str,
            "optimiser": dict,
        },
        {**TABLE4_DEFAULTS, "optimiser": {}},
    )
    per_model = _take(t4["optimiser"], "table4.optimiser", dict.fromkeys(MODELS, dict), {})
    optimisers = tuple(
        (
            model,
            Optimiser(
                **_take(
                    per_model[model],
                    f"table4.optimiser.{model}",
                    {"lr": float, "line_search": str, "loss_norm": str},
                    OPTIMISER_DEFAULTS,
                )
            ),
        )
        for model in MODELS
        if model in per_model
    )
    iterations = _take(t4["iterations"], "table4.iterations", dict.fromkeys(PAPER_ATTACKS, int))
    datasets = _take(t4["datasets"], "table4.datasets", dict.fromkeys(PAPER_DATASETS, str))
    for paper, ours in datasets.items():
        _dataset(ours, f"table4.datasets.{paper}")
    t5 = _take(
        top["table5"],
        "table5",
        {
            "dataset": str,
            "samples": int,
            "iterations": int,
            "lbfgs_max_iter": int,
            "batch_trials": int,
            "thresholds": list,
            "split": str,
            "iterate": str,
        },
        {"split": "train", "iterate": "last"},
    )
    numbers = all(isinstance(t, int | float) and not isinstance(t, bool) for t in t5["thresholds"])
    if not numbers:
        raise ConfigError(
            f"table5.thresholds must be a list of numbers in (0, 1), got {t5['thresholds']}"
        )
    thresholds = tuple(float(t) for t in t5["thresholds"])
    if not thresholds or not all(0 < t < 1 for t in thresholds):
        raise ConfigError(f"table5.thresholds must be values in (0, 1), got {t5['thresholds']}")
    t6 = _take(
        top["table6"],
        "table6",
        {"dataset": str, "per_class": int, "self_pairs": bool},
        {"self_pairs": True},
    )
    judges = _take(top["judges"], "judges", {"require_imagenet": bool}, {"require_imagenet": False})
    sweep = _take(
        top["sweep"],
        "sweep",
        {
            "dataset": str,
            "attack": str,
            "tune": int,
            "evaluate": int,
            "iterations": int,
            "timesteps": int,
        },
        {
            "dataset": datasets["MNIST"],
            "attack": "idlg",
            "tune": 4,
            "evaluate": 6,
            "iterations": iterations["idlg"],
            "timesteps": t4["timesteps"],
        },
    )
    _dataset(sweep["dataset"], "sweep.dataset")
    adaptive = _take(
        top["adaptive"],
        "adaptive",
        {"samples": int, "attacks": list, "iterations": int},
        {"samples": 4, "attacks": list(AdaptivePlan.attacks), "iterations": None},
    )
    unknown = [a for a in adaptive["attacks"] if a not in ATTACKS]
    if unknown or not adaptive["attacks"]:
        raise ConfigError(
            f"adaptive.attacks must name attacks among {', '.join(ATTACKS)}, "
            f"got {adaptive['attacks']}"
        )
    if sweep["attack"] not in ("dlg", "idlg"):
        raise ConfigError(f"sweep.attack must be dlg or idlg, got {sweep['attack']!r}")
    for where, name in (("table5.dataset", t5["dataset"]), ("table6.dataset", t6["dataset"])):
        if data.get_dataset(_dataset(name, where)).modality != "events":
            raise ConfigError(f"{where}: {name!r} is not an event dataset")
    figures = _take(top["figures"], "figures", {"samples": int})
    ablations = _ablations(top["ablations"])
    return Preset(
        name=top["name"],
        seed=top["seed"],
        backend=top["backend"],
        table4=Table4Plan(
            t4["samples"],
            t4["timesteps"],
            t4["lbfgs_max_iter"],
            t4["batch_trials"],
            tuple((a, iterations[a]) for a in PAPER_ATTACKS),
            tuple((p, datasets[p]) for p in PAPER_DATASETS),
            **{k: t4[k] for k in TABLE4_DEFAULTS},
            optimisers=optimisers,
        ),
        table5=Table5Plan(
            t5["dataset"],
            t5["samples"],
            t5["iterations"],
            t5["lbfgs_max_iter"],
            t5["batch_trials"],
            tuple(sorted(set(thresholds))),
            t5["split"],
            t5["iterate"],
        ),
        table6=Table6Plan(t6["dataset"], t6["per_class"], t6["self_pairs"]),
        figures=FigurePlan(figures["samples"]),
        source=source,
        judges=JudgePlan(judges["require_imagenet"]),
        sweep=SweepPlan(**sweep),
        adaptive=AdaptivePlan(
            adaptive["samples"],
            tuple(dict.fromkeys(adaptive["attacks"])),
            adaptive["iterations"],
        ),
        ablations=ablations,
        defenses=parse_defenses(top["defenses"]),
    )


def _ablations(table: dict) -> AblationPlan:
    base = AblationPlan()
    a = _take(
        table,
        "ablations",
        {
            "dataset": str,
            "samples": int,
            "timesteps": list,
            "neurons": list,
            "alphas": list,
            "attacks": list,
            "surrogates": list,
            "encodings": list,
        },
        {k: getattr(base, k) for k in ("dataset", "samples")}
        | {
            k: list(getattr(base, k))
            for k in ("timesteps", "neurons", "alphas", "attacks", "surrogates", "encodings")
        },
    )
    _dataset(a["dataset"], "ablations.dataset")
    if data.get_dataset(a["dataset"]).modality != "image":
        raise ConfigError(f"ablations.dataset must be an image dataset, got {a['dataset']!r}")
    checks = {
        "timesteps": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000,
        "neurons": lambda v: v in ("if", "lif"),
        "alphas": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
        "attacks": lambda v: v in ATTACKS,
        "surrogates": lambda v: v in SURROGATE_FAMILIES,
        "encodings": lambda v: v in ENCODINGS,
    }
    for key, ok in checks.items():
        if not a[key] or not all(ok(v) for v in a[key]):
            raise ConfigError(f"ablations.{key} has a value out of range: {a[key]}")
    return AblationPlan(
        a["dataset"],
        a["samples"],
        tuple(a["timesteps"]),
        tuple(a["neurons"]),
        tuple(float(v) for v in a["alphas"]),
        tuple(dict.fromkeys(a["attacks"])),
        tuple(dict.fromkeys(a["surrogates"])),
        tuple(dict.fromkeys(a["encodings"])),
    )


def load_preset(name_or_path: str) -> Preset:
    """A preset by name (``experiments/<name>.toml``) or by the path of a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PRESETS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))
        raise ConfigError(
            f"no preset {name_or_path!r} (looked for {path}); use one of: "
            f"{', '.join(known) or 'none found'}, or the path of a .toml file"
        )
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the preset as UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return parse_preset(doc, str(path))
