"""Gradient inversion attacks on ANN and SNN victims: the paper's (DLG, iDLG, GRNN) and the
adaptive ones (smooth proxy, Inverting Gradients, analytic features, learned decoders).

Every attack follows :class:`~snnleak.attacks.base.Attack`: it sees an
:class:`~snnleak.threat.Observation` and returns a :class:`~snnleak.threat.Reconstruction`.
:func:`~snnleak.attacks.factory.build_attack` builds the one an
:class:`~snnleak.attacks.config.AttackSpec` names.
"""

from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion
from snnleak.attacks.base import Attack, TrialsAttack, reconstruct_many
from snnleak.attacks.config import (
    ATTACK_KINDS,
    ATTACKS,
    AttackSettings,
    AttackSpec,
    LBFGSConfig,
    Thresholding,
    spec_of,
)
from snnleak.attacks.dlg import DLGConfig, GradientInversion
from snnleak.attacks.factory import build_attack
from snnleak.attacks.grnn import GRNN, GRNNConfig
from snnleak.attacks.inverting import InvertingConfig, InvertingGradients
from snnleak.attacks.learned import LearnedConfig, LearnedInversion
from snnleak.attacks.primitives import infer_label, initial_dummy
from snnleak.attacks.proxy import ProxyConfig, SmoothProxy

__all__ = [
    "ATTACKS",
    "ATTACK_KINDS",
    "GRNN",
    "AnalyticConfig",
    "AnalyticInversion",
    "Attack",
    "AttackSettings",
    "AttackSpec",
    "DLGConfig",
    "GRNNConfig",
    "GradientInversion",
    "InvertingConfig",
    "InvertingGradients",
    "LBFGSConfig",
    "LearnedConfig",
    "LearnedInversion",
    "ProxyConfig",
    "SmoothProxy",
    "Thresholding",
    "TrialsAttack",
    "build_attack",
    "infer_label",
    "initial_dummy",
    "reconstruct_many",
    "spec_of",
]
