"""From an :class:`~snnleak.attacks.config.AttackSpec` to the attack it names: one builder per
name in a registry (:data:`BUILDERS`), each making the attack's own typed configuration of the
attacker's settings. The settings' one step count goes to the count each attack names for what
it counts (DLG's ``lbfgs_steps``, GRNN's ``rmsprop_steps``, the proxy's ``stage_steps``, Inverting
Gradients' ``adam_steps``); ``None`` keeps each attack's own default.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from snnleak import data
from snnleak.attacks.base import Attack
from snnleak.attacks.config import AttackSpec
from snnleak.errors import ConfigError

# the field of each attack's own configuration that the settings' step count sets
STEP_FIELDS = {
    "dlg": "lbfgs_steps",
    "idlg": "lbfgs_steps",
    "grnn": "rmsprop_steps",
    "proxy": "stage_steps",
    "ig": "adam_steps",
}


def _steps(spec: AttackSpec, name: str) -> dict:
    steps = spec.settings.steps
    return {} if steps is None else {name: steps}


def _dlg(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.dlg import DLGConfig, GradientInversion

    a = spec.settings
    cfg = DLGConfig(
        lbfgs=a.lbfgs,
        threshold=a.threshold,
        loss_norm=a.loss_norm,
        update_attack=a.update_attack,
        clamp=a.clamp,
        **_steps(spec, STEP_FIELDS["dlg"]),
    )
    return GradientInversion(cfg, infer_label=spec.attack == "idlg")


def _grnn(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.grnn import GRNN, GRNNConfig

    a = spec.settings
    cfg = GRNNConfig(
        threshold=a.threshold,
        wasserstein=a.grnn_wasserstein,
        generator=a.grnn_generator,
        **_steps(spec, STEP_FIELDS["grnn"]),
    )
    return GRNN(cfg)


def _proxy_config(spec: AttackSpec):
    from snnleak.attacks.proxy import ProxyConfig

    return ProxyConfig(
        threshold=spec.settings.threshold,
        max_iter=spec.settings.lbfgs.max_iter,
        polish_steps=20,
        **_steps(spec, STEP_FIELDS["proxy"]),
    )


def _proxy(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.proxy import SmoothProxy

    return SmoothProxy(_proxy_config(spec))


def _analytic(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion

    return AnalyticInversion(AnalyticConfig(proxy=_proxy_config(spec)))


def _inverting(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.inverting import InvertingConfig, InvertingGradients

    return InvertingGradients(
        InvertingConfig(threshold=spec.settings.threshold, **_steps(spec, STEP_FIELDS["ig"]))
    )


def check_public(spec: AttackSpec, public: data.Split) -> None:
    """One clear error when the learned attacks ask for more public items than there are."""
    from snnleak.attacks.learned import fit_pool

    if spec.settings.aux_items > fit_pool(len(public)):
        raise ConfigError(
            f"--aux-items {spec.settings.aux_items}: the attacker's public split of {spec.dataset} "
            f"holds {fit_pool(len(public))} items besides its rehearsal items; pass at most "
            "that, or 0 for all of them"
        )


def public_of(spec: AttackSpec, root=None) -> data.Split:
    """The attacker's public split: the other split, disjoint from the victims' items; a
    rehearsal attacks the attacker's own items, so its public split is its own."""
    if spec.rehearsal:
        return data.load(spec.dataset, spec.split, root=root)
    return data.public_split(spec.dataset, spec.split, root=root)


def _learned(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.learned import LearnedConfig, LearnedInversion, fit_pool

    public = public if public is not None else public_of(spec)
    check_public(spec, public)
    cfg = LearnedConfig(
        aux_items=spec.settings.aux_items or fit_pool(len(public)),
        decoder=spec.settings.decoder,
        then_proxy=spec.attack == "learned-proxy",
        proxy=_proxy_config(spec),
    )
    return LearnedInversion(cfg, public, cache)


BUILDERS: dict[str, Callable[[AttackSpec, data.Split | None, Path | None], Attack]] = {
    "dlg": _dlg,
    "idlg": _dlg,
    "grnn": _grnn,
    "proxy": _proxy,
    "ig": _inverting,
    "analytic": _analytic,
    "learned": _learned,
    "learned-proxy": _learned,
}


def build_attack(
    spec: AttackSpec, public: data.Split | None = None, cache: Path | None = None
) -> Attack:
    """The attack ``spec`` names. ``public``: the attacker's public split, which the learned
    attacks train on (default: the other split of an embedded set); ``cache``: a folder where
    they keep their decoder fits across runs (None: in this process only)."""
    return BUILDERS[spec.attack](spec, public, cache)
