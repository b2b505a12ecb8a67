"""Presets: the typed, frozen form of a ``snnleak/presets/<name>.toml`` file.

A preset fixes everything a reproduction computes besides the backend: which data stands in for
each of the paper's datasets, samples per cell, attack budgets, thresholds and the seed. It is
read once, checked key by key (an unknown or missing key is one clear error), and never mutated.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from snnleak import data
from snnleak.attacks.config import (
    ATTACKS,
    ENCODINGS,
    GRNN_GENERATORS,
    GRNN_WASSERSTEIN,
    INITS,
    LINE_SEARCHES,
    LOSS_NORMS,
    MODELS,
    PAPER_ATTACKS,
    SPLITS,
    SURROGATE_FAMILIES,
)
from snnleak.errors import ConfigError
from snnleak.reproduce.defense_plan import DefensesPlan, parse_defenses

RESETS = ("gradient", "detached")  # the reset's spike: differentiated through, or detached
FORWARDS = ("spiking", "smooth")  # the victim's forward: the spike, or the surrogate's primitive
# the presets shipped inside the package (read through importlib.resources, so that an installed
# wheel runs them too): name -> the file
PRESETS = {
    f.name.removesuffix(".toml"): f
    for f in resources.files("snnleak.presets").iterdir()
    if f.name.endswith(".toml")
}
PAPER_DATASETS = ("MNIST", "CIFAR-100", "LFW")
ITERATES = ("last", "best")
# optional keys of [table4] and their defaults: the paper's protocol
TABLE4_DEFAULTS = {
    "split": "train",
    "iterate": "last",
    "grnn_generator": "glu",
    "grnn_wasserstein": "original",
}
# [optimiser.MODEL.DATASET]: DLG/iDLG's L-BFGS per victim model and dataset (a pair not listed
# uses the default: DLG's L-BFGS on the scale-free loss; `snnleak reproduce sweep` chooses them
# by what an attacker observes)
OPTIMISER_DEFAULTS = {"lr": 1.0, "line_search": "none", "loss_norm": "global"}
OPTIMISER_KEYS = {"lr": float, "line_search": str, "loss_norm": str}
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
    """DLG/iDLG's L-BFGS on one victim model and dataset. The default is DLG's L-BFGS (lr 1, no
    line search, torch's other defaults) on the matching loss divided by the observed update's
    squared norm (``loss_norm="global"``: docs/fidelity.md, B9)."""

    lr: float = 1.0
    line_search: str = "none"
    loss_norm: str = "global"

    def __str__(self) -> str:
        return f"lr {self.lr:g}, line search {self.line_search}, loss norm {self.loss_norm}"


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

    def iterations_of(self, attack: str) -> int:
        return dict(self.iterations)[attack]


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

    datasets: tuple[str, ...] = ("mnist-5k",)  # event data: SNN-LeNet only
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
    # ((model, dataset), Optimiser) for DLG/iDLG; a pair not listed uses the default
    optimisers: tuple[tuple[tuple[str, str], Optimiser], ...] = ()

    def optimiser_of(self, model: str, dataset: str) -> Optimiser:
        return dict(self.optimisers).get((model, dataset), Optimiser())


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
            "optimiser": dict,
        },
        {
            "judges": {},
            "sweep": {},
            "adaptive": {},
            "ablations": {},
            "defenses": {},
            "optimiser": {},
        },
    )
    if "optimiser" in top["table4"]:
        raise ConfigError(
            f"{source}: [table4.optimiser.MODEL] moved to [optimiser.MODEL.DATASET], one per "
            "victim model and dataset (`snnleak reproduce sweep` prints the lines)"
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
        },
        TABLE4_DEFAULTS,
    )
    optimisers = _optimisers(top["optimiser"])
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
            "datasets": list,
            "attack": str,
            "tune": int,
            "evaluate": int,
            "iterations": int,
            "timesteps": int,
        },
        {
            "datasets": [datasets["MNIST"]],
            "attack": "idlg",
            "tune": 4,
            "evaluate": 6,
            "iterations": iterations["idlg"],
            "timesteps": t4["timesteps"],
        },
    )
    if not sweep["datasets"] or not all(isinstance(d, str) for d in sweep["datasets"]):
        raise ConfigError(
            f"sweep.datasets must be a list of dataset names, got {sweep['datasets']}"
        )
    for name in sweep["datasets"]:
        _dataset(name, "sweep.datasets")
    sweep["datasets"] = tuple(dict.fromkeys(sweep["datasets"]))
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
        optimisers=optimisers,
    )


def _optimisers(table: dict) -> tuple[tuple[tuple[str, str], Optimiser], ...]:
    """``[optimiser.MODEL.DATASET]`` tables -> ((model, dataset), Optimiser) pairs."""
    out = []
    for model, per_dataset in _take(
        table, "optimiser", dict.fromkeys(MODELS, dict), {m: {} for m in MODELS}
    ).items():
        for name, settings in per_dataset.items():
            where = f"optimiser.{model}.{name}"
            _dataset(name, where)
            if not isinstance(settings, dict):
                raise ConfigError(f"{where} must be a table of {', '.join(OPTIMISER_KEYS)}")
            if model == "ann" and data.get_dataset(name).modality == "events":
                raise ConfigError(f"{where}: the ANN LeNet takes no event data")
            out.append(
                (
                    (model, name),
                    Optimiser(**_take(settings, where, OPTIMISER_KEYS, OPTIMISER_DEFAULTS)),
                )
            )
    return tuple(out)


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


def _ablations(table: dict) -> AblationPlan:
    base = AblationPlan()
    a = _take(
        table,
        "ablations",
        {"dataset": str, "samples": int} | dict.fromkeys(ABLATION_LISTS, list),
        {k: getattr(base, k) for k in ("dataset", "samples")}
        | {k: list(getattr(base, k)) for k in ABLATION_LISTS},
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
    return AblationPlan(a["dataset"], a["samples"], **lists)


def load_preset(name_or_path: str) -> Preset:
    """A preset by name (one shipped in ``snnleak/presets/``) or by the path of a TOML file."""
    if not str(name_or_path).endswith(".toml"):
        if name_or_path not in PRESETS:
            raise ConfigError(
                f"no preset {name_or_path!r}; use one of: {', '.join(sorted(PRESETS))}, or the "
                "path of a .toml file (`snnleak presets quick > mine.toml` writes one to start "
                "from)"
            )
        return _parse_bytes(PRESETS[name_or_path].read_bytes(), f"preset {name_or_path}")
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"no preset file {path}; use one of: {', '.join(sorted(PRESETS))}, or the path of "
            "a .toml file"
        )
    return _parse_bytes(path.read_bytes(), str(path))


def preset_text(name: str) -> str:
    """A shipped preset's TOML, comments included: a start for one of your own."""
    if name not in PRESETS:
        raise ConfigError(f"no preset {name!r}; use one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name].read_text(encoding="utf-8")


def _parse_bytes(raw: bytes, where: str) -> Preset:
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where}: not UTF-8 text (byte {exc.start}); save the preset as UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from exc
    return parse_preset(doc, where)
