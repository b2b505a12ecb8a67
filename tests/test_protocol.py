"""The paper's protocol, faithfully: the published GRNN generator, last and best iterates,
convergence records, loss normalisation, the optimiser sweep's choice, Table II, the LFW
judge's ImageNet requirement."""

import math
import tomllib
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner
from reference_dlg import reference_dlg

from snnleak import data
from snnleak.attacks import (
    DLGConfig,
    GradientInversion,
    LBFGSConfig,
    spec_of,
)
from snnleak.attacks.grnn import GLUGenerator
from snnleak.attacks.iterates import IterateTracker, convergence
from snnleak.cli import cli
from snnleak.client import observe
from snnleak.errors import ConfigError
from snnleak.gradients import dummy_gradients, gradient_distance, layer_weights
from snnleak.judges import JudgeCheckpointError, load_judge
from snnleak.models import LeNet
from snnleak.reproduce import Run, load_preset, reproduce
from snnleak.reproduce import sweep as sweeping
from snnleak.reproduce.plan import table4_cells, table5_cells
from snnleak.reproduce.preset import PRESETS, Optimiser, SweepPlan, parse_preset
from snnleak.reproduce.sweep import SWEEP_GRID, sweep_spec
from snnleak.reproduce.tables import table2
from snnleak.trials.records import trial_key
from snnleak.trials.runner import run_trials


