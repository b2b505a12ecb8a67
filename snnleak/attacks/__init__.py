"""Gradient inversion attacks (DLG, iDLG, GRNN) on ANN and SNN victims."""

from snnleak.attacks.config import AttackSpec, DLGConfig, GRNNConfig, LBFGSConfig, Thresholding
from snnleak.attacks.dlg import GradientInversion, infer_label
from snnleak.attacks.grnn import GRNN
from snnleak.attacks.runner import run_trials
from snnleak.attacks.threat import Observation, Reconstruction, observe

__all__ = [
    "GRNN",
    "AttackSpec",
    "DLGConfig",
    "GRNNConfig",
    "GradientInversion",
    "LBFGSConfig",
    "Observation",
    "Reconstruction",
    "Thresholding",
    "infer_label",
    "observe",
    "run_trials",
]
