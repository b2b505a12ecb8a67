"""Judges: forward shapes, a short training run that reaches a stated accuracy, checkpoint
round-trip, and the errors for a bad or mismatched checkpoint."""

import pytest
import torch
from click.testing import CliRunner

from snnleak import data
from snnleak.cli import cli
from snnleak.data import DatasetInfo
from snnleak.errors import ConfigError
from snnleak.judges import JudgeCheckpointError, accuracy, judge_path, load_judge, train_judge
from snnleak.judges.arcface import ResNet50ArcFace
from snnleak.judges.dvs_snn import DVSGestureSNN
from snnleak.judges.lenet5 import LeNet5Judge


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 25, 25)])
def test_lenet5_judge_shapes(shape):
    assert LeNet5Judge(shape, 7)(torch.rand(4, *shape)).shape == (4, 7)


@pytest.mark.filterwarnings("ignore:ResNet-50 ImageNet weights are not in the local torch cache")
def test_arcface_judge_shapes_and_margin():
    model = ResNet50ArcFace((1, 25, 25), 5).eval()
    x, y = torch.rand(3, 1, 25, 25), torch.tensor([0, 3, 4])
    plain = model(x)
    assert plain.shape == (3, 5) and plain.abs().max() <= model.head.s + 1e-4
    margin = model(x, y)  # the margin lowers exactly the true-class logit
    rows = torch.arange(3)
    assert (margin[rows, y] < plain[rows, y]).all()
    others = torch.ones_like(plain, dtype=torch.bool)
    others[rows, y] = False
    torch.testing.assert_close(margin[others], plain[others])


def test_arcface_warns_when_imagenet_weights_are_absent(monkeypatch):
    from snnleak.judges import arcface

    monkeypatch.setattr(arcface, "cached_imagenet_weights", lambda: None)
    with pytest.warns(UserWarning, match="starts from scratch"):
        ResNet50ArcFace((3, 32, 32), 4)


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_dvs_judge_follows_table_one(backend):
    model = DVSGestureSNN((4, 2, 32, 32), 11, width=4, backend=backend)
    out = model(torch.rand(4, 3, 2, 32, 32).round())
    assert out.shape == (3, 11)
    assert model.classifier.in_features == 8 * 4  # Linear(8w, K): Linear(512, 11) at w = 64
    assert DVSGestureSNN((20, 2, 128, 128), 11).classifier.in_features == 512
    with pytest.raises(ConfigError, match="expects"):
        model(torch.rand(3, 2, 32, 32))


def test_digits_judge_trains_to_95_percent_and_round_trips(tmp_path):
    result = train_judge("digits", epochs=8, cache_dir=tmp_path)
    assert result.meta["accuracy"] >= 0.95, result.meta
    assert result.path == judge_path("digits", tmp_path) and result.path.exists()
    assert set(result.meta) >= {"dataset", "arch", "split_seed", "accuracy", "versions"}
    loaded = load_judge("digits", cache_dir=tmp_path, train_if_missing=False)
    test = data.load("digits", "test")
    assert accuracy(loaded.model, test) == pytest.approx(result.meta["accuracy"])
    blob = torch.load(result.path, weights_only=True)  # plain weights_only load works
    assert blob["meta"]["dataset"] == "digits"


def test_corrupt_checkpoint_says_how_to_retrain(tmp_path):
    path = judge_path("digits", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(
        JudgeCheckpointError, match=r"unreadable.*snnleak train-judge --dataset digits"
    ):
        load_judge("digits", cache_dir=tmp_path)


def test_mismatched_checkpoint_says_how_to_retrain(tmp_path):
    model = LeNet5Judge((1, 28, 28), 10)
    from snnleak.judges.checkpoint import save_judge

    save_judge(
        model,
        {"dataset": "mnist", "arch": "lenet5", "split_seed": 0},
        judge_path("digits", tmp_path),
    )
    with pytest.raises(JudgeCheckpointError, match=r"made for .*mnist.*retrain"):
        load_judge("digits", cache_dir=tmp_path)


def test_missing_judge_is_trained_and_said(tmp_path, monkeypatch):
    said = []
    from snnleak.judges import registry

    fast = registry.JudgeSpec("lenet5", registry._lenet, epochs=1, lr=2e-3, batch_size=64)
    monkeypatch.setitem(registry.JUDGES, "digits", fast)
    result = load_judge("digits", cache_dir=tmp_path, log=said.append)
    assert result.path.exists() and "training one now" in said[0]


def test_train_judge_cli_prints_a_table_two_row(tmp_path):
    result = CliRunner().invoke(
        cli, ["train-judge", "--dataset", "digits", "--epochs", "1", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "| digits | lenet5 |" in result.output and (tmp_path / "judges" / "digits.pt").exists()


def test_train_judge_cli_unknown_dataset():
    result = CliRunner().invoke(cli, ["train-judge", "--dataset", "imagenet"])
    assert result.exit_code == 2 and "error: no judge for dataset 'imagenet'" in result.output


def test_dataset_info_is_frozen():
    info = DatasetInfo("x", (1, 2, 2), 2, ("a", "b"), "image", False, "test")
    with pytest.raises(AttributeError):
        info.num_classes = 3
