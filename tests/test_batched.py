"""Batched trials: the per-trial L-BFGS is torch's, bitwise; K trials run together give each
trial the result of its solo run (to float tolerance: the batched convolutions round
differently, and L-BFGS amplifies rounding, so runs are kept short)."""

import pytest
import torch

from snnleak import data
from snnleak.attacks import AttackSpec, DLGConfig, GradientInversion, LBFGSConfig
from snnleak.attacks.batched import BatchedGradientInversion
from snnleak.attacks.lbfgs import TrialLBFGS, run_step
from snnleak.client import observe
from snnleak.errors import ConfigError
from snnleak.models import LeNet, LeNet5SNN
from snnleak.models.stacked import StackedLeNet
from snnleak.trials.runner import run_trials


def _rosenbrock(v):
    return (100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2).sum()


@pytest.mark.parametrize("cfg", [LBFGSConfig(), LBFGSConfig(lr=0.5, max_iter=7, history_size=3)])
def test_trial_lbfgs_is_bitwise_torch_lbfgs(cfg):
    v0 = torch.tensor([-1.2, 1.0, 0.5, -0.3, 2.0, 1.1], dtype=torch.float64)
    p = v0.clone().requires_grad_()
    opt = torch.optim.LBFGS([p], **cfg.kwargs())

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(p)
        loss.backward()
        return loss.detach()

    v = v0.clone()
    trial = TrialLBFGS(v, cfg)

    def evaluate():
        leaf = v.detach().clone().requires_grad_()
        loss = _rosenbrock(leaf)
        (g,) = torch.autograd.grad(loss, leaf)
        return loss.detach().reshape(1), g.reshape(1, -1)

    for _ in range(30):
        assert float(opt.step(closure)) == run_step([trial], [True], evaluate)[0]
        assert torch.equal(p.detach(), v)
    assert trial.state["func_evals"] == opt.state[p]["func_evals"]
    assert _rosenbrock(v) < 1e-3


@pytest.mark.parametrize("events", [False, True])
def test_stacked_victims_equal_separate_ones(events):
    shape, t = ((2, 16, 16), 3) if events else ((1, 16, 16), 4)
    models = [
        LeNet5SNN(shape, 5, timesteps=t, rng=torch.Generator().manual_seed(i)).double()
        for i in range(3)
    ]
    x = (
        torch.rand(t, 3, 2, *shape, dtype=torch.float64)
        if events
        else torch.rand(3, 2, *shape, dtype=torch.float64)
    )
    out = StackedLeNet(models)(x)
    for k, m in enumerate(models):
        torch.testing.assert_close(out[k], m(x[:, k] if events else x[k]), rtol=0, atol=1e-12)


def _observations(cls, dtype=torch.float64, **kw):
    split = data.load("digits", "test")
    out = []
    for i in range(3):
        x, y = split[i]
        m = cls((1, 28, 28), 10, rng=torch.Generator().manual_seed(i), **kw).to(dtype)
        out.append(observe(m, x.unsqueeze(0).to(dtype), torch.tensor([y]), "image"))
    return out


@pytest.mark.parametrize(
    ("cls", "kw", "infer", "cfg"),
    [
        (
            LeNet5SNN,
            {"timesteps": 4, "backend": "fused"},
            False,
            DLGConfig(iterations=2, lbfgs=LBFGSConfig(max_iter=5)),
        ),
        (
            LeNet5SNN,
            {"timesteps": 4, "backend": "reference"},
            True,
            DLGConfig(iterations=2, lbfgs=LBFGSConfig(max_iter=5)),
        ),
        (LeNet, {}, True, DLGConfig(iterations=2, lbfgs=LBFGSConfig(max_iter=5))),
    ],
    ids=["dlg-snn-fused", "idlg-snn-reference", "idlg-ann"],
)
def test_batched_trials_equal_solo_trials(cls, kw, infer, cfg):
    obs = _observations(cls, **kw)
    gens = [torch.Generator().manual_seed(10 + i) for i in range(3)]
    solo = [GradientInversion(cfg, infer).reconstruct(o, g) for o, g in zip(obs, gens, strict=True)]
    gens = [torch.Generator().manual_seed(10 + i) for i in range(3)]
    batched = BatchedGradientInversion(cfg, infer).reconstruct(obs, gens)
    for a, b in zip(solo, batched, strict=True):
        assert a.steps == b.steps and len(a.losses) == len(b.losses)
        assert a.losses == pytest.approx(b.losses, rel=1e-6)
        torch.testing.assert_close(b.x, a.x, rtol=1e-6, atol=1e-6)
        assert torch.equal(a.label, b.label)
    assert solo[0].losses[-1] < solo[0].losses[0]


def test_runner_batches_trials_and_records_them(tmp_path):
    spec = AttackSpec(
        "idlg",
        "snn",
        "digits",
        backend="fused",
        timesteps=2,
        iterations=1,
        lbfgs=LBFGSConfig(max_iter=2),
    )
    solo = run_trials(spec, 4, 0, tmp_path / "solo", judge=None)
    batched = run_trials(spec, 4, 0, tmp_path / "batched", judge=None, batch_trials=3)
    assert [r["sample_index"] for r in solo] == [r["sample_index"] for r in batched]
    assert [r["batch_trials"] for r in batched] == [3, 3, 3, 1]
    for a, b in zip(solo, batched, strict=True):
        assert a["recovered_label"] == b["recovered_label"]
        assert a["mse"] == pytest.approx(b["mse"], rel=1e-3, abs=1e-6)


def test_an_unbatched_attack_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"--batch-trials applies to .*grnn.*run ig with"):
        run_trials(AttackSpec("ig", "ann", "digits"), 2, 0, tmp_path, judge=None, batch_trials=2)


def test_attack_cli_accepts_batch_trials(tmp_path):
    from click.testing import CliRunner

    from snnleak.cli import cli

    args = [
        "attack",
        "--attack",
        "idlg",
        "--model",
        "ann",
        "--dataset",
        "digits",
        "--samples",
        "3",
        "--iterations",
        "1",
        "--batch-trials",
        "2",
        "--cache-dir",
        str(tmp_path / "c"),
        "--out",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    records = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
    assert len(records) == 3 and '"batch_trials": 2' in records[0]
