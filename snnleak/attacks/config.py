"""Typed, frozen attack configurations, validated when built: the optimisers, the attacks and
:class:`AttackSpec`, everything that determines one trial besides its seed and item."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from snnleak.errors import ConfigError
from snnleak.models.lenet import INITS
from snnleak.models.lenet_snn import ENCODINGS
from snnleak.models.victims import VictimSpec
from snnleak.neurons.surrogate import SURROGATES


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
NEURONS = ("if", "lif")  # the SNN victim's neuron (LIF: tau = 2)
SURROGATE_FAMILIES = tuple(SURROGATES)  # ATan everywhere; the others on the reference backend


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
    Algorithm 2 (``in``: after every optimiser step), at threshold ``tau`` in (0, 1)."""

    tau: float
    mode: Literal["post", "in"] = "post"

    def __post_init__(self) -> None:
        if not 0 < self.tau < 1:
            raise ConfigError(f"--threshold must be in (0, 1), got {self.tau}")
        if self.mode not in THRESHOLD_MODES:
            raise ConfigError(f"--threshold-mode must be 'post' or 'in', got {self.mode!r}")


@dataclass(frozen=True)
class DLGConfig:
    iterations: int = 300
    lbfgs: LBFGSConfig = field(default_factory=LBFGSConfig)
    threshold: Thresholding | None = None
    loss_norm: str = "global"
    update_attack: str = "simulate"  # a multi-step FedAvg update: simulate, or approx
    clamp: str = "final"  # images into [0, 1]: once at the end, or after every step

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        _choice("loss normalisation", self.loss_norm, LOSS_NORMS)
        _choice("clamp", self.clamp, CLAMPS)


@dataclass(frozen=True)
class GRNNConfig:
    """GRNN (Ren et al.): RMSprop on a generator; loss = ||dG - dW||^2 + WD + tv * TV."""

    iterations: int = 1000
    lr: float = 1e-4
    momentum: float = 0.99
    tv_weight: float = 1e-3  # the original's value for LeNet
    noise_dim: int = 128
    wasserstein: Literal["original", "sorted"] = "original"
    generator: Literal["glu", "upsample"] = "glu"
    threshold: Thresholding | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        _choice("GRNN wasserstein", self.wasserstein, GRNN_WASSERSTEIN)
        _choice("GRNN generator", self.generator, GRNN_GENERATORS)


