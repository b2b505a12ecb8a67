"""Item-level leakage: identification against the clients' split and the prior baselines.

Properties that hold on any CPU: the batched SSIM is scikit-image's; the truth is identified;
a reconstruction that carries nothing of the item ranks it at chance; the oracle prior is never
below the label-only prior; no attack can read any of it."""

import ast
import math
from pathlib import Path

import pytest
import torch

from snnleak import data, metrics
from snnleak.attacks import spec_of
from snnleak.evaluation import scores
from snnleak.evaluation.reference import Pool, Reference, identify, priors
from snnleak.threat import Reconstruction
from snnleak.trials.runner import run_trials


@pytest.fixture(scope="module")
def mnist():
    test, train = data.load("mnist-5k", "test"), data.load("mnist-5k", "train")
    return test, train, Reference.of(test, train)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (2, 25, 31)])
def test_batched_ssim_is_scikit_images(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    items = torch.rand((6, *shape), generator=g)
    items[1] = (x + 0.1 * torch.rand(shape, generator=g)).clamp(0, 1)
    want = torch.tensor([metrics.ssim(x, y) for y in items], dtype=torch.float64)
    torch.testing.assert_close(metrics.ssim_many(x, items), want, rtol=0, atol=1e-12)
    stats = metrics.ssim_stats(items)
    torch.testing.assert_close(metrics.ssim_many(x, items, stats), want, rtol=0, atol=1e-12)


def test_the_truth_is_identified_first(mnist):
    test, _, ref = mnist
    for i in range(32):
        x, y = test[i]
        got = identify(x, x, y, ref.pool)
        assert got["rank_ssim"] == got["rank_mse"] == 1
        assert got["class_rank_ssim"] == got["class_rank_mse"] == 1
        assert got["candidates"] == len(test)


def test_an_unrelated_item_is_identified_at_chance(mnist):
    """A public item drawn at random carries nothing of the client's item: by symmetry its rank
    of the client's item is uniform over the pool (chance: 1 in 1,000 for top-1)."""
    test, train, ref = mnist
    g = torch.Generator().manual_seed(1)
    clients = torch.randperm(len(test), generator=g)[:100].tolist()
    decoys = torch.randperm(len(train), generator=g)[:100].tolist()
    ranks = [
        identify(train[d][0], *test[c], ref.pool)["rank_ssim"]
        for c, d in zip(clients, decoys, strict=True)
    ]
    assert sum(r == 1 for r in ranks) <= 3
    assert sum(r <= 5 for r in ranks) <= 6
    assert 350 < sum(ranks) / len(ranks) < 650  # uniform over 1..1000: mean 500, sd 29


def test_ties_count_against_identification_and_copies_are_the_record():
    info = data.load("digits", "test").info
    a, b = torch.zeros(1, 28, 28), torch.ones(1, 28, 28)
    items = torch.stack([a, a.clone(), b, b.clone()])
    split = data.base.tensor_split(info, items, torch.tensor([0, 0, 1, 1]))
    pool = Pool.of(split)
    got = identify(b, a, 0, pool)  # the reconstruction ties both b's, which beat a
    assert got["candidates"] == 3  # a's copy is the record itself
    assert got["rank_mse"] == 3 and got["class_rank_mse"] == 1
    half = torch.full((1, 28, 28), 0.5)  # equally far from a and b: the tie counts against
    assert identify(half, a, 0, pool)["rank_mse"] == 3


def test_the_oracle_prior_is_never_below_the_label_only_prior(mnist):
    test, _, ref = mnist
    for i in range(40):
        x, y = test[i]
        for label in (y, (y + 3) % 10):  # the recovered label, right or wrong
            got = priors(x, label, {"ssim": 0.5, "mse": 0.05}, ref.public)
            assert got["oracle_ssim"] >= got["label_only_ssim"]
            mean = ref.public.class_means[label]
            assert got["label_only_ssim"] == pytest.approx(metrics.ssim(mean, x), abs=1e-12)
            if got["oracle_index"] is not None:
                pick = ref.public.items[got["oracle_index"]]
                assert int(ref.public.labels[got["oracle_index"]]) == label
                assert got["oracle_ssim"] == pytest.approx(metrics.ssim(pick, x), abs=1e-12)


def test_beating_the_oracle_compares_the_records_own_ssim(mnist):
    test, _, ref = mnist
    x, y = test[0]
    assert priors(x, y, {"ssim": 1.0, "mse": 0.0}, ref.public)["beats_oracle"] is True
    assert priors(x, y, {"ssim": 0.0, "mse": 1.0}, ref.public)["beats_oracle"] is False


def test_a_record_carries_identification_and_priors(tmp_path):
    spec = spec_of("idlg", "ann", "digits", iterations=1)
    (r,) = run_trials(spec, 1, 0, tmp_path, judge=None)
    ident, prior = r["identification"], r["prior"]
    assert ident["pool"] == "digits/train" and ident["pool_size"] == len(data.load("digits"))
    (item,) = ident["items"]
    assert 1 <= item["rank_ssim"] <= item["candidates"] == ident["pool_size"]
    assert 1 <= item["class_rank_ssim"] <= item["class_candidates"] <= item["candidates"]
    assert prior["public"] == "digits/test"
    assert prior["items"][0]["label"] == r["recovered_label"]
    assert prior["items"][0]["beats_oracle"] == (r["ssim"] > prior["items"][0]["oracle_ssim"])
    assert r["best_iterate"]["identification"]["pool"] == "digits/train"


def test_a_batch_is_identified_item_by_item(mnist):
    test, _, ref = mnist
    x = torch.stack([test[i][0] for i in range(3)])
    y = [test[i][1] for i in range(3)]
    rec = Reconstruction(x.flip(0), torch.tensor(y[::-1]))  # the truth, out of order
    got = scores(rec, x, y, test.info, None, ref)
    assert [it["rank_ssim"] for it in got["identification"]["items"]] == [1, 1, 1]
    assert [it["label"] for it in got["prior"]["items"]] == y
    assert all(it["beats_oracle"] for it in got["prior"]["items"])


def test_events_are_identified_by_mse():
    split = data.load("dvs-synth", "test")
    ref = Reference.of(split, data.load("dvs-synth", "train"))
    x, y = split[3]
    got = identify(x, x, y, ref.pool)
    assert got["rank_mse"] == 1 and "rank_ssim" not in got
    prior = priors(x, y, {"ssim": None, "mse": 0.0}, ref.public)
    assert prior["label_only_ssim"] is None and prior["oracle_mse"] <= prior["label_only_mse"]
    assert math.isfinite(prior["oracle_mse"]) and prior["beats_oracle"] is True


def test_no_attack_reads_the_evaluation():
    """Identification and the priors read the truth: they live with the evaluation, and no
    module of the attacks imports it."""
    root = Path(__file__).parents[1] / "snnleak" / "attacks"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            assert not any(n.startswith("snnleak.evaluation") for n in names), path.name


def test_a_pool_item_is_its_own_nearest_neighbour():
    from snnleak.reproduce.adaptive_figures import nearest

    pool = Pool.of(data.load("digits", "test"))
    (index, ssim), *rest = nearest(pool.items[7].numpy(), pool)
    assert torch.equal(pool.items[index], pool.items[7]) and ssim == pytest.approx(1.0)
    assert len(rest) == 3 and all(s <= ssim for _, s in rest)
