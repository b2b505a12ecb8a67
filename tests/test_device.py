"""``--device``: resolution, one-line errors, and the default-device guard.

The guard runs short attacks with ``device="cpu"`` while torch's default device is ``meta``: a
tensor or module created anywhere on the attack path without an explicit device lands on
``meta`` and the run fails (meta tensors hold no data). That is what makes ``--device cuda``
trustworthy on a machine where no GPU can be tested.
"""

from __future__ import annotations

import math

import pytest
import torch

from snnleak import device as devices
from snnleak.attacks import spec_of
from snnleak.errors import ConfigError
from snnleak.trials.runner import run_trials


@pytest.fixture
def meta_default():
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


def test_the_guard_itself_catches_a_missing_device(meta_default):
    assert torch.zeros(2).device.type == "meta"
    with devices.on_cpu():
        assert torch.zeros(2).device.type == "cpu"


@pytest.mark.parametrize(
    "spec",
    [
        spec_of("dlg", "snn", "digits", backend="fused", timesteps=3, iterations=2),
        spec_of("idlg", "ann", "digits", iterations=2),
        spec_of("grnn", "snn", "digits", backend="reference", timesteps=2, iterations=2),
        spec_of("dlg", "snn", "dvs-synth", backend="fused", iterations=1),
        spec_of(
            "dlg", "snn", "digits", timesteps=2, iterations=1, encoding="poisson", neuron="lif"
        ),
        *(
            spec_of(a, "snn", "digits", backend="fused", timesteps=2, iterations=1, aux_items=n)
            for a, n in (("proxy", 0), ("ig", 0), ("analytic", 0), ("learned", 16))
        ),
    ],
    ids=lambda s: f"{s.attack}-{s.model}-{s.dataset}-{s.victim.encoding}",
)
def test_an_attack_creates_no_tensor_without_its_device(spec, tmp_path, meta_default):
    k = 2 if spec.victim.encoding == "direct" else 1
    records = run_trials(spec, 2, 0, tmp_path, judge=None, batch_trials=k, device=devices.CPU)
    assert len(records) == 2
    for r in records:
        assert r["device"] == "cpu" and r["device_name"]
        assert math.isfinite(r["mse"]) and math.isfinite(r["loss_initial"])


def test_k_and_solo_trials_agree_under_the_guard(tmp_path, meta_default):
    spec = spec_of("idlg", "snn", "digits", backend="fused", timesteps=2, iterations=2)
    solo = run_trials(spec, 2, 0, tmp_path / "a", judge=None, device=torch.device("cpu"))
    assert all(math.isfinite(r["mse"]) for r in solo)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("gpu", "unknown device 'gpu'"),
        ("cuda:x", "unknown device"),
        ("cuda:99", "cuda:99"),
    ],
)
def test_bad_devices_are_one_clear_line(spec, fragment):
    if spec == "cuda:99" and not torch.cuda.is_available():
        fragment = "needs a CUDA GPU"
    with pytest.raises(ConfigError, match=fragment) as err:
        devices.resolve(spec)
    assert "\n" not in str(err.value)


def test_auto_and_cpu():
    assert devices.resolve("cpu") == torch.device("cpu")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert devices.resolve("auto").type == want
    assert devices.describe(torch.device("cpu"))["device"] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_cuda_without_a_gpu_names_the_fix():
    with pytest.raises(ConfigError, match="use --device cpu"):
        devices.resolve("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_cuda_attack_matches_cpu(backend, tmp_path):
    spec = spec_of("idlg", "snn", "digits", backend=backend, timesteps=4, iterations=3)
    cpu = run_trials(spec, 2, 0, tmp_path / "cpu", judge=None, device=torch.device("cpu"))
    gpu = run_trials(spec, 2, 0, tmp_path / "gpu", judge=None, device=devices.resolve("cuda"))
    for a, b in zip(cpu, gpu, strict=True):
        assert b["device"].startswith("cuda") and b["device_name"]
        assert a["recovered_label"] == b["recovered_label"]
        assert b["loss_initial"] == pytest.approx(a["loss_initial"], rel=1e-4)
