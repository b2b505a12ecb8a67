"""From an :class:`~snnleak.attacks.config.AttackSpec` to the attack it names: one builder per
name in a registry (:data:`BUILDERS`), each building the attack's own typed configuration.

``iterations`` is DLG/iDLG/GRNN's optimiser steps, the proxy's steps per continuation stage and
Inverting Gradients' Adam steps; ``None`` keeps each attack's own default.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from snnleak import data
from snnleak.attacks.base import Attack
from snnleak.attacks.config import AttackSpec, DLGConfig, GRNNConfig
from snnleak.errors import ConfigError


def _steps(spec: AttackSpec, name: str = "iterations") -> dict:
    return {} if spec.iterations is None else {name: spec.iterations}


def _dlg(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.dlg import GradientInversion

    cfg = DLGConfig(
        lbfgs=spec.lbfgs,
        threshold=spec.threshold,
        loss_norm=spec.loss_norm,
        update_attack=spec.update_attack,
        clamp=spec.clamp,
        **_steps(spec),
    )
    return GradientInversion(cfg, infer_label=spec.attack == "idlg")


def _grnn(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.grnn import GRNN

    cfg = GRNNConfig(
        threshold=spec.threshold,
        wasserstein=spec.grnn_wasserstein,
        generator=spec.grnn_generator,
        **_steps(spec),
    )
    return GRNN(cfg)


def _proxy_config(spec: AttackSpec):
    from snnleak.attacks.proxy import ProxyConfig

    return ProxyConfig(
        threshold=spec.threshold,
        max_iter=spec.lbfgs.max_iter,
        polish_steps=20,
        **_steps(spec, "stage_steps"),
    )


def _proxy(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.proxy import SmoothProxy

    return SmoothProxy(_proxy_config(spec))


def _analytic(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion

    return AnalyticInversion(AnalyticConfig(proxy=_proxy_config(spec)))


def _inverting(spec: AttackSpec, public, cache) -> Attack:
    from snnleak.attacks.inverting import InvertingConfig, InvertingGradients

    return InvertingGradients(InvertingConfig(threshold=spec.threshold, **_steps(spec)))


def check_public(spec: AttackSpec, public: data.Split) -> None:
    """One clear error when the learned attacks ask for more public items than there are."""
    from snnleak.attacks.learned import fit_pool

    if spec.aux_items > fit_pool(len(public)):
        raise ConfigError(
            f"--aux-items {spec.aux_items}: the attacker's public split of {spec.dataset} "
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
        aux_items=spec.aux_items or fit_pool(len(public)),
        decoder=spec.decoder,
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
