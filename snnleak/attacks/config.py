"""Typed, frozen attack configurations, validated when built: the optimisers, each attack's own
configuration, the attacker's settings and :class:`AttackSpec`, everything that determines one
trial besides its seed and item, split by owner: the victim (:class:`VictimSpec`), the client
(:class:`~snnleak.client.ClientSpec`) and the attacker (:class:`AttackSettings`).

The CLI, the presets and the records speak one flat mapping of option names (``model``,
``batch``, ``iterations``, ...); :func:`spec_of` builds a spec from it and
:meth:`AttackSpec.flat` gives it back, which is what a record stores and its config id hashes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from snnleak.client import ClientSpec
from snnleak.errors import ConfigError, choose
from snnleak.local_training import LocalTraining
from snnleak.models.victims import VictimSpec


@dataclass(frozen=True)
class AttackKind:
    """What an attack is and can take, known unbuilt (registry: :data:`ATTACK_KINDS`)."""

    family: str  # "paper" (the paper's attacks, its protocol) or "adaptive" (knows it faces an SNN)
    client_batches: bool  # attacks a client batch of B > 1 items (--batch)
    public_data: bool = False  # trains on the attacker's public items (--aux-items)
    summary: str = ""


ATTACK_KINDS: dict[str, AttackKind] = {
    "dlg": AttackKind("paper", True, summary="DLG: dummy input and soft label, L-BFGS"),
    "idlg": AttackKind("paper", True, summary="iDLG: the label read off, then DLG"),
    "grnn": AttackKind("paper", True, summary="GRNN: a generator trained to match"),
    "proxy": AttackKind("adaptive", True, summary="smooth proxy: continuation, TV"),
    "ig": AttackKind("adaptive", True, summary="Inverting Gradients: cosine + TV"),
    "analytic": AttackKind("adaptive", False, summary="last-layer features, then proxy"),
    "learned": AttackKind("adaptive", True, True, "a decoder fitted on public data"),
    "learned-proxy": AttackKind("adaptive", True, True, "the decoder, then the proxy"),
}
ATTACKS = tuple(ATTACK_KINDS)
PAPER_ATTACKS = tuple(a for a, k in ATTACK_KINDS.items() if k.family == "paper")
ADAPTIVE_ATTACKS = tuple(a for a, k in ATTACK_KINDS.items() if k.family == "adaptive")
PUBLIC_DATA_ATTACKS = tuple(a for a, k in ATTACK_KINDS.items() if k.public_data)
CLIENT_BATCH_ATTACKS = tuple(a for a, k in ATTACK_KINDS.items() if k.client_batches)
MODELS = ("ann", "snn")
THRESHOLD_MODES = ("post", "in")
# GRNN's Wasserstein term: "sorted" is the W2 distance between the two gradients' empirical
# distributions (computed by sorting); "original" is the published code's unsquared L2
GRNN_WASSERSTEIN = ("original", "sorted")
# GRNN's generator: "glu" is the published one (ConvTranspose + GLU, three upsampling blocks);
# "upsample" is snnleak's earlier, smaller stand-in (linear seed, two upsampling convolutions)
GRNN_GENERATORS = ("glu", "upsample")
LINE_SEARCHES = ("none", "strong_wolfe")
# how the gradient-matching loss weighs its layers: "none" (DLG's plain sum of squares),
# "global" (divided by the squared norm of the whole observed gradient: the default, a loss
# whose scale does not depend on the victim's, so that L-BFGS's absolute tolerances mean the
# same on every item), "layer" (each layer's term divided by that layer's squared norm)
LOSS_NORMS = ("none", "global", "layer")
SPLITS = ("train", "test")
# when DLG/iDLG keep image dummies in [0, 1]: once, on the final iterate (DLG's code), or after
# every optimiser step (snnleak.attacks.thresholding says why "step" stalls L-BFGS)
CLAMPS = ("final", "step")
# the learned attacks' decoder: Learning To Invert's MLP on the update, its ridge baseline, or
# an MLP on the exact last-layer features the update gives, per item (images)
DECODERS = ("mlp", "ridge", "features")
VICTIM_PROTOCOLS = ("fresh", "round")  # a victim per trial, or one per run (a round's clients)


@dataclass(frozen=True)
class LBFGSConfig:
    """``torch.optim.LBFGS`` settings (DLG's defaults: lr 1, torch's other defaults)."""

    lr: float = 1.0
    max_iter: int = 20
    history_size: int = 100
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    line_search: str = "none"  # or "strong_wolfe"

    def __post_init__(self) -> None:
        if not self.lr > 0 or self.max_iter < 1 or self.history_size < 1:
            raise ConfigError("L-BFGS needs lr > 0, max_iter >= 1 and history_size >= 1")
        if self.line_search not in LINE_SEARCHES:
            raise ConfigError(
                f"unknown line search {self.line_search!r}; choose one of: "
                f"{', '.join(LINE_SEARCHES)}"
            )

    def kwargs(self) -> dict:
        return dict(
            lr=self.lr,
            max_iter=self.max_iter,
            history_size=self.history_size,
            tolerance_grad=self.tolerance_grad,
            tolerance_change=self.tolerance_change,
            line_search_fn=None if self.line_search == "none" else self.line_search,
        )


@dataclass(frozen=True)
class Thresholding:
    """Spike-domain binarisation: Algorithm 1 (``post``: once, after the optimisation) or
    Algorithm 2 (``in``: after every optimiser step), at ``level`` in (0, 1) (the paper's tau;
    records keep that key)."""

    level: float
    mode: Literal["post", "in"] = "post"

    def __post_init__(self) -> None:
        if not 0 < self.level < 1:
            raise ConfigError(f"--threshold must be in (0, 1), got {self.level}")
        if self.mode not in THRESHOLD_MODES:
            raise ConfigError(f"--threshold-mode must be 'post' or 'in', got {self.mode!r}")


# fields added after records were first written: at their default they are left out of
# config_id, so a folder written before they existed still resumes
LATER_DEFAULTS = {
    "defense": "none",
    "batch": 1,
    "local_epochs": 1,
    "local_batch": 0,
    "local_lr": 0.1,
    "update_attack": "simulate",
    "victim_init": "dlg",
    "detach_reset": False,
    "smooth_forward": False,
    "accelerate": False,
    "victims": "fresh",
    "rehearsal": False,
    "broadcasts": 1,
}
# public items the learned attacks keep out of every decoder fit (at most a quarter of the public
# split): the attacker's own clients, on which it rehearses its attacks (`reproduce adaptive`)
REHEARSAL_ITEMS = 32


@dataclass(frozen=True)
class AttackSettings:
    """The attacker's choices, as ``snnleak attack`` takes them; :mod:`snnleak.attacks.factory`
    makes each attack's own configuration of the ones it reads."""

    # the attack's main step count, None for its own default: DLG/iDLG's L-BFGS steps
    # (DLGConfig.lbfgs_steps), GRNN's RMSprop steps, the proxy's L-BFGS steps per continuation
    # stage, Inverting Gradients' Adam steps (the option and the records call it "iterations")
    steps: int | None = None
    threshold: Thresholding | None = None
    lbfgs: LBFGSConfig = field(default_factory=LBFGSConfig)
    loss_norm: str = "global"
    clamp: str = "final"  # DLG/iDLG: images into [0, 1] once at the end, or after every step
    update_attack: str = "simulate"  # a multi-step update: simulate the steps, or approx
    grnn_wasserstein: str = "original"
    grnn_generator: str = "glu"
    # the learned attacks: how many of the attacker's public items train the decoder (0: all of
    # them, every item of the split the victims' items are not from), and which decoder
    aux_items: int = 0
    decoder: str = "mlp"  # Learning To Invert's MLP, its ridge baseline, or last-layer features

    def __post_init__(self) -> None:
        from snnleak.local_training import UPDATE_ATTACKS

        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"--iterations must be at least 1, got {self.steps}")
        choose("--grnn-wasserstein", self.grnn_wasserstein, GRNN_WASSERSTEIN)
        choose("--grnn-generator", self.grnn_generator, GRNN_GENERATORS)
        choose("--loss-norm", self.loss_norm, LOSS_NORMS)
        choose("--clamp", self.clamp, CLAMPS)
        choose("--decoder", self.decoder, DECODERS)
        choose("--update-attack", self.update_attack, UPDATE_ATTACKS)
        if isinstance(self.aux_items, bool) or not isinstance(self.aux_items, int):
            raise ConfigError(f"--aux-items must be an integer, got {self.aux_items!r}")
        if self.aux_items == 1 or self.aux_items < 0:
            raise ConfigError(
                f"--aux-items must be 0 (every public item) or at least 2, got {self.aux_items}"
            )


