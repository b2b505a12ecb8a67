"""Clients of several rounds: one broadcast model per round, and confidence intervals that
resample the models before the items (the between-model variation a single draw hides)."""

from dataclasses import replace

import pytest
import torch

from snnleak import metrics
from snnleak.attacks import spec_of
from snnleak.errors import ConfigError
from snnleak.reproduce import load_preset
from snnleak.reproduce.adaptive import adaptive_cells
from snnleak.reproduce.adaptive_plan import parse_adaptive
from snnleak.seeding import victim_rng
from snnleak.trials.runner import run_trials


def _draw(g: torch.Generator) -> torch.Tensor:
    return torch.rand(4, generator=g)


def test_trial_i_attacks_broadcast_model_i_mod_n():
    one = [_draw(victim_rng(0, i, "round")) for i in range(4)]
    assert all(torch.equal(one[0], d) for d in one)  # a single broadcast: one model
    four = [_draw(victim_rng(0, i, "round", 4)) for i in range(8)]
    assert torch.equal(four[0], one[0])  # model 0 is the single broadcast's model
    for i in range(4):
        assert torch.equal(four[i], four[i + 4])
        assert all(not torch.equal(four[i], four[j]) for j in range(4) if j != i)
    spec = spec_of("idlg", "ann", "digits", victims="round", broadcasts=3)
    assert [spec.broadcast_of(i) for i in range(5)] == [0, 1, 2, 0, 1]
    assert spec_of("idlg", "ann", "digits").broadcast_of(7) is None


def test_broadcasts_need_the_round_protocol_and_keep_old_ids():
    with pytest.raises(ConfigError, match="--broadcasts 2 needs --victims round"):
        spec_of("idlg", "ann", "digits", broadcasts=2)
    with pytest.raises(ConfigError, match="--broadcasts must be a positive integer"):
        spec_of("idlg", "ann", "digits", victims="round", broadcasts=0)
    spec = spec_of("idlg", "ann", "digits", victims="round")
    assert spec.config_id() == spec.with_(broadcasts=1).config_id()
    assert spec.config_id() != spec.with_(broadcasts=4).config_id()


def test_records_say_which_broadcast_model_they_attacked(tmp_path):
    spec = spec_of("idlg", "ann", "digits", iterations=1, victims="round", broadcasts=2)
    records = run_trials(spec, 3, 0, tmp_path, judge=None)
    assert [r["broadcast"] for r in records] == [r["sample_index"] % 2 for r in records]


def test_the_adaptive_study_takes_samples_clients_per_broadcast_model():
    quick = load_preset("quick")
    section = {"samples": 3, "victims": "round", "broadcasts": 4, "rehearse": 2}
    preset = replace(quick, adaptive=parse_adaptive(section, ("mnist-5k",)))
    cells = adaptive_cells(preset, "fused")
    clients = [c for c in cells if not c.spec.rehearsal]
    assert {c.samples for c in clients} == {12} and {c.spec.broadcasts for c in cells} == {4}
    with pytest.raises(ConfigError, match=r"adaptive\.broadcasts must be 1, or more with"):
        parse_adaptive({"broadcasts": 2}, ("mnist-5k",))


def test_a_ci_over_models_covers_the_variation_between_them():
    """Two models whose clients all score 0 and 1: resampling items alone gives a narrow
    interval around 0.5; resampling the models first spans what one model alone would show."""
    values = [0.0] * 20 + [1.0] * 20
    groups = [0] * 20 + [1] * 20
    mean, low, high = metrics.mean_ci(values)
    assert mean == 0.5 and 0.3 < low < high < 0.7
    mean, low, high = metrics.mean_ci(values, groups=groups)
    assert mean == 0.5 and low == 0.0 and high == 1.0
    _, low, high = metrics.paired_difference_ci([1.0] * 40, values, "median", groups=groups)
    assert low == 0.0 and high == 1.0
    assert metrics.mean_ci(values, groups=[0] * 40) == metrics.mean_ci(values)  # one model
