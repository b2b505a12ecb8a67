"""Victim models: shapes, init, input handling, and a DLG-style second-order gradient through
LeNet5SNN that equals the same computation through an equivalent SpikingJelly network."""

import pytest
import torch

from snnleak.errors import ConfigError
from snnleak.gradients import dlg_step, parameter_gradients
from snnleak.models import LeNet, LeNet5SNN
from snnleak.neurons import NeuronParams


@pytest.mark.parametrize(
    ("shape", "features"), [((3, 32, 32), 768), ((1, 28, 28), 588), ((2, 128, 128), 12 * 32 * 32)]
)
def test_lenet_geometry(shape, features):
    model = LeNet(shape, 10)
    assert model.fc.in_features == features
    assert model(torch.rand(2, *shape)).shape == (2, 10)


def test_dlg_uniform_init_and_seeding():
    a = LeNet((3, 32, 32), 100, rng=torch.Generator().manual_seed(5))
    b = LeNet((3, 32, 32), 100, rng=torch.Generator().manual_seed(5))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
        assert pa.abs().max() <= 0.5, name  # U(-0.5, 0.5)
        if pa.numel() >= 100:
            assert pa.abs().max() > 0.45, name


def test_torch_init_has_the_default_layers_bound_and_is_seeded():
    g = torch.Generator()
    a = LeNet5SNN((1, 28, 28), 10, timesteps=2, rng=g.manual_seed(1), init="torch")
    b = LeNet5SNN((1, 28, 28), 10, timesteps=2, rng=g.manual_seed(1), init="torch")
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    for layer in (*a.convs, a.fc):  # torch's own bound: 1/sqrt(fan_in), weights and biases
        bound = layer.weight[0].numel() ** -0.5
        w, b = layer.weight.detach().abs().max(), layer.bias.detach().abs().max()
        assert float(w) <= bound and float(b) <= bound and float(w) > 0.9 * bound
    with pytest.raises(ConfigError, match="init must be one of dlg, torch"):
        LeNet((1, 28, 28), 10, init="xavier")


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_eval_mode_changes_nothing_in_lenet5snn(backend):
    """The victim in eval rather than train mode: LeNet5SNN has no batch norm or dropout, and
    no backend's surrogate depends on the mode, so the client's update is bit-identical."""
    g = torch.Generator().manual_seed(4)
    model = LeNet5SNN((1, 28, 28), 10, timesteps=4, backend=backend, rng=g).double()
    x, y = torch.rand(2, 1, 28, 28, generator=g, dtype=torch.float64), torch.tensor([3, 7])
    train = parameter_gradients(model.train(), x, y)
    evaluated = parameter_gradients(model.eval(), x, y)
    assert all(torch.equal(a, b) for a, b in zip(train, evaluated, strict=True))


def test_snn_shares_the_ann_geometry_and_init():
    g = torch.Generator()
    ann = LeNet((3, 32, 32), 100, rng=g.manual_seed(0))
    snn = LeNet5SNN((3, 32, 32), 100, timesteps=4, rng=g.manual_seed(0))
    for pa, ps in zip(ann.parameters(), snn.parameters(), strict=True):
        assert torch.equal(pa, ps)


def test_snn_images_are_replicated_over_time():
    snn = LeNet5SNN((1, 28, 28), 10, timesteps=6).double()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    out = snn(x)
    assert out.shape == (3, 10)
    torch.testing.assert_close(out, snn(x.unsqueeze(0).expand(6, -1, -1, -1, -1)))


def test_snn_accepts_event_tensors():
    snn = LeNet5SNN((2, 32, 32), 11, timesteps=5)
    events = (torch.rand(5, 4, 2, 32, 32) < 0.3).float()
    assert snn(events).shape == (4, 11)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 32, 32), r"expects images \[B, 1, 28, 28\] or spike tensors \[T, B, 1, 28, 28\]"),
        ((7, 2, 1, 28, 28), "timesteps=5, but the input sequence has T=7"),
        ((28, 28), "expects images"),
    ],
)
def test_snn_bad_input_shapes(shape, message):
    with pytest.raises(ConfigError, match=message):
        LeNet5SNN((1, 28, 28), 10, timesteps=5)(torch.rand(shape))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_shape": (3, 32)}, "in_shape must be"),
        ({"num_classes": 1}, "num_classes"),
        ({"timesteps": 0}, "timesteps must be a positive integer"),
        ({"backend": "nope"}, "unknown neuron backend 'nope'"),
    ],
)
def test_snn_bad_construction(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LeNet5SNN(**kwargs)


def test_snn_runs_on_every_backend_that_can_represent_it():
    g = torch.Generator()
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 3
    p = NeuronParams("if", detach_reset=True)  # representable by all three
    outs = {
        b: LeNet5SNN(
            (1, 16, 16), 10, timesteps=4, neuron=p, backend=b, rng=g.manual_seed(0)
        ).double()(x.double())
        for b in ("reference", "snntorch")
    }
    torch.testing.assert_close(outs["snntorch"], outs["reference"], rtol=1e-6, atol=1e-6)


# --- DLG second order against SpikingJelly --------------------------------------------------

sj = pytest.importorskip("spikingjelly.activation_based")


@pytest.mark.parametrize(
    "neuron",
    [
        NeuronParams("if"),
        NeuronParams("if", v_reset=None),
        NeuronParams("if", detach_reset=True, v_threshold=0.8),
    ],
    ids=str,
)
def test_dlg_second_order_equals_spikingjelly_network(neuron):
    from snnleak.bench.spikingjelly_lenet import SpikingJellyLeNet

    g = torch.Generator().manual_seed(0)
    model = LeNet5SNN((1, 16, 16), 10, timesteps=6, neuron=neuron, rng=g).double()
    model.train()
    x = torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64)
    y = torch.tensor([3])
    x_dummy = torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64) * 0.1 + 0.45
    x_dummy.requires_grad_()
    y_dummy = torch.randn(1, 10, generator=g, dtype=torch.float64, requires_grad=True)

    results = []
    for net in (model, SpikingJellyLeNet(model)):
        results.append(dlg_step(net, parameter_gradients(net, x, y), x_dummy, y_dummy))
    assert results[0][0] > 0 and results[0][1].abs().max() > 0
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)
