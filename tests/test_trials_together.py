"""Trials run together: each row of the row-wise L-BFGS is torch's L-BFGS; K trials run together
give each trial the result of its solo run (to float tolerance: the batched convolutions round
differently, and L-BFGS amplifies rounding, so runs are kept short)."""

import math

import pytest
import torch
from reference_analytic import reference_analytic
from reference_dlg import reference_dlg
from reference_inverting import reference_inverting
from reference_proxy import reference_proxy

from snnleak import data
from snnleak.attacks import DLGConfig, GradientInversion, LBFGSConfig, spec_of
from snnleak.attacks.config import Thresholding
from snnleak.attacks.lbfgs import RowLBFGS
from snnleak.client import observe
from snnleak.models import LeNet, LeNet5SNN
from snnleak.models.stacked import StackedLeNet
from snnleak.trials.runner import run_trials


def _rosenbrock(v):
    return (100 * (v[..., 1:] - v[..., :-1] ** 2) ** 2 + (1 - v[..., :-1]) ** 2).sum(-1)


LBFGS_CASES = [
    LBFGSConfig(),
    LBFGSConfig(line_search="strong_wolfe"),
    LBFGSConfig(lr=0.5, max_iter=7, history_size=3),
    LBFGSConfig(lr=0.5, max_iter=7, history_size=3, line_search="strong_wolfe"),
    LBFGSConfig(max_iter=1, line_search="strong_wolfe"),
]


