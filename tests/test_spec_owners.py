"""The attack spec split by owner (the victim, the client, the attacker's settings) keeps every
stored config id: those of the shipped records, and ids written before the split."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from snnleak.attacks import AttackSettings, AttackSpec, Thresholding, build_attack, spec_of
from snnleak.attacks.config import LATER_DEFAULTS
from snnleak.client import ClientSpec
from snnleak.errors import ConfigError
from snnleak.models.victims import VictimSpec

SHIPPED = Path(__file__).parents[1] / "results" / "headline" / "records.jsonl.gz"

# (attack, model, dataset, flat options, the id the flat spec of 0.x gave them before the split)
WRITTEN_BEFORE = [
    ("dlg", "snn", "digits", {}, "7d3b815e5a5f"),
    (
        "idlg",
        "ann",
        "mnist-5k",
        {"iterations": 30, "split": "test", "victims": "round", "broadcasts": 4},
        "9f01a8facadf",
    ),
    (
        "dlg",
        "snn",
        "digits",
        {"threshold": {"tau": 0.3, "mode": "in"}, "timesteps": 4},
        "6f775eecbfb4",
    ),
    (
        "grnn",
        "snn",
        "digits",
        {"grnn_wasserstein": "sorted", "grnn_generator": "upsample"},
        "706e5001074e",
    ),
    (
        "idlg",
        "snn",
        "digits",
        {"neuron": "lif", "surrogate_alpha": 4.0, "encoding": "poisson"},
        "55be2c9a9043",
    ),
    (
        "idlg",
        "snn",
        "digits",
        {"surrogate": "triangle", "backend": "reference", "detach_reset": True},
        "448fcb666201",
    ),
    (
        "dlg",
        "snn",
        "digits",
        {"smooth_forward": True, "victim_init": "torch", "clamp": "step"},
        "b4af6d09b526",
    ),
    (
        "dlg",
        "ann",
        "digits",
        {
            "defense": "dp:1.0:0.01",
            "batch": 4,
            "local_epochs": 2,
            "local_batch": 2,
            "local_lr": 0.05,
        },
        "4c8192015e3d",
    ),
    (
        "dlg",
        "ann",
        "digits",
        {"batch": 2, "update_attack": "approx", "loss_norm": "layer"},
        "f06be01ccb8b",
    ),
    (
        "learned",
        "snn",
        "digits",
        {"aux_items": 64, "decoder": "ridge", "rehearsal": True},
        "4ba2fe391e7f",
    ),
    ("learned-proxy", "ann", "digits", {"decoder": "features"}, "fb854d34df49"),
    (
        "proxy",
        "snn",
        "digits",
        {"lbfgs": {"lr": 0.5, "max_iter": 10, "line_search": "strong_wolfe"}},
        "0daf91475cbd",
    ),
    ("ig", "snn", "digits", {"iterations": 50}, "9e96cba9059c"),
    ("analytic", "snn", "digits", {"split": "test"}, "2d52e2d1e9a9"),
    ("idlg", "snn", "dvs-synth", {}, "80e5929d17de"),
]


def test_every_shipped_record_keeps_its_config_id():
    with gzip.open(SHIPPED, "rt") as f:
        records = [json.loads(line) for line in f]
    assert len(records) > 100
    for r in records:
        spec = spec_of(**r["config"])
        assert spec.config_id() == r["config_id"]
        flat = spec.flat()  # what a record stores, field for field (later ones at defaults)
        assert {k: flat[k] for k in r["config"]} == r["config"]
        assert all(LATER_DEFAULTS[k] == v for k, v in flat.items() if k not in r["config"])


@pytest.mark.parametrize("attack,model,dataset,flat,written", WRITTEN_BEFORE)
def test_ids_written_before_the_split_are_kept(attack, model, dataset, flat, written):
    spec = spec_of(attack, model, dataset, **flat)
    assert spec.config_id() == written
    assert spec_of(**spec.flat()) == spec  # the flat form is the whole spec


def test_each_option_goes_to_its_owner():
    spec = spec_of(
        "idlg",
        "snn",
        "digits",
        timesteps=4,
        victim_init="torch",
        batch=2,
        local_epochs=2,
        defense="quant:8",
        iterations=7,
        threshold=Thresholding(0.4),
        decoder="ridge",
    )
    assert spec.victim == VictimSpec("snn", timesteps=4, init="torch")
    assert spec.client.batch == 2 and spec.client.local.epochs == 2
    assert spec.client.defense == "quant:8" and spec.client.local_training() is not None
    assert spec.settings == AttackSettings(7, Thresholding(0.4), decoder="ridge")
    assert spec.flat()["threshold"] == {"tau": 0.4, "mode": "post"}  # the records' key
    assert spec.with_(batch=1).client == ClientSpec(1, spec.client.local, "quant:8")
    assert build_attack(spec).config.lbfgs_steps == 7  # DLG names what its steps count


def test_each_owner_checks_its_own_fields_in_one_line():
    with pytest.raises(ConfigError, match="--neuron"):
        VictimSpec("snn", neuron="adex")
    with pytest.raises(ConfigError, match="--batch must be a positive integer"):
        ClientSpec(batch=0)
    with pytest.raises(ConfigError, match="--aux-items"):
        AttackSettings(aux_items=1)
    with pytest.raises(ConfigError, match="unknown spec field"):
        spec_of("dlg", "snn", "digits", iterationz=3)
    with pytest.raises(ConfigError, match="applies to"):  # where the client meets the attack
        AttackSpec("analytic", "digits", VictimSpec("snn"), ClientSpec(batch=2))
