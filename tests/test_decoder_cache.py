"""Decoder fits kept on disk: a rerun or a resumed study, in this process or another, reads the
fit back instead of fitting again, and never reads another model's."""

import pytest
import torch

from snnleak import data
from snnleak.attacks import learned
from snnleak.attacks.learned import LearnedConfig, LearnedInversion
from snnleak.client import observe
from snnleak.models import LeNet5SNN


def _observation(seed: int):
    x, y = data.load("digits", "train")[seed]
    model = LeNet5SNN((1, 28, 28), 10, timesteps=2, rng=torch.Generator().manual_seed(seed))
    return observe(model, x[None], torch.tensor([y]), "image")


def test_a_fit_is_read_back_from_disk_and_never_for_another_model(tmp_path, monkeypatch):
    public = data.load("digits", "test")
    cfg = LearnedConfig(aux_items=16, decoder="ridge")
    obs = _observation(0)
    first = LearnedInversion(cfg, public, tmp_path)
    want = first.reconstruct(obs, torch.Generator().manual_seed(1))
    assert first.fit_seconds > 0 and len(list(tmp_path.glob("*.pt"))) == 1

    learned._LAST_FIT.clear()  # a new process: nothing fitted in memory

    def no_fit(*args, **kwargs):
        raise AssertionError("the decoder was fitted again")

    monkeypatch.setattr(learned, "public_updates", no_fit)
    again = LearnedInversion(cfg, public, tmp_path)
    got = again.reconstruct(obs, torch.Generator().manual_seed(1))
    assert again.fit_seconds == 0
    torch.testing.assert_close(got.x, want.x, rtol=0, atol=0)
    assert got.details["fit_seconds"] == want.details["fit_seconds"]  # the fit's own time
    with pytest.raises(AssertionError, match="fitted again"):  # another model: its own fit
        again.reconstruct(_observation(1), torch.Generator().manual_seed(1))
