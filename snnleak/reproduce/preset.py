"""Presets: the typed, frozen form of a ``snnleak/presets/<name>.toml`` file.

A preset fixes everything a reproduction computes besides the backend: which data stands in for
each of the paper's datasets, samples per cell, attack budgets, thresholds and the seed. It is
read once, checked key by key (an unknown or missing key is one clear error), and never mutated.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from snnleak import data
from snnleak.attacks.config import MODELS, PAPER_ATTACKS
from snnleak.errors import ConfigError
from snnleak.reproduce.ablation_plan import AblationPlan, parse_ablations
from snnleak.reproduce.adaptive_plan import AdaptivePlan, parse_adaptive
from snnleak.reproduce.defense_plan import DefensesPlan, parse_defenses
from snnleak.reproduce.optimiser_plan import Optimiser, default_optimiser, parse_optimisers
from snnleak.reproduce.sections import check_setting, dataset_name, take

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


@dataclass(frozen=True)
class Table4Plan:
    samples: int
    timesteps: int
    lbfgs_max_iter: int
    batch_trials: int | str  # trials run together; "auto": per cell for the device (batching)
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
    batch_trials: int | str
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
    adaptive: AdaptivePlan = field(default_factory=AdaptivePlan)
    ablations: AblationPlan = field(default_factory=AblationPlan)
    defenses: DefensesPlan = field(default_factory=DefensesPlan)
    # ((model, dataset), Optimiser) for DLG/iDLG; a pair not listed uses the default
    optimisers: tuple[tuple[tuple[str, str], Optimiser], ...] = ()
    # the victims of `reproduce adaptive` and `sweep`: ours, or a plug-in (`--model`), whose
    # neurons `accelerate` puts on the fused op
    models: tuple[str, ...] = MODELS
    accelerate: bool = False

    def optimiser_of(self, model: str, dataset: str) -> Optimiser:
        """DLG/iDLG's L-BFGS on ``model``: the preset's, else the default for the model."""
        return dict(self.optimisers).get((model, dataset), default_optimiser(model))


def parse_preset(doc: dict, source: str) -> Preset:
    top = take(
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
    t4 = take(
        top["table4"],
        "table4",
        {
            "samples": int,
            "timesteps": int,
            "lbfgs_max_iter": int,
            "batch_trials": object,  # an integer, or "auto"
            "iterations": dict,
            "datasets": dict,
            "split": str,
            "iterate": str,
            "grnn_generator": str,
            "grnn_wasserstein": str,
        },
        TABLE4_DEFAULTS,
    )
    check_setting(t4["batch_trials"], "table4")
    optimisers = parse_optimisers(top["optimiser"])
    iterations = take(t4["iterations"], "table4.iterations", dict.fromkeys(PAPER_ATTACKS, int))
    datasets = take(t4["datasets"], "table4.datasets", dict.fromkeys(PAPER_DATASETS, str))
    for paper, ours in datasets.items():
        dataset_name(ours, f"table4.datasets.{paper}")
    t5 = take(
        top["table5"],
        "table5",
        {
            "dataset": str,
            "samples": int,
            "iterations": int,
            "lbfgs_max_iter": int,
            "batch_trials": object,  # an integer, or "auto"
            "thresholds": list,
            "split": str,
            "iterate": str,
        },
        {"split": "train", "iterate": "last"},
    )
    check_setting(t5["batch_trials"], "table5")
    numbers = all(isinstance(t, int | float) and not isinstance(t, bool) for t in t5["thresholds"])
    if not numbers:
        raise ConfigError(
            f"table5.thresholds must be a list of numbers in (0, 1), got {t5['thresholds']}"
        )
    thresholds = tuple(float(t) for t in t5["thresholds"])
    if not thresholds or not all(0 < t < 1 for t in thresholds):
        raise ConfigError(f"table5.thresholds must be values in (0, 1), got {t5['thresholds']}")
    t6 = take(
        top["table6"],
        "table6",
        {"dataset": str, "per_class": int, "self_pairs": bool},
        {"self_pairs": True},
    )
    judges = take(top["judges"], "judges", {"require_imagenet": bool}, {"require_imagenet": False})
    sweep = take(
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
        dataset_name(name, "sweep.datasets")
    sweep["datasets"] = tuple(dict.fromkeys(sweep["datasets"]))
    adaptive = parse_adaptive(top["adaptive"], tuple(datasets.values()))
    if sweep["attack"] not in ("dlg", "idlg"):
        raise ConfigError(f"sweep.attack must be dlg or idlg, got {sweep['attack']!r}")
    for where, name in (("table5.dataset", t5["dataset"]), ("table6.dataset", t6["dataset"])):
        if data.get_dataset(dataset_name(name, where)).modality != "events":
            raise ConfigError(f"{where}: {name!r} is not an event dataset")
    figures = take(top["figures"], "figures", {"samples": int})
    ablations = parse_ablations(top["ablations"])
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
        adaptive=adaptive,
        ablations=ablations,
        defenses=parse_defenses(top["defenses"]),
        optimisers=optimisers,
    )


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


def with_model(preset: Preset, model: str, accelerate: bool = False) -> Preset:
    """``preset`` attacking the plug-in ``model`` (``FILE.py:FACTORY``) instead of LeNet and
    SNN-LeNet, in the targets that take one (adaptive, sweep)."""
    if ":" not in model:
        raise ConfigError(
            f"--model takes a plug-in, path/to/file.py:factory, got {model!r} (--accelerate "
            "needs one: it speeds up a plug-in's neurons)"
        )
    return replace(preset, models=(model,), accelerate=accelerate)


def with_samples(preset: Preset, samples: int) -> Preset:
    """``preset`` with ``samples`` items per cell in every table that attacks items (Tables IV
    and V, the figures, the adaptive table, the ablations); the sweep keeps its tune/evaluate
    split and Table VI its per-class count."""
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    return replace(
        preset,
        table4=replace(preset.table4, samples=samples),
        table5=replace(preset.table5, samples=samples),
        figures=replace(preset.figures, samples=min(preset.figures.samples, samples)),
        adaptive=replace(preset.adaptive, samples=samples),
        ablations=replace(preset.ablations, samples=samples),
    )
