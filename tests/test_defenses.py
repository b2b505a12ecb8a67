"""Client-side defenses: each transform exactly, the noise scale against the accountant, and
the attack seeing only the defended update."""

from __future__ import annotations

import math

import pytest
import torch

from snnleak import defenses
from snnleak.attacks import LBFGSConfig, spec_of
from snnleak.attacks.config import LATER_DEFAULTS
from snnleak.defenses import Defense
from snnleak.errors import ConfigError
from snnleak.trials.runner import run_trials


def _grads(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(6, 5, generator=g), torch.randn(7, generator=g)]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("none", Defense()),
        ("dp:1.5:0.1", Defense("dp", clip=1.5, sigma=0.1)),
        ("topk:0.1", Defense("topk", keep=0.1)),
        ("quant:8", Defense("quant", bits=8)),
    ],
)
def test_parse_round_trips(text, want):
    assert Defense.parse(text) == want and str(want) == text


@pytest.mark.parametrize(
    "text", ["dp", "dp:0:1", "dp:1:-1", "topk:0", "topk:1.5", "quant:1", "quant:x", "gauss:1"]
)
def test_bad_defenses_are_one_line(text):
    with pytest.raises(ConfigError, match="--defense") as err:
        Defense.parse(text)
    assert "\n" not in str(err.value)


def test_clipping_bounds_the_norm_and_leaves_small_updates_alone():
    grads = _grads()
    norm = float(defenses.global_norm(grads))
    clipped = defenses.clip_and_noise(grads, norm / 4, 0.0, torch.Generator())
    assert float(defenses.global_norm(clipped)) == pytest.approx(norm / 4, rel=1e-6)
    for a, b in zip(clipped, grads, strict=True):  # scaled, not reshaped
        torch.testing.assert_close(a, b / 4)
    same = defenses.clip_and_noise(grads, norm * 2, 0.0, torch.Generator())
    for a, b in zip(same, grads, strict=True):
        torch.testing.assert_close(a, b)


def test_the_noise_has_the_gaussian_mechanisms_scale():
    grads = [torch.zeros(200_000)]
    clip, sigma = 2.0, 0.7
    (noisy,) = defenses.clip_and_noise(grads, clip, sigma, torch.Generator().manual_seed(1))
    assert float(noisy.std()) == pytest.approx(sigma * clip, rel=0.01)
    assert abs(float(noisy.mean())) < 0.01


def test_noise_is_seeded():
    a = defenses.clip_and_noise(_grads(), 1.0, 0.5, torch.Generator().manual_seed(3))
    b = defenses.clip_and_noise(_grads(), 1.0, 0.5, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_top_k_keeps_the_largest_entries_per_tensor():
    g = torch.tensor([[0.1, -3.0, 0.2], [2.0, -0.05, 0.0]])
    (kept,) = defenses.top_k([g], keep=2 / 6)
    assert torch.equal(kept, torch.tensor([[0.0, -3.0, 0.0], [2.0, 0.0, 0.0]]))
    grads = _grads()
    out = defenses.top_k(grads, 0.1)
    assert [int((t != 0).sum()) for t in out] == [3, 1]  # ceil(0.1 * 30), ceil(0.1 * 7)


@pytest.mark.parametrize("bits", [4, 8])
def test_quantisation_is_within_half_a_step_on_its_grid(bits):
    grads = _grads()
    levels = 2 ** (bits - 1) - 1
    for g, q in zip(grads, defenses.quantise(grads, bits), strict=True):
        step = float(g.abs().max()) / levels
        assert float((q - g).abs().max()) <= step / 2 + 1e-7
        assert len(torch.unique(torch.round(q / step))) <= 2 * levels + 1
    assert torch.equal(defenses.quantise([torch.zeros(3)], 4)[0], torch.zeros(3))


def test_privacy_comes_from_the_opacus_accountant():
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    for _ in range(5):
        acc.step(noise_multiplier=1.1, sample_rate=1.0)
    p = defenses.privacy(Defense("dp", clip=1.0, sigma=1.1), releases=5)
    assert p["epsilon"] == pytest.approx(acc.get_epsilon(1e-5)) and p["delta"] == 1e-5
    assert (
        p["epsilon"] < defenses.privacy(Defense("dp", clip=1.0, sigma=0.5), releases=5)["epsilon"]
    )
    assert defenses.privacy(Defense("dp", clip=1.0, sigma=0.0))["epsilon"] is None
    assert defenses.privacy(Defense("topk", keep=0.1)) is None


def test_the_attack_sees_only_the_defended_update(tmp_path):
    # a line search: the undefended ANN reconstructs on any CPU (DLG's own L-BFGS can leave the
    # solution it found, depending on the float rounding)
    wolfe = LBFGSConfig(line_search="strong_wolfe")
    plain = spec_of("idlg", "ann", "mnist-5k", iterations=30, lbfgs=wolfe)
    strong = spec_of("idlg", "ann", "mnist-5k", iterations=30, lbfgs=wolfe, defense="dp:0.01:1.0")
    clean = run_trials(plain, 2, 0, tmp_path / "a", judge=None)
    noisy = run_trials(strong, 2, 0, tmp_path / "b", judge=None)
    assert all(r["ssim"] > 0.9 for r in clean)  # undefended: the ANN reconstructs
    assert all(r["ssim"] < 0.5 for r in noisy)  # noise 100x the clipped update: it does not
    assert noisy[0]["defense"] == "dp:0.01:1" and math.isfinite(noisy[0]["privacy"]["epsilon"])
    assert clean[0]["defense"] == "none" and clean[0]["privacy"] is None


def test_old_config_ids_are_kept_without_a_defense_or_batch():
    spec = spec_of("dlg", "snn", "digits")
    assert spec.config_id() != spec_of("dlg", "snn", "digits", defense="quant:8").config_id()
    # the id of a spec without a defense does not mention the field added later
    import hashlib
    import json

    fields = spec.flat()
    for later in LATER_DEFAULTS:
        del fields[later]
    del fields["decoder"]  # read by the learned attacks only: not part of DLG's id
    blob = json.dumps(fields, sort_keys=True, default=str)
    assert spec.config_id() == hashlib.sha256(blob.encode()).hexdigest()[:12]
    assert spec_of("dlg", "snn", "digits", decoder="ridge").config_id() == spec.config_id()
    learned = spec_of("learned", "snn", "digits")
    assert learned.with_(decoder="ridge").config_id() != learned.config_id()