def _choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


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
class AttackSpec:
    """One attack configuration on one dataset: a trial is this, an item and a seed."""

    attack: str
    model: str
    dataset: str
    backend: str = "fused"
    timesteps: int = 20  # T of the spiking victim on images (event data bring their own T)
    iterations: int | None = None  # default: the attack's own (DLG/iDLG 300, GRNN 1000)
    threshold: Thresholding | None = None
    lbfgs: LBFGSConfig = field(default_factory=LBFGSConfig)
    grnn_wasserstein: str = "original"
    split: str = "train"  # the paper attacks a client's training items
    loss_norm: str = "global"
    grnn_generator: str = "glu"
    neuron: str = "if"  # the SNN victim's neuron: IF (the paper's) or LIF
    surrogate_alpha: float = 2.0  # the SNN victim's surrogate sharpness
    surrogate: str = "atan"  # the SNN victim's surrogate family (others: reference backend)
    encoding: str = "direct"  # the SNN victim's image code: direct, or poisson (rate coding)
    defense: str = "none"  # the client's defense (snnleak.defenses): dp:C:S, topk:F, quant:B
    batch: int = 1  # the client's batch size B (the update is its mean gradient over B items)
    local_epochs: int = 1  # FedAvg: the client's local epochs over its B items
    local_batch: int = 0  # FedAvg: its mini-batch size (0: all B items at once)
    local_lr: float = 0.1  # FedAvg: its SGD learning rate
    update_attack: str = "simulate"  # a multi-step update: simulate the steps, or approx
    victim_init: str = "dlg"  # the victim's initial weights: DLG's U(-0.5, 0.5), or torch's
    detach_reset: bool = False  # the SNN victim: no gradient through the reset (SpikingJelly's)
    smooth_forward: bool = False  # fires the surrogate's primitive: a smooth control, no SNN
    accelerate: bool = False  # a plug-in's neurons on the fused op where exact (accelerate.py)
    clamp: str = "final"  # DLG/iDLG: images into [0, 1] once at the end, or after every step
    # the learned attacks: how many of the attacker's public items train the decoder (0: all of
    # them, every item of the split the victims' items are not from), and which decoder
    aux_items: int = 0
    decoder: str = "mlp"  # Learning To Invert's MLP, or the ridge baseline
    # fresh: every trial attacks a victim of its own (the paper's protocol); round: every trial
    # of a run is a client of a federation round, which shares that round's broadcast model
    victims: str = "fresh"
    broadcasts: int = 1  # round: the broadcast models the clients spread over (i mod this)
    # the trial attacks one of the attacker's own public items kept out of its decoders' fits
    # (learned.rehearsal_items), on the round's model: a rehearsal, not a client
    rehearsal: bool = False

    def __post_init__(self) -> None:
        from snnleak import data
        from snnleak.neurons import BACKENDS

        if self.attack not in ATTACKS:
            raise ConfigError(
                f"unknown attack {self.attack!r}; choose one of: {', '.join(ATTACKS)}"
            )
        if self.model not in MODELS and ":" not in self.model:
            raise ConfigError(
                f"unknown model {self.model!r}; choose 'ann', 'snn' or your own as "
                "path/to/file.py:factory or package.module:factory"
            )
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}"
            )
        _choice("--grnn-wasserstein", self.grnn_wasserstein, GRNN_WASSERSTEIN)
        _choice("--grnn-generator", self.grnn_generator, GRNN_GENERATORS)
        _choice("--split", self.split, SPLITS)
        _choice("--loss-norm", self.loss_norm, LOSS_NORMS)
        _choice("--neuron", self.neuron, NEURONS)
        _choice("--encoding", self.encoding, ENCODINGS)
        _choice("--surrogate", self.surrogate, SURROGATE_FAMILIES)
        _choice("--victim-init", self.victim_init, INITS)
        _choice("--clamp", self.clamp, CLAMPS)
        _choice("--decoder", self.decoder, DECODERS)
        _choice("--victims", self.victims, VICTIM_PROTOCOLS)
        b = self.broadcasts
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ConfigError(f"--broadcasts must be a positive integer, got {b!r}")
        if b > 1 and self.victims != "round":
            raise ConfigError(f"--broadcasts {b} needs --victims round (clients of rounds)")
        if isinstance(self.aux_items, bool) or not isinstance(self.aux_items, int):
            raise ConfigError(f"--aux-items must be an integer, got {self.aux_items!r}")
        if self.aux_items == 1 or self.aux_items < 0:
            raise ConfigError(
                f"--aux-items must be 0 (every public item) or at least 2, got {self.aux_items}"
            )
        for flag in ("detach_reset", "smooth_forward", "rehearsal", "accelerate"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.accelerate and ":" not in self.model:
            raise ConfigError("--accelerate speeds up a plug-in's neurons; ours take --backend")
        if self.surrogate != "atan" and self.backend == "fused" and self.model == "snn":
            raise ConfigError(
                f"the {self.surrogate} surrogate runs on the reference backend only; "
                "pass --backend reference"
            )
        alpha = self.surrogate_alpha
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise ConfigError(f"--surrogate-alpha must be a number, got {alpha!r}")
        if not alpha > 0:
            raise ConfigError(f"--surrogate-alpha must be positive, got {alpha}")
        if data.get_dataset(self.dataset).modality == "events" and self.model == "ann":
            raise ConfigError(
                f"dataset {self.dataset!r} is event data, which the ANN LeNet cannot take; "
                "use --model snn"
            )
        from snnleak.defenses import Defense

        Defense.parse(self.defense)
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"--batch must be a positive integer, got {self.batch!r}")
        if self.batch > 1 and self.attack not in CLIENT_BATCH_ATTACKS:
            raise ConfigError(
                f"--batch {self.batch} applies to {', '.join(CLIENT_BATCH_ATTACKS)}; "
                f"run {self.attack} with --batch 1"
            )
        from snnleak.local_training import UPDATE_ATTACKS

        self.local_training()  # checks the values
        _choice("--update-attack", self.update_attack, UPDATE_ATTACKS)
        image = data.get_dataset(self.dataset).modality == "image"
        features = self.decoder == "features" and self.attack in PUBLIC_DATA_ATTACKS
        if features and not image:
            raise ConfigError(
                "--decoder features decodes images from their last-layer features: run it on "
                "image data, or use --decoder mlp"
            )
        if self.batch > 1 and not image:
            raise ConfigError("--batch > 1 is built for image data; run event data with --batch 1")
        t = self.timesteps
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise ConfigError(f"--timesteps must be a positive integer, got {t!r}")
        if self.iterations is not None and self.iterations < 1:
            raise ConfigError(f"--iterations must be at least 1, got {self.iterations}")

    @property
    def victim(self) -> VictimSpec:
        """The victim this spec attacks (:func:`snnleak.models.victims.build_victim`)."""
        return VictimSpec(
            self.model,
            backend=self.backend,
            timesteps=self.timesteps,
            neuron=self.neuron,
            surrogate_alpha=float(self.surrogate_alpha),
            surrogate=self.surrogate,
            encoding=self.encoding,
            init=self.victim_init,
            detach_reset=self.detach_reset,
            smooth_forward=self.smooth_forward,
            accelerate=self.accelerate,
        )

    def broadcast_of(self, index: int) -> int | None:
        """The broadcast model trial ``index`` attacks (``victims="round"``), else None."""
        return index % self.broadcasts if self.victims == "round" else None

    def local_training(self):
        """The client's local training, or None for one full-batch step (FedSGD)."""
        from snnleak.local_training import LocalTraining

        cfg = LocalTraining(self.local_epochs, self.local_batch, float(self.local_lr))
        return None if cfg.single_step(self.batch) else cfg

    def config_id(self) -> str:
        """A short hash of everything that determines a trial's result besides its seed."""
        fields = asdict(self)
        if self.attack not in PUBLIC_DATA_ATTACKS:
            del fields["decoder"]  # read by the learned attacks only
        else:
            if self.aux_items:
                fields["aux_sample"] = "seeded"  # once the first N items: their records differ
            fields["rehearsal_items"] = REHEARSAL_ITEMS  # kept out of the fit since 0.1.0
        for name, default in LATER_DEFAULTS.items():  # fields added later leave old ids alone
            if fields.get(name) == default:
                del fields[name]
        blob = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
