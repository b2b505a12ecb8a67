"""Clients with a batch of B > 1 items: label recovery, matched per-item evaluation, records."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from snnleak import data, metrics
from snnleak.attacks import LBFGSConfig, spec_of
from snnleak.attacks.labels import label_counts, recover_labels
from snnleak.cli import cli
from snnleak.client import observe
from snnleak.errors import ConfigError
from snnleak.evaluation import match
from snnleak.models import LeNet
from snnleak.trials.runner import run_trials


def _items(labels: list[int]) -> list[int]:
    """Distinct training items of the given labels, even for a repeated label."""
    split = data.load("digits", "train")
    by_class: dict[int, list[int]] = {}
    for i in range(len(split)):
        by_class.setdefault(split[i][1], []).append(i)
    picks, used = [], {}
    for y in labels:
        picks.append(by_class[y][used.get(y, 0)])
        used[y] = used.get(y, 0) + 1
    return picks


def _observation(labels: list[int], seed: int = 0):
    split = data.load("digits", "train")
    x = torch.stack([split[i][0] for i in _items(labels)])
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
    spec = spec_of("idlg", "ann", "digits", iterations=60, batch=4, lbfgs=lbfgs, loss_norm="global")
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
        spec_of(**{**base, **kwargs})


def test_client_batches_run_as_k_trials_together(tmp_path):
    spec = spec_of("idlg", "ann", "digits", batch=2, iterations=2)
    together = run_trials(spec, 2, 0, tmp_path / "k", judge=None, batch_trials=2)
    alone = run_trials(spec, 2, 0, tmp_path / "one", judge=None)
    for a, b in zip(together, alone, strict=True):
        assert a["batch_trials"] == 2 and b["batch_trials"] == 1
        # float32: the first evaluation agrees; later iterates by rounding only (the float64
        # equality is tests/test_trials_together.py's)
        assert a["loss_initial"] == pytest.approx(b["loss_initial"], rel=1e-5)
        assert len(a["loss_trajectory"]) == len(b["loss_trajectory"]) and not a["nonfinite"]


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


def test_public_batches_hold_every_item_b_times_each_sorted_by_label():
    from snnleak.attacks.decoders import public_batches

    split = data.load("digits", "test")
    items = [split[i] for i in range(10)]
    batches = public_batches(items, 3)
    assert len(batches) == 3 * (10 // 3) and all(len(b) == 3 for b in batches)
    assert all([y for _, y in b] == sorted(y for _, y in b) for b in batches)
    seen = [id(x) for b in batches for x, _ in b]
    assert max(seen.count(id(x)) for x, _ in items) <= 3 and len(set(seen)) >= 9
    assert public_batches(items, 1) == [[item] for item in items]
    with pytest.raises(ConfigError, match="2 public items cannot make a batch of 3"):
        public_batches(items[:2], 3)


@pytest.mark.parametrize("kind", ["ann", "snn"])
def test_stacked_public_batch_updates_equal_what_a_client_sends(kind):
    """A public batch's update through the stacked copies is the client's update of that batch
    (the mean loss's gradient, float64), and its target the batch's items in label order."""
    from snnleak.attacks.decoders import public_batches, public_updates
    from snnleak.gradients import parameter_gradients
    from snnleak.models import LeNet5SNN

    gen = torch.Generator().manual_seed(0)
    if kind == "ann":
        model = LeNet((1, 28, 28), 10, rng=gen).double()
    else:
        model = LeNet5SNN((1, 28, 28), 10, 3, backend="fused", rng=gen).double()
    split = data.load("digits", "test")
    items = [(split[i][0].double(), split[i][1]) for i in range(7)]
    updates, targets = public_updates(model, items, "image", batch=3)
    batches = public_batches(items, 3)
    assert len(updates) == len(batches) == 6
    for batch, got, target in zip(batches, updates, targets, strict=True):
        x = torch.stack([x for x, _ in batch])
        want = parameter_gradients(model, x, torch.tensor([y for _, y in batch]))
        torch.testing.assert_close(got, torch.cat([g.reshape(-1) for g in want]))
        assert torch.equal(target, x.reshape(-1))


def test_the_learned_decoder_reconstructs_a_client_batch_on_the_ann(tmp_path):
    """The ridge decoder (closed form: no chaotic optimisation) at B = 4, one fit for a round's
    clients: the items it returns, matched to the private ones, are recognisable."""
    spec = spec_of("learned", "ann", "digits", batch=4, decoder="ridge", victims="round")
    records = run_trials(spec, 3, 0, tmp_path, judge=None)
    ssims = sorted(it["ssim"] for r in records for it in r["items"])
    assert all(len(r["items"]) == 4 and r["label_correct"] for r in records)
    assert ssims[len(ssims) // 2] > 0.45, ssims
    details = records[0]["attack_details"]
    assert details["public_batches"] == 4 * (details["public_items"] // 4)


SEED = 0


def test_the_proxy_reconstructs_a_client_batch_on_the_ann():
    from snnleak.attacks.proxy import ProxyConfig, SmoothProxy

    obs = _observation([2, 7])
    x = torch.stack([data.load("digits", "train")[i][0] for i in _items([2, 7])])
    rec = SmoothProxy(ProxyConfig()).reconstruct(obs, torch.Generator().manual_seed(SEED))
    order = match(rec.x.detach(), x)
    ssims = [metrics.ssim(rec.x[o].detach().clamp(0, 1), x[i]) for i, o in enumerate(order)]
    assert min(ssims) > 0.9 and rec.losses[-1] < 1e-2 * rec.losses[0], ssims
