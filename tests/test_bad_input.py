"""Bad input is one line and a non-zero exit, never a traceback, and fails before any compute:
a checkpoint that does not fit, preset values of the wrong type, a preset that is not UTF-8,
a run too large for memory, a missing real dataset; and 'snnleak data download' against a
local file server."""

import gc
import gzip
import hashlib
import http.server
import struct
import threading
from functools import partial

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snnleak import data
from snnleak.attacks import spec_of
from snnleak.cli import cli
from snnleak.errors import ConfigError
from snnleak.judges import JudgeCheckpointError, judge_path, load_judge
from snnleak.judges.checkpoint import save_judge
from snnleak.judges.lenet5 import LeNet5Judge
from snnleak.reproduce import load_preset
from snnleak.reproduce.preset import preset_text
from snnleak.trials.memory import available_memory, step_memory


def _one_line(result, start):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    (line,) = result.output.strip().splitlines()
    assert line.startswith(start), line
    return line


def test_a_checkpoint_whose_tensors_do_not_fit_is_one_clear_error(tmp_path):
    wrong = LeNet5Judge((1, 28, 28), 7)  # digits has 8x8 images and 10 classes
    meta = {"dataset": "digits", "arch": "lenet5", "split_seed": 0}
    save_judge(wrong, meta, judge_path("digits", tmp_path))
    with pytest.raises(JudgeCheckpointError, match="does not fit the lenet5 judge") as info:
        load_judge("digits", cache_dir=tmp_path)
    assert "snnleak train-judge --dataset digits" in str(info.value)
    assert "\n" not in str(info.value)
    result = CliRunner().invoke(
        cli,
        [
            "attack",
            "--attack",
            "dlg",
            "--model",
            "ann",
            "--dataset",
            "digits",
            "--cache-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    _one_line(result, f"error: judge checkpoint {judge_path('digits', tmp_path)} does not fit")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("thresholds = [0.1", 'thresholds = ["high", 0.1'), "table5.thresholds must be a list"),
        (("thresholds = [0.1", "thresholds = [true, 0.1"), "table5.thresholds must be a list"),
        (("samples = 4", "samples = 4.5"), "table4.samples must be a int"),
        (("seed = 0", 'seed = "0"'), "seed must be a int"),
        (('name = "quick"', 'name = ["quick"]'), "name must be a str"),
    ],
)
def test_preset_values_of_the_wrong_type_are_one_line(tmp_path, edit, message):
    text = preset_text("quick")
    assert edit[0] in text, edit[0]
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError, match=message):
        load_preset(str(path))
    result = CliRunner().invoke(cli, ["reproduce", "table4", "--preset", str(path)])
    _one_line(result, "error: ")


def test_a_preset_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.toml"
    text = preset_text("quick") + "# caf\u00e9\n"
    path.write_bytes(text.encode("latin-1"))
    result = CliRunner().invoke(cli, ["reproduce", "table4", "--preset", str(path)])
    line = _one_line(result, f"error: {path}: not UTF-8 text")
    assert "save the preset as UTF-8" in line


def test_a_run_too_large_for_memory_says_what_it_needs(tmp_path):
    spec = spec_of("dlg", "snn", "patches", timesteps=100000)
    info = data.load("patches", "test").info
    assert step_memory(spec, info, 1) > available_memory()  # the premise, on any machine here
    args = ["attack", "--attack", "dlg", "--model", "snn", "--dataset", "patches"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    line = _one_line(
        CliRunner().invoke(cli, [*args, "--timesteps", "100000"]),
        "error: one attack step at T=100000 with 1 trial(s) together needs about",
    )
    assert "GiB is available; lower --timesteps or --batch-trials" in line
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
    line = _one_line(
        CliRunner().invoke(cli, [*args, "--samples", "1000000"]), "error: 1000000 samples exceed"
    )
    assert "ask for at most" in line
    # the estimate is an upper bound, but not an absurd one: T = 20 fits easily
    assert step_memory(spec_of("dlg", "snn", "patches"), info, 8) < 2**30


@pytest.mark.parametrize(("command", "first"), [("attack", "mnist"), ("reproduce", "mnist")])
def test_a_missing_real_dataset_is_checked_before_any_judge_training(tmp_path, command, first):
    cache, root = tmp_path / "cache", tmp_path / "empty"
    if command == "attack":
        args = ["attack", "--attack", "dlg", "--model", "ann", "--dataset", "mnist"]
        args += ["--data-root", str(root), "--out", str(tmp_path / "out")]
    else:
        args = ["reproduce", "table4", "--preset", "paper", "--data-root", str(root)]
        args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, [*args, "--cache-dir", str(cache)])
    line = _one_line(result, "error: ")
    assert f"snnleak data download {first} --data-root {root}" in line, line
    assert not cache.exists()  # no judge was trained


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server over ``tmp_path/www``: the stand-in for a dataset's mirror."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=www))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _idx_gz(path, array, magic):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_data_download_fetches_mnist_from_its_mirror(tmp_path, file_server, monkeypatch):
    from torchvision.datasets import MNIST

    www, url = file_server
    rng = np.random.default_rng(0)
    resources = []
    for prefix, n in (("train", 6), ("t10k", 4)):
        images, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        for kind, array, magic in (("images-idx3", images, 0x803), ("labels-idx1", labels, 0x801)):
            name = f"{prefix}-{kind}-ubyte.gz"
            resources.append((name, _idx_gz(www / name, array, magic)))
    monkeypatch.setattr(MNIST, "mirrors", [url])  # the real downloader, pointed at our server
    monkeypatch.setattr(MNIST, "resources", resources)
    root = tmp_path / "data"
    result = CliRunner().invoke(cli, ["data", "download", "mnist", "--data-root", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"mnist: train 6, test 4 items in {root}")
    x, _ = data.load("mnist", "test", root=root)[0]
    assert x.shape == (1, 28, 28) and torch.all((x >= 0) & (x <= 1))


# torchvision leaves the socket of a 404 response to the garbage collector: collected here
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_data_download_reports_a_dead_mirror_in_one_line(tmp_path, file_server, monkeypatch):
    from torchvision.datasets import MNIST

    _, url = file_server
    monkeypatch.setattr(MNIST, "mirrors", [url])  # the server has none of the files
    result = CliRunner().invoke(cli, ["data", "download", "mnist", "--data-root", str(tmp_path)])
    line = _one_line(result, f"error: could not download mnist into {tmp_path}")
    assert "check the network" in line
    result = CliRunner().invoke(cli, ["data", "download", "digits", "--data-root", str(tmp_path)])
    _one_line(result, "error: Invalid value for 'NAME': 'digits' is not one of")
    gc.collect()