@dataclass(frozen=True)
class AttackSpec:
    """One attack configuration on one dataset: a trial is this, an item and a seed. Each
    owner's part checks itself; this checks how they meet (the dataset, the attack)."""

    attack: str
    dataset: str
    victim: VictimSpec
    client: ClientSpec = field(default_factory=ClientSpec)
    settings: AttackSettings = field(default_factory=AttackSettings)
    split: str = "train"  # the paper attacks a client's training items
    # fresh: every trial attacks a victim of its own (the paper's protocol); round: every trial
    # of a run is a client of a federation round, which shares that round's broadcast model
    victims: str = "fresh"
    broadcasts: int = 1  # round: the broadcast models the clients spread over (i mod this)
    # the trial attacks one of the attacker's own public items kept out of its decoders' fits
    # (learned.rehearsal_items), on the round's model: a rehearsal, not a client
    rehearsal: bool = False

    def __post_init__(self) -> None:
        from snnleak import data

        choose("attack", self.attack, ATTACKS)
        choose("--split", self.split, SPLITS)
        choose("--victims", self.victims, VICTIM_PROTOCOLS)
        b = self.broadcasts
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ConfigError(f"--broadcasts must be a positive integer, got {b!r}")
        if b > 1 and self.victims != "round":
            raise ConfigError(f"--broadcasts {b} needs --victims round (clients of rounds)")
        if not isinstance(self.rehearsal, bool):
            raise ConfigError(f"rehearsal must be True or False, got {self.rehearsal!r}")
        image = data.get_dataset(self.dataset).modality == "image"
        if not image and self.victim.model == "ann":
            raise ConfigError(
                f"dataset {self.dataset!r} is event data, which the ANN LeNet cannot take; "
                "use --model snn"
            )
        batch = self.client.batch
        if batch > 1 and self.attack not in CLIENT_BATCH_ATTACKS:
            raise ConfigError(
                f"--batch {batch} applies to {', '.join(CLIENT_BATCH_ATTACKS)}; "
                f"run {self.attack} with --batch 1"
            )
        if batch > 1 and not image:
            raise ConfigError("--batch > 1 is built for image data; run event data with --batch 1")
        features = self.settings.decoder == "features" and self.attack in PUBLIC_DATA_ATTACKS
        if features and not image:
            raise ConfigError(
                "--decoder features decodes images from their last-layer features: run it on "
                "image data, or use --decoder mlp"
            )

    @property
    def model(self) -> str:
        """The victim's model name: a key field of every record."""
        return self.victim.model

    def broadcast_of(self, index: int) -> int | None:
        """The broadcast model trial ``index`` attacks (``victims="round"``), else None."""
        return index % self.broadcasts if self.victims == "round" else None

    def flat(self) -> dict:
        """The spec as one flat mapping of option names: what a record stores as ``config``."""
        v, c, a = self.victim, self.client, self.settings
        threshold = a.threshold and {"tau": a.threshold.level, "mode": a.threshold.mode}
        return {
            "attack": self.attack,
            "model": v.model,
            "dataset": self.dataset,
            **{VICTIM_KEYS.get(k, k): getattr(v, k) for k in VICTIM_FIELDS},
            "defense": c.defense,
            "batch": c.batch,
            "local_epochs": c.local.epochs,
            "local_batch": c.local.batch,
            "local_lr": c.local.lr,
            "iterations": a.steps,
            "threshold": threshold,
            "lbfgs": asdict(a.lbfgs),
            **{k: getattr(a, k) for k in SETTING_FIELDS},
            "split": self.split,
            "victims": self.victims,
            "broadcasts": self.broadcasts,
            "rehearsal": self.rehearsal,
        }

    def with_(self, **changes) -> AttackSpec:
        """This spec with some flat options (:meth:`flat`'s names) changed."""
        return spec_of(**{**self.flat(), **changes})

    def config_id(self) -> str:
        """A short hash of everything that determines a trial's result besides its seed."""
        fields = self.flat()
        if self.attack not in PUBLIC_DATA_ATTACKS:
            del fields["decoder"]  # read by the learned attacks only
        else:
            if self.settings.aux_items:
                fields["aux_sample"] = "seeded"  # once the first N items: their records differ
            fields["rehearsal_items"] = REHEARSAL_ITEMS  # kept out of the fit since 0.1.0
        for name, default in LATER_DEFAULTS.items():  # fields added later leave old ids alone
            if fields.get(name) == default:
                del fields[name]
        blob = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# the flat names of the victim's fields where they differ from VictimSpec's own
