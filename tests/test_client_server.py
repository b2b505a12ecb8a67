"""The client/server line in code: the server holds the model as it sent it and the update,
nothing of the client's private computation; a client's draws are its own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnleak import data
from snnleak.attacks import spec_of
from snnleak.client import observe, own_generators
from snnleak.federated.flower import (
    Federation,
    build_global,
    client_train,
    parts_of,
    round_batch,
    update_from,
)
from snnleak.gradients import parameter_gradients
from snnleak.seeding import client_rng
from snnleak.threat import server_copy

pytestmark = pytest.mark.compat


class NormNet(nn.Module):
    """A plug-in victim with batch norm (its running statistics are buffers) and a generator
    of its own without any redraw method: the two ways private state could ride along."""

    timesteps = None

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 10)
        self.rng = torch.Generator().manual_seed(1234)  # the client's noise source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.rand(x.shape, generator=self.rng).to(x.device) * 1e-3
        return self.fc(torch.sigmoid(self.norm(self.conv(x + noise))).flatten(1))


def _private_batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 1, 8, 8, generator=g), torch.tensor([1, 2, 3, 4])


def test_the_server_model_is_the_model_as_sent_buffers_included():
    torch.manual_seed(0)
    model = NormNet()
    sent = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _private_batch()
    obs = observe(model, x, y, "image")
    # the client's forward moved its batch-norm statistics toward the private batch ...
    assert not torch.equal(model.norm.running_mean, sent["norm.running_mean"])
    # ... the server's copy holds them as they were sent
    for name, value in obs.model.state_dict().items():
        assert torch.equal(value, sent[name]), name


def test_a_generator_without_redraw_does_not_pass_the_clients_draws_on():
    model = NormNet()
    client_next = torch.rand(8, generator=model.rng)  # what the client draws next ...
    model.rng.manual_seed(1234)  # (back to where the client is)
    copy_ = server_copy(model)
    server_next = torch.rand(8, generator=copy_.rng)
    assert not torch.equal(client_next, server_next)  # ... the server cannot replay it
    assert copy_.rng is not model.rng
    # the client's own stream is left as it was
    assert torch.equal(torch.rand(8, generator=model.rng), client_next)


def test_a_clients_generators_are_its_own_per_client_and_round():
    def draws(client: int, round_: int) -> torch.Tensor:
        model = own_generators(NormNet(), client_rng(0, client, round_, "encoding"))
        return torch.rand(8, generator=model.rng)

    assert not torch.equal(draws(0, 1), draws(1, 1))  # two clients in a round
    assert not torch.equal(draws(0, 1), draws(0, 2))  # one client in two rounds
    assert torch.equal(draws(0, 1), draws(0, 1))  # seeded


def test_two_clients_in_a_round_draw_differently_in_a_federation():
    spec = spec_of("idlg", "snn", "digits", timesteps=3, encoding="poisson", batch=2)
    fed = Federation(spec, clients=2, rounds=1, attack_rounds=(1,))
    split = data.load("digits", "train")
    model = build_global(fed, split.info, torch.device("cpu"))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, _ = round_batch(fed, split, parts_of(fed, split), 0, 1)
    # the same items through two clients' encoders: different spikes
    spikes = []
    for client in (0, 1):
        own_generators(model, client_rng(fed.seed, client, 1, "encoding"))
        spikes.append(model.encode(x))
    assert not torch.equal(spikes[0], spikes[1])
    # and a client's round runs without Flower: its weights move by its update
    new = client_train(fed, state, split, 0, 1, torch.device("cpu"))
    names = [n for n, _ in model.named_parameters()]
    update = update_from(state, new, names, fed.spec.client.local.lr * fed.steps())
    assert all(torch.isfinite(u).all() for u in update) and any(u.abs().sum() > 0 for u in update)


def test_the_server_update_from_weights_is_the_gradient_of_a_fedsgd_client():
    fed = Federation(spec_of("idlg", "ann", "digits"), clients=2, rounds=1, attack_rounds=(1,))
    split = data.load("digits", "train")
    model = build_global(fed, split.info, torch.device("cpu"))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    new = client_train(fed, state, split, 1, 1, torch.device("cpu"))
    names = [n for n, _ in model.named_parameters()]
    got = update_from(state, new, names, fed.spec.client.local.lr * fed.steps())
    x, y = round_batch(fed, split, parts_of(fed, split), 1, 1)
    want = parameter_gradients(model.train(), x, torch.tensor(y))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=2e-3, atol=2e-5)  # float32 weights
