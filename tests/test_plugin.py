"""Your own victim (``--model FILE.py:FACTORY``) and your own images (``--dataset folder:PATH``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snnleak import data
from snnleak.attacks import LBFGSConfig, spec_of
from snnleak.cli import cli
from snnleak.errors import ConfigError
from snnleak.models import plugin
from snnleak.trials.runner import run_trials

PLUGIN = """
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, shape, classes, timesteps):
        super().__init__()
        self.timesteps = None
        self.conv = nn.Conv2d(shape[0], 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * ((shape[1] + 1) // 2) * ((shape[2] + 1) // 2), classes)

    def forward(self, x):
        return self.fc(torch.sigmoid(self.conv(x)).flatten(1))


def make(shape, classes, timesteps):
    return Tiny(shape, classes, timesteps)


class Stateful(nn.Module):  # snnTorch's init_hidden keeps the membrane between calls
    def __init__(self, shape, classes, timesteps):
        super().__init__()
        import snntorch as snn

        self.timesteps = timesteps
        self.lif = snn.Leaky(beta=0.9, init_hidden=True)
        self.fc = nn.Linear(shape[0] * shape[1] * shape[2], classes)

    def forward(self, x):
        return self.fc(sum(self.lif(x) for _ in range(self.timesteps)).flatten(1))


def stateful(shape, classes, timesteps):
    return Stateful(shape, classes, timesteps)


class Leaky(nn.Module):  # snnTorch, its membrane initialised in every forward
    def __init__(self, shape, classes, timesteps):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.timesteps = timesteps
        self.lif = snn.Leaky(beta=0.5, spike_grad=surrogate.atan())
        self.fc = nn.Linear(shape[0] * shape[1] * shape[2], classes)

    def forward(self, x):
        mem, out = self.lif.init_leaky(), 0
        for _ in range(self.timesteps):
            spk, mem = self.lif(x, mem)
            out = out + spk
        return self.fc(out.flatten(1) / self.timesteps)


def leaky(shape, classes, timesteps):
    return Leaky(shape, classes, timesteps)


def no_head(shape, classes, timesteps):
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 3))


def not_a_module(shape, classes, timesteps):
    return 42