@pytest.mark.parametrize("cfg", LBFGS_CASES, ids=lambda c: f"{c.line_search}-{c.max_iter}")
def test_row_lbfgs_is_torch_lbfgs_on_every_row(cfg):
    """Each row follows its own torch.optim.LBFGS: the same branches (evaluation counts) and,
    in float64, the same iterates to rounding (the batched dot products sum in another
    order; L-BFGS amplifies that over many steps, so the iterates are compared early)."""
    v0 = torch.randn(5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = v0.clone()
    opt = RowLBFGS(v, cfg)

    def evaluate(rows):
        leaf = (v if rows is None else v[rows]).detach().clone().requires_grad_()
        loss = _rosenbrock(leaf)
        (g,) = torch.autograd.grad(loss.sum(), leaf)
        return loss.detach(), g

    solo = []
    for row in v0:
        p = row.clone().requires_grad_()
        solo.append((p, torch.optim.LBFGS([p], **cfg.kwargs())))
    for _ in range(2):
        start = opt.step(evaluate)
        for i, (p, o) in enumerate(solo):

            def closure(p=p, o=o):
                o.zero_grad()
                loss = _rosenbrock(p)
                loss.backward()
                return loss.detach()

            assert float(o.step(closure)) == pytest.approx(float(start[i]), rel=1e-9, abs=1e-12)
            torch.testing.assert_close(v[i], p.detach(), rtol=0, atol=1e-6)
    assert opt.func_evals.tolist() == [o.state[p]["func_evals"] for p, o in solo]


def test_row_lbfgs_steps_only_the_active_rows_and_evaluates_only_the_running_ones():
    v0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    v, asked = v0.clone(), []
    opt = RowLBFGS(v, LBFGSConfig(max_iter=6, line_search="strong_wolfe"))

    def evaluate(rows):
        asked.append(None if rows is None else rows.tolist())
        leaf = (v if rows is None else v[rows]).detach().clone().requires_grad_()
        loss = _rosenbrock(leaf)
        return loss.detach(), torch.autograd.grad(loss.sum(), leaf)[0]

    for _ in range(3):
        opt.step(evaluate, torch.tensor([True, False, True, True]))
    assert torch.equal(v[1], v0[1]) and not torch.equal(v[0], v0[0])
    # every round after a step's first asks for the running trials only, never the idle one
    assert all(rows is None or 1 not in rows for rows in asked)
    assert sum(rows is None for rows in asked) == 3
    assert opt.func_evals[1] == 0 and (opt.func_evals[[0, 2, 3]] > 3).all()


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


WOLFE = LBFGSConfig(max_iter=5, line_search="strong_wolfe")


def _observations(cls, dtype=torch.float64, batch=1, **kw):
    if cls == "events":  # dvs-synth cropped to 32x32, T = 3
        split, out = data.load("dvs-synth", "test"), []
        for i in range(3):
            x, y = split[i]
            x = x[:3, :, :32, :32].to(dtype)
            m = LeNet5SNN(x.shape[1:], 11, timesteps=3, rng=torch.Generator().manual_seed(i))
            out.append(observe(m.to(dtype), x.unsqueeze(1), torch.tensor([y]), "events"))
        return out
    split = data.load("digits", "test")
    out = []
    for i in range(3):  # a client batch of `batch` items
        items = [split[i * batch + j] for j in range(batch)]
        x = torch.stack([x for x, _ in items]).to(dtype)
        m = cls((1, 28, 28), 10, rng=torch.Generator().manual_seed(i), **kw).to(dtype)
        out.append(observe(m, x, torch.tensor([y for _, y in items]), "image"))
    return out


@pytest.mark.parametrize(
    ("cls", "kw", "infer", "cfg"),
    [
        (
            LeNet5SNN,
            {"timesteps": 4, "backend": "fused"},
            False,
            DLGConfig(lbfgs_steps=2, lbfgs=LBFGSConfig(max_iter=5)),
        ),
        (
            LeNet5SNN,
            {"timesteps": 4, "backend": "reference"},
            True,
            DLGConfig(lbfgs_steps=2, lbfgs=LBFGSConfig(max_iter=5)),
        ),
        (LeNet, {}, True, DLGConfig(lbfgs_steps=2, lbfgs=LBFGSConfig(max_iter=5))),
        (LeNet, {}, True, DLGConfig(lbfgs_steps=2, lbfgs=WOLFE)),
        (LeNet5SNN, {"timesteps": 4, "backend": "fused"}, False, DLGConfig(2, WOLFE)),
        ("events", {}, True, DLGConfig(3, WOLFE, threshold=Thresholding(0.5, "in"))),
        ("events", {}, False, DLGConfig(3, LBFGSConfig(max_iter=5), Thresholding(0.5, "in"))),
    ],
    ids=[
        "dlg-snn-fused",
        "idlg-snn-reference",
        "idlg-ann",
        "idlg-ann-strong-wolfe",
        "dlg-snn-strong-wolfe",
        "idlg-events-algorithm-2-searched",
        "dlg-events-algorithm-2",
    ],
)
def test_k_trials_and_each_single_trial_equal_the_reference(cls, kw, infer, cfg):
    """K trials together, and each trial alone (K = 1), equal the plain torch.optim.LBFGS
    attack (tests/reference_dlg.py) trial by trial."""
    obs = _observations(cls, **kw)
    solo = [
        reference_dlg(cfg, infer, o, torch.Generator().manual_seed(10 + i))
        for i, o in enumerate(obs)
    ]
    gens = [torch.Generator().manual_seed(10 + i) for i in range(3)]
    batched = GradientInversion(cfg, infer).reconstruct_trials(obs, gens)
    _assert_same_trials(solo, batched, spiking=cls is not LeNet)
    single = GradientInversion(cfg, infer).reconstruct(obs[0], torch.Generator().manual_seed(10))
    _assert_same_trials(solo[:1], [single], spiking=cls is not LeNet)
    if cfg.threshold is None or cfg.lbfgs.line_search != "none":  # the plain Algorithm 2 may rise
        assert min(a.losses[-1] / a.losses[0] for a in solo) < 1


def test_runner_runs_trials_together_and_records_them(tmp_path):
    spec = spec_of(
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


@pytest.mark.parametrize(
    ("cls", "kw"),
    [(LeNet5SNN, {"timesteps": 4, "backend": "fused"}), (LeNet, {}), (LeNet, {"batch": 2})],
)
def test_proxy_k_trials_and_each_single_trial_equal_the_reference(cls, kw):
    from snnleak.attacks.proxy import ProxyConfig, SmoothProxy

    obs = _observations(cls, **kw)
    cfg = ProxyConfig(alphas=(1.0, 2.0), stage_steps=2, polish_steps=2, max_iter=5)
    solo = [
        reference_proxy(cfg, o, torch.Generator().manual_seed(5 + i)) for i, o in enumerate(obs)
    ]
    attack = SmoothProxy(cfg)
    batched = attack.reconstruct_trials(
        obs, [torch.Generator().manual_seed(5 + i) for i in range(3)]
    )
    _assert_same_trials(solo, batched, spiking=cls is not LeNet)
    single = attack.reconstruct(obs[0], torch.Generator().manual_seed(5))
    _assert_same_trials(solo[:1], [single], spiking=cls is not LeNet)
    assert min(a.losses[-1] / a.losses[0] for a in solo) < 1


@pytest.mark.parametrize("on", ["victim", "proxy"])
def test_inverting_k_trials_and_each_single_trial_equal_the_reference(on):
    from snnleak.attacks.inverting import InvertingConfig, InvertingGradients

    obs = _observations(LeNet5SNN, timesteps=4, backend="fused")
    cfg = InvertingConfig(adam_steps=6, restarts=2, on=on)
    solo = [
        reference_inverting(cfg, o, torch.Generator().manual_seed(5 + i)) for i, o in enumerate(obs)
    ]
    attack = InvertingGradients(cfg)
    batched = attack.reconstruct_trials(
        obs, [torch.Generator().manual_seed(5 + i) for i in range(3)]
    )
    _assert_same_trials(solo, batched, spiking=on == "victim")
    single = attack.reconstruct(obs[0], torch.Generator().manual_seed(5))
    _assert_same_trials(solo[:1], [single], spiking=on == "victim")


def _assert_same_trials(solo, batched, spiking=False):
    """Solo and batched trials are the same computation. On a smooth victim (an ANN) the whole
    trajectory agrees to float rounding. On a spiking victim a batched reduction that rounds
    differently can flip one spike a few steps in, and the optimisation amplifies it, on one
    CPU and not on the next: there the first recorded loss must agree (the first evaluation,
    or the end of a smooth stage such as the analytic attack's feature inversion), and the
    rest by what holds on any CPU (same labels, finite losses, the same shape)."""
    for a, b in zip(solo, batched, strict=True):
        assert torch.equal(a.label, b.label) and a.x.shape == b.x.shape
        if spiking:
            assert a.losses[0] == pytest.approx(b.losses[0], rel=1e-6)
            assert all(map(math.isfinite, a.losses + b.losses))
            continue
        assert a.steps == b.steps and a.diverged == b.diverged
        assert a.losses == pytest.approx(b.losses, rel=1e-6)
        torch.testing.assert_close(b.x, a.x, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(b.best_x, a.best_x, rtol=1e-6, atol=1e-6)


class _Tiny(torch.nn.Module):  # a plug-in victim: no LeNet, so no stacking
    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.timesteps = None
        self.conv = torch.nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(torch.sigmoid(self.conv(x)).flatten(1))


def _any_victims(kind):
    """Three observations of victims the stacked evaluator does not serve."""
    from snnleak.local_training import LocalTraining

    split, out = data.load("digits", "test"), []
    batch = 4 if kind == "batch-4" else 1
    for i in range(3):
        items = [split[i * batch + j] for j in range(batch)]
        x = torch.stack([x for x, _ in items]).double()
        y = torch.tensor([y for _, y in items])
        g = torch.Generator().manual_seed(i)
        local = LocalTraining(epochs=2, batch=0, lr=0.1) if kind == "fedavg" else None
        if kind == "plugin":
            model = _Tiny(i).double()
        elif kind == "poisson":
            model = LeNet5SNN((1, 28, 28), 10, timesteps=3, rng=g, encoding="poisson").double()
        else:
            model = LeNet((1, 28, 28), 10, rng=g).double()
        out.append(observe(model, x, y, "image", local=local))
    return out


@pytest.mark.parametrize("kind", ["plugin", "fedavg", "batch-4", "poisson"])
@pytest.mark.parametrize("infer", [True, False], ids=["idlg", "dlg"])
def test_k_trials_on_any_victim_equal_the_reference(kind, infer):
    """Victims the stacked LeNets do not serve (a plug-in, a FedAvg client whose local steps
    the attack simulates, a client batch of 4, a rate-coded SNN) run K trials together through
    the one-by-one evaluator, each equal to the plain reference."""
    from snnleak.attacks.victims import EachVictim, stack_victims

    cfg = DLGConfig(lbfgs_steps=2, lbfgs=LBFGSConfig(max_iter=4))
    obs = _any_victims(kind)
    if kind != "batch-4":
        assert isinstance(stack_victims(obs, update_attack=cfg.update_attack), EachVictim)
    solo = [
        reference_dlg(cfg, infer, o, torch.Generator().manual_seed(3 + i))
        for i, o in enumerate(obs)
    ]
    gens = [torch.Generator().manual_seed(3 + i) for i in range(3)]
    batched = GradientInversion(cfg, infer).reconstruct_trials(_any_victims(kind), gens)
    _assert_same_trials(solo, batched, spiking=kind == "poisson")


@pytest.mark.parametrize(
    ("cls", "kw"), [(LeNet5SNN, {"timesteps": 4, "backend": "fused"}), (LeNet, {})]
)
def test_analytic_k_trials_and_each_single_trial_equal_the_reference(cls, kw):
    from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion
    from snnleak.attacks.proxy import ProxyConfig

    obs = _observations(cls, **kw)
    proxy = ProxyConfig(alphas=(1.0, 2.0), stage_steps=2, polish_steps=2, max_iter=5)
    cfg = AnalyticConfig(feature_steps=3, proxy=proxy)
    solo = [
        reference_analytic(cfg, o, torch.Generator().manual_seed(5 + i)) for i, o in enumerate(obs)
    ]
    attack = AnalyticInversion(cfg)
    batched = attack.reconstruct_trials(
        obs, [torch.Generator().manual_seed(5 + i) for i in range(3)]
    )
    _assert_same_trials(solo, batched, spiking=cls is not LeNet)
    single = attack.reconstruct(obs[0], torch.Generator().manual_seed(5))
    _assert_same_trials(solo[:1], [single], spiking=cls is not LeNet)
    assert min(a.losses[-1] / a.losses[0] for a in solo) < 1


def test_stacked_features_are_each_trials_last_layer_input():
    from snnleak.attacks.victims import model_features

    obs = _observations(LeNet5SNN, timesteps=3, backend="fused")
    x = torch.rand(3, 2, 1, 28, 28, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = StackedLeNet([o.model for o in obs]).features(x)
    for i, o in enumerate(obs):
        torch.testing.assert_close(got[i], model_features(o.model, x[i], 2))


@pytest.mark.parametrize("then_proxy", [False, True])
@pytest.mark.parametrize("batch", [1, 2])
def test_learned_k_trials_equal_solo_trials(then_proxy, batch):
    from snnleak.attacks.learned import LearnedConfig, LearnedInversion
    from snnleak.attacks.proxy import ProxyConfig

    obs = _observations(LeNet5SNN, batch=batch, timesteps=3, backend="fused")
    proxy = ProxyConfig(alphas=(1.0,), stage_steps=2, polish_steps=1, max_iter=5)
    cfg = LearnedConfig(aux_items=32, decoder="ridge", then_proxy=then_proxy, proxy=proxy)
    attack = LearnedInversion(cfg, data.load("digits", "train"))
    solo = [attack.reconstruct(o, torch.Generator().manual_seed(5 + i)) for i, o in enumerate(obs)]
    batched = attack.reconstruct_trials(
        obs, [torch.Generator().manual_seed(5 + i) for i in range(3)]
    )
    _assert_same_trials(solo, batched, spiking=then_proxy)
    assert [r.details for r in solo] == [r.details for r in batched]
