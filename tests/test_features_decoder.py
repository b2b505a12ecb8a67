"""The features decoder: what the update gives exactly (the last layer's input, the label),
decoded by an MLP fitted on deformed public items."""

import pytest
import torch

from snnleak import data
from snnleak.attacks import spec_of
from snnleak.attacks.analytic import observed_features
from snnleak.attacks.augment import augmented, deform
from snnleak.attacks.decoders import MLPSettings, public_features
from snnleak.attacks.learned import LearnedConfig, LearnedInversion
from snnleak.attacks.separation import separate
from snnleak.attacks.victims import model_features
from snnleak.client import observe
from snnleak.errors import ConfigError
from snnleak.models import LeNet, LeNet5SNN


@pytest.mark.parametrize("cls", [LeNet, LeNet5SNN])
def test_the_update_gives_the_public_forwards_features_exactly(cls):
    """A client's features read off its update are the forward's features of its item: the
    decoder is fitted on the second and applied to the first."""
    x, y = data.load("digits", "train")[5]
    model = cls((1, 28, 28), 10, rng=torch.Generator().manual_seed(2)).double()
    obs = observe(model, x[None].double(), torch.tensor([y]), "image")
    inputs, _ = public_features(obs.model, [(x.double(), y)], 10)
    torch.testing.assert_close(observed_features(obs), inputs[0, :-10], rtol=1e-10, atol=1e-12)
    assert inputs[0, -10:].argmax() == y  # the label beside them
    forward = model_features(obs.model, x[None].double(), 1)[0]
    torch.testing.assert_close(observed_features(obs), forward, rtol=1e-10, atol=1e-12)


def test_deformations_are_seeded_small_and_keep_labels():
    items = [data.load("digits", "train")[i] for i in range(6)]
    more = augmented(items, 2)
    assert len(more) == 18 and [y for _, y in more] == [y for _, y in items] * 3
    assert all(torch.equal(a[0], b[0]) for a, b in zip(more[:6], items, strict=True))
    again = augmented(items, 2)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(more, again, strict=True))
    x = torch.stack([x for x, _ in items])
    moved = deform(x, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and moved.min() >= 0 and moved.max() <= 1
    assert not torch.equal(moved, x) and float((moved - x).abs().mean()) < 0.2


def test_the_features_decoder_reconstructs_an_image_of_the_clients_shape():
    public = data.load("digits", "test")
    fast = MLPSettings(hidden=32, epochs=2, lr=1e-3, batch=32, layers=2, schedule="onecycle")
    cfg = LearnedConfig(aux_items=64, decoder="features", features_mlp=fast, augment=1)
    x, y = data.load("digits", "train")[0]
    model = LeNet5SNN((1, 28, 28), 10, timesteps=2, rng=torch.Generator().manual_seed(0))
    obs = observe(model, x[None], torch.tensor([y]), "image")
    rec = LearnedInversion(cfg, public).reconstruct(obs, torch.Generator().manual_seed(1))
    assert rec.x.shape == (1, 1, 28, 28) and rec.x.min() >= 0 and rec.x.max() <= 1
    assert int(rec.label[0]) == y and rec.details["decoder"] == "features"


def test_the_features_decoder_says_what_it_needs():
    with pytest.raises(ConfigError, match="run it on image data"):
        spec_of("learned", "snn", "dvs-synth", decoder="features")


def _batch_update(cls, items):
    split = data.load("digits", "train")
    x = torch.stack([split[i][0] for i in items]).double()
    y = torch.tensor([split[i][1] for i in items])
    kw = {"timesteps": 4} if cls is LeNet5SNN else {}
    model = cls((1, 28, 28), 10, rng=torch.Generator().manual_seed(2), **kw).double()
    return observe(model, x, y, "image"), x, y


DISTINCT, TWICE = (0, 1, 2, 3), (0, 10, 2, 3)  # items 10 and 2 share a class


@pytest.mark.parametrize(
    ("cls", "items"), [(LeNet, DISTINCT), (LeNet5SNN, DISTINCT), (LeNet5SNN, TWICE)]
)
def test_a_batch_update_gives_each_items_features_and_labels(cls, items):
    """B = 4, float64: the separated features explain the update to rounding and are the
    forward's features of each item, a class held twice included."""
    obs, x, y = _batch_update(cls, items)
    assert (len(set(y.tolist())) == 4) == (items == DISTINCT)
    found = separate(obs)
    assert found.residual < 1e-14 and found.labels.tolist() == sorted(y.tolist())
    truth = model_features(obs.model, x, 4)
    nearest = torch.cdist(truth, found.features).argmin(1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3]
    torch.testing.assert_close(found.features[nearest], truth, rtol=1e-6, atol=1e-6)


def test_two_items_of_one_class_are_told_apart_by_their_softmax_alone():
    """On this LeNet every item gets nearly the same softmax output: the labels still come out
    right and the features explain the update closely, but the two items of one class are
    resolved only as far as their outputs differ (the docs say so)."""
    obs, _, y = _batch_update(LeNet, TWICE)
    found = separate(obs)
    assert found.labels.tolist() == sorted(y.tolist()) and found.residual < 1e-6


def test_the_features_decoder_decodes_each_item_of_a_batch():
    public = data.load("digits", "test")
    fast = MLPSettings(hidden=32, epochs=2, lr=1e-3, batch=32, layers=2, schedule="onecycle")
    cfg = LearnedConfig(aux_items=64, decoder="features", features_mlp=fast, augment=1)
    split = data.load("digits", "train")
    x = torch.stack([split[i][0] for i in (0, 1)])
    y = torch.tensor([split[i][1] for i in (0, 1)])
    model = LeNet((1, 28, 28), 10, rng=torch.Generator().manual_seed(0))
    obs = observe(model, x, y, "image")
    rec = LearnedInversion(cfg, public).reconstruct(obs, torch.Generator().manual_seed(1))
    assert rec.x.shape == (2, 1, 28, 28) and rec.label.tolist() == sorted(y.tolist())
    assert rec.details["separation_residual"] < 1e-6  # recorded: the features explain it