def test_the_grnn_generator_has_the_published_layer_shapes():
    """Ren et al.'s Generator(num_classes=100, shape_img=32, channel=3, g_in=128, d=32)."""
    gen = GLUGenerator((3, 32, 32), 100, 128, events=False)
    shapes = [tuple(p.shape) for p in gen.parameters()]
    assert shapes == [
        (100, 128),  # fc2: Linear(g_in, num_classes)
        (100,),
        (128, 256, 4, 4),  # block0: ConvTranspose2d(g_in, d * 2^2 * 2, 4, 1, 0) + GLU
        (256,),
        (128, 128, 3, 3),  # upBlock(128 -> 64): conv3x3(128, 64 * 2, bias=False), BN(128)
        (128,),
        (128,),
        (64, 64, 3, 3),  # upBlock(64 -> 32)
        (64,),
        (64,),
        (6, 32, 3, 3),  # deconv_out = upBlock(32 -> 3)
        (6,),
        (6,),
    ]
    sizes, h = [], gen.seed(torch.randn(1, 128).view(1, 128, 1, 1))
    sizes.append(tuple(h.shape))
    for block in gen.blocks:
        h = block(h)
        sizes.append(tuple(h.shape))
    sizes.append(tuple(gen.out(h).shape))
    assert sizes == [(1, 128, 4, 4), (1, 64, 8, 8), (1, 32, 16, 16), (1, 3, 32, 32)]
    x, probs = gen(torch.randn(2, 128))
    assert x.shape == (2, 3, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert probs.shape == (2, 100) and torch.allclose(probs.sum(-1), torch.ones(2))
    # other sizes: generated at the next power of two and cropped; events as T x C channels
    assert gen.__class__((1, 28, 28), 10, 128, False)(torch.randn(1, 128))[0].shape == (
        1,
        1,
        28,
        28,
    )
    events, _ = GLUGenerator((4, 2, 16, 16), 6, 128, True)(torch.randn(1, 128))
    assert events.shape == (4, 1, 2, 16, 16) and events.min() >= 0


def _digits_observation(seed: int = 0, dtype=torch.float32):
    x, y = data.load("digits", "train")[3]
    model = LeNet((1, 28, 28), 10, rng=torch.Generator().manual_seed(seed)).to(dtype)
    return observe(model, x.unsqueeze(0).to(dtype), torch.tensor([y]), "image")


@pytest.mark.parametrize(
    ("infer_label", "clamp"), [(False, "step"), (True, "step"), (True, "final")]
)
def test_the_reconstruction_is_the_last_iterate_and_the_best_rides_along(infer_label, clamp):
    """The last iterate is measured as it is reported (projected into [0, 1]); the best rides
    along, its loss exact when every iterate is projected (``clamp="step"``); under ``"final"``
    it is the projection of the iterate with the lowest loss."""
    obs = _digits_observation()
    cfg = DLGConfig(lbfgs_steps=8, clamp=clamp)
    rec = GradientInversion(cfg, infer_label).reconstruct(obs, torch.Generator().manual_seed(0))
    weights = layer_weights(list(obs.gradients), cfg.loss_norm)

    def loss_at(x, target):
        grads = dummy_gradients(obs.model, x, target)
        return float(gradient_distance(grads, list(obs.gradients), weights).detach())

    assert len(rec.losses) == rec.steps + 1  # every iterate's loss, the final one included
    assert loss_at(rec.x, rec.target) == pytest.approx(rec.losses[-1], rel=1e-4, abs=1e-9)
    assert float(rec.x.min()) >= 0 and float(rec.x.max()) <= 1
    assert float(rec.best.x.min()) >= 0 and float(rec.best.x.max()) <= 1
    best_target = rec.best_label if infer_label else None
    if best_target is not None and clamp == "step":
        assert loss_at(rec.best.x, best_target) == pytest.approx(min(rec.losses), rel=1e-4)


def test_convergence_summary():
    losses = [10.0 * 0.5**i for i in range(41)]
    c = convergence(losses, nonfinite=False)
    assert c["loss_initial"] == 10.0 and c["loss_final"] == losses[-1] == c["loss_min"]
    assert c["loss_every"] == 2 and c["loss_trajectory"] == losses[::2]
    assert c["stalled"] is False and c["loss_ratio"] == pytest.approx(0.5**40)
    assert c["diverged"] is False and c["nonfinite"] is False
    flat = convergence([4.0, 3.5, 3.9], nonfinite=False)
    assert flat["stalled"] is True and flat["loss_trajectory"] == [4.0, 3.5, 3.9]
    assert flat["diverged"] is False  # stalled, but it ended below its start
    away = convergence([4.0, 0.1, 6.4], nonfinite=False)  # moved away: ends above its start
    assert away["diverged"] is True and away["stalled"] is True and away["nonfinite"] is False
    assert convergence([], nonfinite=True)["diverged"] is True
    assert convergence([2.0], nonfinite=False)["stalled"] is None  # nothing was optimised
    track = IterateTracker()
    assert track.record(2.0, "a") and track.record(1.0, "b") and track.record(3.0, "c")
    assert not track.record(math.nan, "d")
    assert (track.last, track.best, track.diverged, track.losses) == ("c", "b", True, [2, 1, 3])


def test_records_hold_the_convergence_and_the_best_iterate(tmp_path):
    (r,) = run_trials(spec_of("idlg", "ann", "digits", iterations=3), 1, 0, tmp_path, judge=None)
    assert r["split"] == "train" and r["loss_initial"] >= r["loss_min"]
    assert r["loss_final"] == r["loss_trajectory"][-1] and r["steps"] == 3
    assert r["best_iterate"]["mse"] <= 1 and r["relative_mismatch"] >= 0


@pytest.mark.parametrize("norm", ["global", "layer"])
def test_loss_normalisation_weights_and_k_trials_equal_solo(norm):
    obs = [_digits_observation(s, torch.float64) for s in (1, 2)]
    w = layer_weights(list(obs[0].gradients), norm)
    squares = [float((g.double() ** 2).sum()) for g in obs[0].gradients]
    if norm == "global":
        assert w == pytest.approx([1 / sum(squares)] * len(squares))
    else:
        assert w == pytest.approx([1 / s for s in squares])
    assert layer_weights(list(obs[0].gradients), "none") is None
    cfg = DLGConfig(lbfgs_steps=2, loss_norm=norm)
    gens = [torch.Generator().manual_seed(i) for i in (5, 6)]
    solo = [reference_dlg(cfg, True, o, g) for o, g in zip(obs, gens, strict=True)]
    gens = [torch.Generator().manual_seed(i) for i in (5, 6)]
    batched = GradientInversion(cfg, True).reconstruct_trials(obs, gens)
    for a, b in zip(solo, batched, strict=True):
        assert a.losses == pytest.approx(b.losses, rel=1e-6)
        torch.testing.assert_close(a.x, b.x, rtol=1e-6, atol=1e-6)


def test_strong_wolfe_trials_together(tmp_path):
    spec = spec_of(
        "dlg", "ann", "digits", iterations=2, lbfgs=LBFGSConfig(line_search="strong_wolfe")
    )
    records = run_trials(spec, 2, 0, tmp_path, judge=None, batch_trials=2)
    assert [r["batch_trials"] for r in records] == [2, 2]
    assert all(r["config"]["lbfgs"]["line_search"] == "strong_wolfe" for r in records)


def test_the_sweep_chooses_by_what_the_attacker_observes_only():
    sweep_plan = SweepPlan(datasets=("mnist-5k", "dvs-synth"), tune=2, evaluate=1)
    preset = replace(load_preset("quick"), sweep=sweep_plan)
    by_key, items = {}, [7, 9]
    good = SWEEP_GRID[5]  # any point but DLG's own
    pairs = [("ann", "mnist-5k"), ("snn", "mnist-5k"), ("snn", "dvs-synth")]
    for model, dataset in pairs:
        for opt in SWEEP_GRID:
            spec = sweep_spec(preset, "fused", model, dataset, opt)
            for i in items:
                by_key[trial_key(spec, i, 0)] = {
                    "relative_mismatch": 0.1 if opt == good else 0.9,
                    # ground truth that would pick DLG's own setting: never read by the choice
                    "ssim": 1.0 if opt == Optimiser() else 0.0,
                }
    tune = {d: items for d in sweep_plan.datasets}
    # one choice per (model, dataset); the ANN takes no event data, so it has none there
    assert sweeping.choose(preset, "fused", tune, 0, by_key) == dict.fromkeys(pairs, good)


def test_a_preset_takes_its_optimiser_per_model_and_dataset():
    doc = tomllib.loads(PRESETS["quick"].read_text())
    doc["optimiser"] = {
        "ann": {"mnist-5k": {"line_search": "strong_wolfe"}},
        "snn": {"dvs-synth": {"lr": 0.1, "loss_norm": "layer"}},
    }
    preset = parse_preset(doc, "test")
    assert preset.optimiser_of("ann", "mnist-5k") == Optimiser(line_search="strong_wolfe")
    assert preset.optimiser_of("snn", "dvs-synth") == Optimiser(lr=0.1, loss_norm="layer")
    assert preset.optimiser_of("snn", "mnist-5k") == Optimiser()  # not listed: the default
    cells = table4_cells(preset, "fused", ("idlg",))
    mnist = {c.spec.model: c.spec for c in cells if c.spec.dataset == "mnist-5k"}
    assert (
        mnist["ann"].settings.lbfgs.line_search == "strong_wolfe"
        and mnist["snn"].settings.lbfgs.lr == 1.0
    )
    # Table V puts the observable choice beside the default
    table5 = {
        (c.spec.settings.lbfgs.lr, c.spec.settings.loss_norm) for c in table5_cells(preset, "fused")
    }
    assert table5 == {(1.0, "global"), (0.1, "layer")}
    doc["optimiser"] = {"ann": {"dvs-synth": {}}}
    with pytest.raises(ConfigError, match="takes no event data"):
        parse_preset(doc, "test")
    doc["optimiser"] = {"snn": {"nope": {}}}
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        parse_preset(doc, "test")
    doc.pop("optimiser")
    doc["table4"]["optimiser"] = {"ann": {"lr": 1.0}}
    with pytest.raises(ConfigError, match=r"moved to \[optimiser.MODEL.DATASET\]"):
        parse_preset(doc, "test")


def test_reproduce_sweep_writes_its_table(tmp_path):
    tiny = replace(
        load_preset("quick"),
        sweep=SweepPlan(datasets=("mnist-5k",), tune=1, evaluate=1, iterations=1, timesteps=2),
        table4=replace(load_preset("quick").table4, lbfgs_max_iter=2),
    )
    load_judge("mnist-5k", cache_dir=tmp_path / "cache", log=lambda m: None)
    result = reproduce(Run("sweep", tiny, tmp_path / "out", cache_dir=tmp_path / "cache"))
    (table,) = result.tables
    # per model, every optimiser's row and the two prior baselines of the held-out items
    assert table.name == "sweep" and len(table.rows) == 2 * (len(SWEEP_GRID) + 2)
    marks = [r[5] for r in table.rows]
    assert marks.count("chosen") == 2 and "[optimiser.ann.mnist-5k]" in table.notes[-1]
    assert (tmp_path / "out" / "tables" / "sweep.csv").exists()
    again = reproduce(Run("sweep", tiny, tmp_path / "out", cache_dir=tmp_path / "cache"))
    assert again.new_records == 0  # resumable like every run


def test_table2_sets_ours_beside_the_papers():
    metas = [
        ("MNIST", "digits", {"arch": "lenet5", "accuracy": 0.98, "epochs": 15}),
        ("LFW", "lfw-subset", {"arch": "resnet50-arcface", "accuracy": 0.85, "init": "scratch"}),
    ]
    t = table2(metas, require_imagenet=False)
    assert t.rows[0][:4] == ("MNIST", "digits", "lenet5", 98.0) and t.rows[0][-1] == 97.75
    assert t.rows[1][2] == "resnet50-arcface (scratch)" and t.rows[1][-1] == 100.0


def test_the_paper_preset_refuses_an_lfw_judge_without_imagenet(tmp_path, monkeypatch):
    from snnleak.judges import arcface

    monkeypatch.setattr(arcface, "cached_imagenet_weights", lambda: None)
    with pytest.raises(JudgeCheckpointError, match="must start from ImageNet weights") as info:
        load_judge("lfw-subset", cache_dir=tmp_path, require_imagenet=True)
    assert str(arcface.imagenet_weights_path()) in str(info.value)
    assert load_preset("paper").judges.require_imagenet is True


def test_attack_cli_takes_the_split(tmp_path, monkeypatch):
    from snnleak.judges import registry

    monkeypatch.setitem(registry.JUDGES, "digits", replace(registry.JUDGES["digits"], epochs=1))
    args = ["attack", "--attack", "idlg", "--model", "ann", "--dataset", "digits"]
    args += ["--samples", "1", "--iterations", "1", "--cache-dir", str(tmp_path / "c")]
    result = CliRunner().invoke(cli, [*args, "--split", "test", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert '"split": "test"' in (tmp_path / "o" / "records.jsonl").read_text()
