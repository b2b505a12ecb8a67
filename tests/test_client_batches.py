"""Clients with a batch of B > 1 items: label recovery, matched per-item evaluation, records."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from snnleak import data
from snnleak.attacks import AttackSpec, LBFGSConfig
from snnleak.attacks.labels import label_counts, recover_labels
from snnleak.cli import cli
from snnleak.client import observe
from snnleak.errors import ConfigError
from snnleak.evaluation import match
from snnleak.models import LeNet
from snnleak.trials.runner import run_trials


def _observation(labels: list[int], seed: int = 0):
    split = data.load("digits", "train")
    by_class: dict[int, list[int]] = {}
    for i in range(len(split)):
        by_class.setdefault(split[i][1], []).append(i)
    picks, used = [], {}
    for y in labels:  # distinct items, even for a repeated label
        picks.append(by_class[y][used.get(y, 0)])
        used[y] = used.get(y, 0) + 1
    x = torch.stack([split[i][0] for i in picks])
    model = LeNet((1, 28, 28), 10, rng=torch.Generator().manual_seed(seed))
    return observe(model, x, torch.tensor(labels), "image")


@pytest.mark.parametrize("labels", [[1, 3, 7, 9], [2, 2, 5, 8, 8, 8], [4, 4, 4, 4], [0, 6]])
def test_batch_labels_are_recovered_exactly_on_fixed_cases(labels):
    obs = _observation(labels)
    assert int(label_counts(obs).sum()) == len(labels)
    assert recover_labels(obs).tolist() == sorted(labels)


def test_matching_undoes_a_permutation():
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    perm = [3, 0, 4, 1, 2]
    order = match(x[perm] + 0.01, x)
    assert torch.equal(x[perm][order], x[perm][order]) and [perm[o] for o in order] == list(
        range(5)
    )


def test_idlg_on_a_batch_of_four_reconstructs_each_item(tmp_path):
    # DLG's own optimiser (lr 1, no line search) stalls at B = 4; the sweep's choice does not
    lbfgs = LBFGSConfig(line_search="strong_wolfe")
    spec = AttackSpec(
        "idlg", "ann", "digits", iterations=60, batch=4, lbfgs=lbfgs, loss_norm="global"
    )
    records = run_trials(spec, 2, 0, tmp_path, judge=None)
    for r in records:
        assert len(r["items"]) == 4 and len(r["true_label"]) == 4
        assert r["label_correct"] is True
        assert sorted(r["recovered_label"]) == sorted(r["true_label"])
        assert r["ssim"] > 0.85 and min(it["ssim"] for it in r["items"]) > 0.5


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"attack": "analytic", "batch": 2}, "run analytic with --batch 1"),
        ({"dataset": "dvs-synth", "model": "snn", "batch": 2}, "built for image data"),
        ({"batch": 0}, "positive integer"),
    ],
)
def test_bad_batches_are_one_line(kwargs, fragment):
    base = {"attack": "idlg", "model": "ann", "dataset": "digits"}
    with pytest.raises(ConfigError, match=fragment):
        AttackSpec(**{**base, **kwargs})


def test_batch_and_batch_trials_do_not_mix(tmp_path):
    with pytest.raises(ConfigError, match="--batch > 1 with --batch-trials 1"):
        run_trials(
            AttackSpec("idlg", "ann", "digits", batch=2), 2, 0, tmp_path, judge=None, batch_trials=2
        )


def test_attack_cli_reports_per_item_and_per_batch(tmp_path):
    out = tmp_path / "o"
    args = ["attack", "--attack", "idlg", "--model", "ann", "--dataset", "digits", "--batch", "3"]
    args += ["--samples", "1", "--iterations", "3", "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "records.jsonl").read_text().splitlines()[0])
    assert record["config"]["batch"] == 3 and len(record["items"]) == 3
    assert 0 <= record["item_success_rate"] <= 1
    assert isinstance(record["success"], bool)
    assert len(list((out / "reconstructions").glob("*.png"))) == 1  # truths above reconstructions