VICTIM_KEYS = {"init": "victim_init"}
VICTIM_FIELDS = tuple(f.name for f in fields(VictimSpec) if f.name != "model")
SETTING_FIELDS = tuple(
    f.name for f in fields(AttackSettings) if f.name not in ("steps", "threshold", "lbfgs")
)


def spec_of(attack: str, model: str, dataset: str, **flat) -> AttackSpec:
    """The spec that the flat options ``flat`` (:meth:`AttackSpec.flat`'s names; ``threshold``
    a :class:`Thresholding` or its record form) make, each given to its owner."""
    unknown = set(flat) - FLAT_NAMES
    if unknown:
        raise ConfigError(f"unknown spec field(s) {', '.join(sorted(unknown))}")
    threshold = flat.pop("threshold", None)
    if isinstance(threshold, dict):
        threshold = Thresholding(threshold["tau"], threshold.get("mode", "post"))
    lbfgs = flat.pop("lbfgs", LBFGSConfig())
    if isinstance(lbfgs, dict):
        lbfgs = LBFGSConfig(**lbfgs)
    owned = {k: VICTIM_KEYS.get(k, k) for k in VICTIM_FIELDS}  # VictimSpec's name: the flat one
    victim = VictimSpec(model, **{k: flat.pop(f) for k, f in owned.items() if f in flat})
    local = {k: flat.pop(f"local_{k}") for k in ("epochs", "batch", "lr") if f"local_{k}" in flat}
    client = {k: flat.pop(k) for k in ("batch", "defense") if k in flat}
    client = ClientSpec(local=LocalTraining(**local), **client)
    steps = flat.pop("iterations", None)
    own = {k: flat.pop(k) for k in SETTING_FIELDS if k in flat}
    settings = AttackSettings(steps, threshold, lbfgs, **own)
    return AttackSpec(attack, dataset, victim, client, settings, **flat)


FLAT_NAMES = {
    *(VICTIM_KEYS.get(k, k) for k in VICTIM_FIELDS),
    *SETTING_FIELDS,
    *("defense", "batch", "local_epochs", "local_batch", "local_lr", "iterations"),
    *("threshold", "lbfgs", "split", "victims", "broadcasts", "rehearsal"),
}
