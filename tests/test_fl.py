"""``snnleak fl``: Flower rounds, the curious server's attacks, resume, the figure.

One small federation runs on Flower (Ray starts once, ~30 s); the rest is checked on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snnleak.attacks import spec_of
from snnleak.cli import cli
from snnleak.errors import ConfigError
from snnleak.federated.flower import Federation
from snnleak.federated.partition import partition

ARGS = [
    "fl", "--model", "ann", "--dataset", "digits", "--clients", "2", "--rounds", "2",
    "--attack-rounds", "1,2", "--iterations", "20", "--device", "cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    out = tmp_path_factory.mktemp("fl")
    result = CliRunner().invoke(cli, [*ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_a_federation_runs_on_flower_and_its_updates_are_attacked(federation):
    out, output = federation
    records = [
        json.loads(line) for line in (out / "ann" / "records.jsonl").read_text().splitlines()
    ]
    assert sorted((r["round"], r["client"]) for r in records) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert all(r["label_correct"] for r in records)
    # FedSGD on B = 1: the server's update is the gradient (up to float32 weight rounding)
    assert all(r["ssim"] > 0.8 for r in records), [r["ssim"] for r in records]
    rounds = json.loads((out / "ann" / "rounds.json").read_text())
    assert set(rounds["accuracy"]) == {"0", "1", "2"}
    assert (out / "leakage.png").read_bytes()[:4] == b"\x89PNG"
    assert "| ann | 1 | 2 |" in output and "test acc." in output


def test_a_rerun_skips_the_rounds_and_the_recorded_attacks(federation):
    out, _ = federation
    path = out / "ann" / "records.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # as if killed before the last attack
    result = CliRunner().invoke(cli, [*ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ran before" in result.output and "round 1: global" not in result.output
    again = path.read_text().splitlines()
    assert len(again) == 4 and again[:3] == lines[:3]


def test_the_server_update_is_the_clients_gradient(federation):
    """What the curious server forms from the weights equals the client's own gradient."""
    from snnleak import data
    from snnleak.federated.flower import build_global, parts_of, round_batch
    from snnleak.gradients import parameter_gradients

    out, _ = federation
    kept = torch.load(out / "ann" / "federation.pt", weights_only=False)
    # the global init and the client's draw depend on the seed, the clients and B only
    fed = Federation(spec_of("idlg", "ann", "digits"), clients=2, rounds=2, attack_rounds=(1, 2))
    split = data.load("digits", "train", seed=0)
    model = build_global(fed, split.info, torch.device("cpu"))
    model.load_state_dict(kept["globals"][1])
    x, y = round_batch(fed, split, parts_of(fed, split), 0, 1)
    grads = parameter_gradients(model.train(), x, torch.tensor(y))
    for got, want in zip(kept["updates"][(1, 0)], grads, strict=True):
        torch.testing.assert_close(got, want, rtol=2e-3, atol=2e-5)  # float32 weights


@pytest.mark.parametrize("kind", ["iid", "dirichlet"])
def test_partitions_are_disjoint_and_cover_the_set(kind):
    labels = np.random.default_rng(0).integers(0, 10, 300).tolist()
    parts = partition(labels, 5, kind, 0.3, seed=1)
    flat = sorted(i for p in parts for i in p)
    assert flat == list(range(300)) and all(parts)
    if kind == "iid":
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_dirichlet_skews_the_labels():
    labels = np.repeat(np.arange(10), 50).tolist()
    skewed = partition(labels, 5, "dirichlet", 0.05, seed=0)
    classes = [len({labels[i] for i in p}) for p in skewed]
    assert min(classes) < 10  # small alpha: some client misses classes


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"attack_rounds": (0,)}, "--attack-rounds"),
        ({"rounds": 2, "attack_rounds": (3,)}, "--attack-rounds"),
        ({"clients": 1}, "--clients"),
        ({"partition": "zipf"}, "--partition"),
    ],
)
def test_bad_federations_are_one_line(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Federation(spec_of("idlg", "ann", "digits"), **kwargs)
