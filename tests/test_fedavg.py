"""FedAvg clients: the local-step simulation against a hand-run FedAvg update, and the attack on
a multi-step update (simulated and approximated)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from snnleak import data
from snnleak.attacks import LBFGSConfig, spec_of
from snnleak.errors import ConfigError
from snnleak.gradients import parameter_gradients
from snnleak.local_training import LocalTraining, pseudo_gradient
from snnleak.models import LeNet, LeNet5SNN
from snnleak.neurons import NeuronParams
from snnleak.trials.runner import run_trials


def _batch(n=5):
    split = data.load("digits", "train")
    x = torch.stack([split[i][0] for i in range(n)]).double()
    y = torch.tensor([split[i][1] for i in range(n)])
    return x, y


def _models():
    g = torch.Generator().manual_seed(0)
    yield LeNet((1, 28, 28), 10, rng=g).double()
    yield LeNet5SNN((1, 28, 28), 10, 3, NeuronParams("if"), "fused", rng=g).double()


@pytest.mark.parametrize("model", list(_models()), ids=["ann", "snn"])
@pytest.mark.parametrize("cfg", [LocalTraining(3, 2, 0.05), LocalTraining(2, 0, 0.1)], ids=str)
def test_the_simulation_equals_a_hand_run_fedavg_update(model, cfg):
    x, y = _batch()
    client = copy.deepcopy(model).train()
    opt = torch.optim.SGD(client.parameters(), lr=cfg.lr)
    size, steps = cfg.mini_batch(len(y)), 0
    for _ in range(cfg.epochs):
        for start in range(0, len(y), size):
            opt.zero_grad()
            F.cross_entropy(client(x[start : start + size]), y[start : start + size]).backward()
            opt.step()
            steps += 1
    assert steps == cfg.steps(len(y))
    want = [
        (a - b) / (cfg.lr * steps)
        for a, b in zip(model.parameters(), client.parameters(), strict=True)
    ]
    got = pseudo_gradient(model.train(), x, y, "image", cfg)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w.detach(), rtol=1e-6, atol=1e-9)


def test_one_full_batch_step_is_the_gradient():
    model = next(_models()).train()
    x, y = _batch(4)
    cfg = LocalTraining(1, 0, 0.3)
    assert cfg.single_step(4)
    for g, w in zip(
        pseudo_gradient(model, x, y, "image", cfg), parameter_gradients(model, x, y), strict=True
    ):
        torch.testing.assert_close(g, w)


def test_the_spec_says_fedsgd_or_fedavg():
    assert spec_of("idlg", "ann", "digits").client.local_training() is None
    assert spec_of("idlg", "ann", "digits", batch=4, local_batch=4).client.local_training() is None
    fedavg = spec_of("idlg", "ann", "digits", batch=4, local_batch=2).client.local_training()
    assert fedavg == LocalTraining(1, 2, 0.1) and fedavg.steps(4) == 2
    with pytest.raises(ConfigError, match="--local-lr"):
        spec_of("idlg", "ann", "digits", local_lr=0.0)
    with pytest.raises(ConfigError, match="--update-attack"):
        spec_of("idlg", "ann", "digits", update_attack="guess")


def test_simulating_the_local_steps_reconstructs_a_fedavg_client(tmp_path):
    common = dict(
        iterations=40,
        local_epochs=4,
        local_lr=0.05,
        lbfgs=LBFGSConfig(line_search="strong_wolfe"),
        loss_norm="global",
    )
    spec = spec_of("idlg", "ann", "digits", update_attack="simulate", **common)
    records = run_trials(spec, 2, 0, tmp_path / "sim", judge=None)
    assert all(r["label_correct"] for r in records)
    assert all(r["ssim"] > 0.9 for r in records)  # an ANN must reconstruct