"""


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(PLUGIN)
    return path


def test_a_plugin_victim_is_attacked_and_reconstructs(plugin_file, tmp_path):
    wolfe = LBFGSConfig(line_search="strong_wolfe")  # converges on any CPU
    spec = spec_of("idlg", f"{plugin_file}:make", "digits", iterations=20, lbfgs=wolfe)
    records = run_trials(spec, 2, 0, tmp_path / "out", judge=None)
    assert [r["label_correct"] for r in records] == [True, True]
    assert all(r["ssim"] > 0.9 for r in records)  # an ANN must reconstruct
    assert records[0]["model"] == f"{plugin_file}:make"


def test_the_same_seed_gives_the_same_plugin_victim(plugin_file):
    a = plugin.build(f"{plugin_file}:make", (1, 28, 28), 10, 4, seed=3)
    b = plugin.build(f"{plugin_file}:make", (1, 28, 28), 10, 4, seed=3)
    c = plugin.build(f"{plugin_file}:make", (1, 28, 28), 10, 4, seed=4)
    assert torch.equal(a.fc.weight, b.fc.weight) and not torch.equal(a.fc.weight, c.fc.weight)


def test_the_contract_error_lists_everything_missing(plugin_file):
    model = plugin.build(f"{plugin_file}:no_head", (1, 28, 28), 10, 4, seed=0)
    with pytest.raises(ConfigError) as err:
        plugin.check("x.py:no_head", model, (1, 28, 28), 10, "image")
    msg = str(err.value)
    assert "\n" not in msg
    assert "'timesteps'" in msg and "[10, D]" in msg and "logits [2, 10]" in msg
    assert "(1)" in msg and "(3)" in msg and "docs/own-models.md" in msg


def test_a_victim_whose_neurons_keep_state_between_forwards_is_told_how_to_reset(plugin_file):
    model = plugin.build(f"{plugin_file}:stateful", (1, 28, 28), 10, 4, seed=0)
    with pytest.raises(ConfigError, match=r"state carries over .*functional.reset_net"):
        plugin.check("x.py:stateful", model, (1, 28, 28), 10, "image")
    made = plugin.build(f"{plugin_file}:make", (1, 28, 28), 10, 4, seed=0)
    assert plugin.check("x.py:make", made, (1, 28, 28), 10, "image") is made


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("{dir}/missing.py:make", "no such file"),
        ("{file}:nope", "no callable 'nope'"),
        ("{file}:", "write path/to/file.py:factory"),
        ("no_such_package_xyz.mod:make", "cannot import no_such_package_xyz.mod"),
    ],
)
def test_bad_plugin_references_are_one_line(plugin_file, ref, fragment):
    ref = ref.format(dir=plugin_file.parent, file=plugin_file)
    with pytest.raises(ConfigError, match=fragment):
        plugin.load_factory(ref)


def test_attack_cli_refuses_a_broken_plugin_before_any_work(plugin_file, tmp_path):
    args = ["attack", "--attack", "idlg", "--model", f"{plugin_file}:not_a_module"]
    args += ["--dataset", "digits", "--samples", "1", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "must return an nn.Module" in result.output
    assert not (tmp_path / "o" / "records.jsonl").exists()


@pytest.mark.parametrize("attack", ["idlg", "dlg", "proxy", "ig", "analytic", "grnn"])
def test_a_plugin_runs_k_trials_together_as_alone(plugin_file, tmp_path, attack):
    spec = spec_of(attack, f"{plugin_file}:make", "digits", iterations=2)
    together = run_trials(spec, 2, 0, tmp_path / "k", judge=None, batch_trials=2)
    alone = run_trials(spec, 2, 0, tmp_path / "one", judge=None)
    for a, b in zip(together, alone, strict=True):
        assert a["batch_trials"] == 2 and a["label_correct"] == b["label_correct"]
        # float32: the first evaluation agrees (the analytic attack's first loss follows its
        # feature inversion); later iterates by rounding only (the float64 equality is
        # tests/test_trials_together.py's)
        if attack != "analytic":
            assert a["loss_initial"] == pytest.approx(b["loss_initial"], rel=1e-5)
        assert len(a["loss_trajectory"]) == len(b["loss_trajectory"]) and not a["nonfinite"]


def test_a_plugin_record_describes_its_own_victim(plugin_file, tmp_path):
    import hashlib

    spec = spec_of("idlg", f"{plugin_file}:leaky", "digits", timesteps=2, iterations=1)
    (r,) = run_trials(spec, 1, 0, tmp_path, judge=None)
    victim = r["victim"]
    assert victim["factory"] == f"{plugin_file}:leaky" and victim["timesteps"] == 2
    assert victim["sha256"] == hashlib.sha256(plugin_file.read_bytes()).hexdigest()
    (lif,) = victim["neurons"]
    assert lif["module"] == "lif" and lif["class"] == "snntorch._neurons.leaky.Leaky"
    assert lif["beta"] == 0.5 and lif["threshold"] == 1.0 and lif["reset_mechanism"] == "subtract"
    assert r["backend"] is None
    assert not {"neuron", "surrogate", "victim_init", "backend"} & set(r["config"])
    (builtin,) = run_trials(spec_of("idlg", "snn", "digits", timesteps=2, iterations=1), 1, 0,
                            tmp_path / "b", judge=None)  # fmt: skip
    assert "victim" not in builtin and builtin["config"]["neuron"] == "if"


def test_the_proxy_smooths_a_plugins_snntorch_neurons(plugin_file, tmp_path):
    """Its three continuation stages run (a model without neurons the proxy can smooth would
    get one stage), and no neuron is left spiking."""
    spec = spec_of("proxy", f"{plugin_file}:leaky", "digits", timesteps=2, iterations=1)
    (r,) = run_trials(spec, 1, 0, tmp_path, judge=None)
    assert r["steps"] == 3 * 1 + 20  # three stages of one step, then the polish
    assert "left_spiking" not in r.get("attack_details", {})


def _image_folder(root, classes=("cat", "dog"), per_class=5, shape=(20, 24, 3), sizes=None):
    """Random images, ``shape`` (H, W, C) each, or (H, W) for grey; ``sizes`` cycles through
    several (H, W) instead."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            hw = shape[:2] if sizes is None else sizes[i % len(sizes)]
            pixels = rng.integers(0, 255, (*hw, *shape[2:]), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.png")
    return root


def test_folder_dataset_reads_an_image_folder(tmp_path):
    root = _image_folder(tmp_path / "imgs")
    train = data.load(f"folder:{root}", "train")
    test = data.load(f"folder:{root}", "test")
    assert len(train) + len(test) == 10 and len(test) == 2
    x, y = train[0]
    assert x.shape == (3, 20, 24) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert train.info.class_names == ("cat", "dog") and y in (0, 1)
    assert data.load(f"folder:{root}@16", "train")[0][0].shape == (3, 16, 16)


def test_a_folder_of_grey_images_stays_grey_at_its_size(tmp_path):
    from PIL import Image

    root = _image_folder(tmp_path / "grey", shape=(28, 28))
    split = data.load(f"folder:{root}", "train")
    assert split.info.input_shape == (1, 28, 28) and "grey" in split.info.source
    first = sorted((root / "cat").iterdir())[0]
    want = torch.from_numpy(np.asarray(Image.open(first), dtype=np.float32) / 255)
    items = [split[i][0] for i in range(len(split))]
    assert any(torch.equal(x[0], want) for x in items)  # the pixels themselves, not resampled


def test_a_folder_of_mixed_sizes_is_resized_to_32(tmp_path):
    root = _image_folder(tmp_path / "mixed", sizes=[(20, 24), (30, 18)])
    assert data.load(f"folder:{root}", "train").info.input_shape == (3, 32, 32)


def test_attack_cli_on_a_folder_dataset_has_no_judge(tmp_path, plugin_file):
    root = _image_folder(tmp_path / "imgs")
    out = tmp_path / "o"
    args = ["attack", "--attack", "idlg", "--model", "ann", "--dataset", f"folder:{root}"]
    args += ["--samples", "1", "--iterations", "2", "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "attack success rate is not measured" in result.output
    record = json.loads((out / "records.jsonl").read_text().splitlines()[0])
    assert record["success"] is None and record["ssim"] is not None


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("folder:/no/such/dir", "is not a folder"), ("folder:{root}@2", "4 to 512")],
)
def test_bad_folder_datasets_are_one_line(tmp_path, name, fragment):
    root = _image_folder(tmp_path / "imgs")
    with pytest.raises(ConfigError, match=fragment):
        data.load(name.format(root=root), "train")
