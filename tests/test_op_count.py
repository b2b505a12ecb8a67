"""The batching guard: an optimiser step of K trials dispatches the same operations at K = 2 and
K = 64. A Python loop over trials inside a step would multiply them by K.

The ops of one step are the difference between a run of two steps and a run of one (set-up,
the per-trial draws and the per-trial results cancel out). The K trials are copies of one
trial, so that every copy takes the same number of evaluation rounds as the single one.

Every op counts between K = 2 and K = 64. K = 1 is not compared: a stacked victim's convolution
of one group takes ATen's own derivatives there (one convolution each already), fewer ops than
the grouped convolution's written-out ones.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from snnleak import data
from snnleak.attacks import DLGConfig, GradientInversion, LBFGSConfig
from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion
from snnleak.attacks.config import Thresholding
from snnleak.attacks.grnn import GRNN, GRNNConfig
from snnleak.attacks.inverting import InvertingConfig, InvertingGradients
from snnleak.attacks.learned import LearnedConfig, LearnedInversion
from snnleak.attacks.proxy import ProxyConfig, SmoothProxy
from snnleak.client import observe
from snnleak.models import LeNet5SNN


class OpCount(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def _observation(events: bool):
    if events:
        x, y = data.load("dvs-synth", "test")[0]
        x = x[:2, :, :32, :32]
        model = LeNet5SNN(tuple(x.shape[1:]), 11, timesteps=2, rng=torch.Generator().manual_seed(0))
        return observe(model, x.unsqueeze(1), torch.tensor([y]), "events")
    x, y = data.load("digits", "test")[0]
    model = LeNet5SNN((1, 28, 28), 10, timesteps=2, rng=torch.Generator().manual_seed(0))
    return observe(model, x.unsqueeze(0), torch.tensor([y]), "image")


def _ops(attack, obs, k: int) -> int:
    with OpCount() as count:
        attack.reconstruct_trials([obs] * k, [torch.Generator().manual_seed(3) for _ in range(k)])
    return count.n


def _ops_per_step(build, obs, k: int) -> int:
    return _ops(build(2), obs, k) - _ops(build(1), obs, k)


CASES = {
    "dlg": (lambda n: GradientInversion(DLGConfig(n, LBFGSConfig(max_iter=4)), False), False),
    "idlg-strong-wolfe": (
        lambda n: GradientInversion(
            DLGConfig(n, LBFGSConfig(max_iter=4, line_search="strong_wolfe")), True
        ),
        False,
    ),
    "idlg-algorithm-2-searched": (
        lambda n: GradientInversion(
            DLGConfig(
                n,
                LBFGSConfig(max_iter=4, line_search="strong_wolfe"),
                threshold=Thresholding(0.5, "in"),
            ),
            True,
        ),
        True,
    ),
    "grnn": (lambda n: GRNN(GRNNConfig(rmsprop_steps=n)), False),
    "ig": (
        lambda n: InvertingGradients(InvertingConfig(adam_steps=n, restarts=1, on="proxy")),
        False,
    ),
    "analytic": (  # its feature inversion's steps: one more feature step
        lambda n: AnalyticInversion(
            AnalyticConfig(
                feature_steps=n,
                proxy=ProxyConfig(alphas=(1.0,), stage_steps=1, polish_steps=1, max_iter=3),
            )
        ),
        False,
    ),
    "learned-proxy": (  # the decoders are fitted and applied before any step
        lambda n: LearnedInversion(
            LearnedConfig(
                aux_items=16,
                decoder="ridge",
                then_proxy=True,
                proxy=ProxyConfig(alphas=(1.0,), stage_steps=1, polish_steps=n, max_iter=3),
            ),
            data.load("digits", "train"),
        ),
        False,
    ),
    "proxy": (  # the proxy's steps: one more polish step
        lambda n: SmoothProxy(
            ProxyConfig(alphas=(1.0,), stage_steps=1, polish_steps=n, max_iter=3)
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_step_dispatches_the_same_ops_at_every_k(name):
    build, events = CASES[name]
    obs = _observation(events)
    _ops(build(1), obs, 1)  # what is cached in the process (a decoder's fit) is cached
    two, many = _ops_per_step(build, obs, 2), _ops_per_step(build, obs, 64)
    assert two > 0
    assert many == two, f"{name}: {two} ops per step at K=2, {many} at K=64"


def test_the_guard_sees_a_python_loop_over_trials():
    """The counter is not blind: solo trials one after another grow with K."""
    obs = _observation(False)
    attack = GradientInversion(DLGConfig(1, LBFGSConfig(max_iter=2)), True)
    with OpCount() as one:
        attack.reconstruct(obs, torch.Generator().manual_seed(3))
    with OpCount() as three:
        for _ in range(3):
            attack.reconstruct(obs, torch.Generator().manual_seed(3))
    assert three.n == 3 * one.n > 0
