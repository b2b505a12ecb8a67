"""snnTorch models as their users write them, accelerated: the fused op's snnTorch mode equals
``snn.Leaky`` step by step, and the time-batched rewrite (:mod:`snnleak.timebatch`) of a model's
own time loop equals the model in float64 (forward, parameter gradients, the gradient of the
matching loss: second order); what it cannot rewrite it names."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from snnleak.accelerate import accelerate
from snnleak.gradients import dummy_gradients
from snnleak.neurons.foreign import SmoothSpike, neuron_modules, smooth
from snnleak.neurons.leaky import FusedLeaky, LeakyParams
from tests.conftest import equal_to_second_order

snn = pytest.importorskip("snntorch")
surrogate = pytest.importorskip("snntorch.surrogate")


class ATanFaithful(torch.autograd.Function):
    """snnTorch's ``surrogate.ATan`` without its cast of the spikes to float32 (which makes a
    float64 snnTorch model fail at its next layer): the same forward and backward otherwise."""

    @staticmethod
    def forward(ctx, u, alpha):
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return ctx.alpha / 2 / (1 + (torch.pi / 2 * ctx.alpha * u).pow(2)) * g, None


def faithful(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if not isinstance(m, snn.Leaky):
            continue
        alpha = 2.0 if not hasattr(m, "_alpha") else m._alpha
        m.spike_grad = lambda u, a=alpha: ATanFaithful.apply(u, a)
    return model


class CSNN(nn.Module):
    """snnTorch's tutorial-style convolutional SNN: explicit membranes from ``init_leaky()``."""

    def __init__(self, timesteps=4, **leaky):
        super().__init__()
        self.timesteps = timesteps
        self.conv1, self.lif1 = nn.Conv2d(1, 3, 3), snn.Leaky(**leaky)
        self.conv2, self.lif2 = nn.Conv2d(3, 5, 3), snn.Leaky(**leaky)
        self.fc = nn.Linear(5 * 2 * 2, 4)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = 0
        for _ in range(self.timesteps):
            spk1, mem1 = self.lif1(F.max_pool2d(self.conv1(x), 2), mem1)
            spk2, mem2 = self.lif2(F.max_pool2d(self.conv2(spk1), 2), mem2)
            out = out + self.fc(spk2.flatten(1))
        return out / self.timesteps


class Hidden(nn.Module):
    """snnTorch's ``init_hidden=True`` style: the state inside the modules, reset per forward."""

    def __init__(self, timesteps=4):
        super().__init__()
        self.timesteps = timesteps
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(100, 16), snn.Leaky(beta=0.8, init_hidden=True),
            nn.Linear(16, 4), snn.Leaky(beta=0.7, init_hidden=True, output=True),
        )  # fmt: skip

    def forward(self, x):
        from snntorch import utils

        utils.reset(self.net)
        total = 0
        for _ in range(self.timesteps):
            spk, mem = self.net(x)
            total = total + spk + 0.1 * mem
        return total


@pytest.mark.parametrize(
    "leaky",
    [
        dict(beta=0.5, spike_grad=surrogate.atan()),
        dict(beta=0.9, threshold=0.7, reset_mechanism="zero", spike_grad=surrogate.atan(3.0)),
    ],
    ids=["subtract", "zero"],
)
def test_an_accelerated_snntorch_csnn_equals_the_original_to_second_order(leaky):
    torch.manual_seed(0)
    model = CSNN(**leaky).double().train()
    x = torch.rand(2, 1, 14, 14, dtype=torch.float64) * 3
    fast, report = accelerate(model, example=x[:1])
    assert [r.params is not None for r in report] == [True, True], [r.line() for r in report]
    assert isinstance(fast.snnleak_fused.lif1, FusedLeaky) and not hasattr(model, "snnleak_fused")
    for m in (model, fast):  # snnTorch's own ATan casts spikes to float32: see ATanFaithful
        m.lif1._alpha = m.lif2._alpha = float(leaky["spike_grad"].__closure__[0].cell_contents)
    faithful(model)
    calls = []
    fast.conv2.register_forward_hook(lambda *a: calls.append(1))
    equal_to_second_order(model, fast, x, torch.tensor([1, 3]), 0.8)
    assert len(calls) == 2  # conv2 ran once per forward, on all T steps together (not T times)


def test_init_hidden_models_are_time_batched_too():
    torch.manual_seed(0)
    model = Hidden().double().train()
    x = torch.rand(3, 1, 10, 10, dtype=torch.float64)
    fast, report = accelerate(model, example=x[:1])
    assert all(r.params is not None for r in report), [r.line() for r in report]
    faithful(model)
    equal_to_second_order(model, fast, x * 4, torch.tensor([0, 1, 2]), 0.8)


def test_float32_as_written_equal_spikes_and_close_gradients():
    torch.manual_seed(0)
    model = CSNN(beta=0.5).train()  # snnTorch exactly as written (float32)
    x = torch.rand(2, 1, 14, 14) * 3
    fast, _ = accelerate(model, example=x[:1])
    torch.testing.assert_close(fast(x), model(x), rtol=0, atol=1e-6)
    g0, g1 = (dummy_gradients(m, x, torch.tensor([0, 1])) for m in (model, fast))
    for a, b in zip(g0, g1, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_other_shapes_take_the_models_own_forward():
    torch.manual_seed(0)
    model = Hidden().double()
    fast, _ = accelerate(model, example=torch.zeros(1, 1, 10, 10, dtype=torch.float64))
    flat = torch.rand(2, 100, dtype=torch.float64)  # nn.Flatten accepts it; the rewrite did not
    torch.testing.assert_close(faithful(fast)(flat), faithful(model)(flat))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.back, self.lif = nn.Linear(8, 8), nn.Linear(8, 8), snn.Leaky(beta=0.5)

    def forward(self, x):
        mem, spk = self.lif.init_leaky(), torch.zeros_like(x)
        for _ in range(3):
            spk, mem = self.lif(self.fc(x) + self.back(spk), mem)
        return spk


class Branchy(CSNN):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return super().forward(x)
        return x


def test_what_cannot_be_time_batched_is_named_and_left_exact():
    torch.manual_seed(0)
    lines = {}
    cases = {
        "recurrent": (Recurrent(), torch.rand(1, 8)),
        "branchy": (Branchy(beta=0.5), torch.rand(1, 1, 14, 14)),
        "learnable": (CSNN(beta=0.5, learn_beta=True), torch.rand(1, 1, 14, 14)),
        "no-example": (CSNN(beta=0.5), None),
    }
    for case, (model, x) in cases.items():
        fast, report = accelerate(model, example=x)
        assert all(r.params is None for r in report)
        lines[case] = report[0].line()
        if x is not None:
            torch.testing.assert_close(fast(x), model(x))
    assert "recurrent path" in lines["recurrent"]
    assert "torch.fx cannot trace" in lines["branchy"]
    assert "a learnable beta" in lines["learnable"]
    assert "needs an example input" in lines["no-example"]


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("smooth_mode", [False, True], ids=["spiking", "smooth"])
def test_the_fused_leaky_is_snntorchs_leaky_step_by_step(reset, smooth_mode):
    torch.manual_seed(1)
    p = LeakyParams(beta=0.85, threshold=0.6, alpha=2.5, reset=reset, smooth=smooth_mode)
    spike = SmoothSpike(p.alpha) if smooth_mode else (lambda u: ATanFaithful.apply(u, p.alpha))
    beta, threshold = (torch.tensor(v, dtype=torch.float64) for v in (p.beta, p.threshold))
    lif = snn.Leaky(beta=beta, threshold=threshold, spike_grad=spike, reset_mechanism=reset)
    x = (torch.randn(7, 40, dtype=torch.float64) * 1.5).requires_grad_()
    mem, spikes, mems = lif.init_leaky(), [], []
    for t in range(7):
        s, mem = lif(x[t], mem)
        spikes.append(s)
        mems.append(mem)
    ref = torch.stack(spikes), torch.stack(mems)
    fused = FusedLeaky(p)(x)
    w = torch.randn(2, 7, 40, dtype=torch.float64)
    outs = []
    for s, h in (ref, fused):
        (g,) = torch.autograd.grad((s * w[0]).sum() + (h * h * w[1]).sum(), x, create_graph=True)
        (gg,) = torch.autograd.grad((g * g).sum(), x)
        outs.append((s.detach(), h.detach(), g.detach(), gg))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    if not smooth_mode:
        assert 0 < outs[0][0].sum() < outs[0][0].numel()


def test_the_smooth_proxy_smooths_the_time_batched_neurons():
    torch.manual_seed(0)
    model = CSNN(beta=0.5).double()
    x = torch.rand(2, 1, 14, 14, dtype=torch.float64) * 3
    fast, _ = accelerate(model, example=x[:1])
    for m in (model, fast):
        assert all(smooth(n, 3.0) for _, n in neuron_modules(m))
    twin = fast.snnleak_fused.lif2
    assert isinstance(twin.params, LeakyParams) and twin.params.smooth
    torch.testing.assert_close(fast(x), model(x), rtol=0, atol=1e-10)


class SJStepwise(nn.Module):
    """SpikingJelly's single-step style: the model loops over T, each node called per step."""

    def __init__(self, timesteps=4):
        from spikingjelly.activation_based import neuron
        from spikingjelly.activation_based import surrogate as sj_surrogate

        super().__init__()
        self.timesteps = timesteps
        self.conv = nn.Conv2d(1, 3, 3)
        self.node1 = neuron.LIFNode(tau=2.0, surrogate_function=sj_surrogate.ATan())
        self.fc = nn.Linear(3 * 8 * 8, 4)
        self.node2 = neuron.IFNode(v_reset=None, surrogate_function=sj_surrogate.ATan(3.0))

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        out = 0
        for _ in range(self.timesteps):
            z = 3 * self.fc(self.node1(self.conv(x)).flatten(1)) + 1
            out = out + z + self.node2(z)
        return out / self.timesteps


def test_spikingjelly_single_step_nodes_are_time_batched():
    pytest.importorskip("spikingjelly")
    torch.manual_seed(0)
    model = SJStepwise().double().train()
    x = torch.rand(2, 1, 10, 10, dtype=torch.float64) * 3
    fast, report = accelerate(model, example=x[:1])
    assert all(r.params is not None for r in report), [r.line() for r in report]
    equal_to_second_order(model, fast, x, torch.tensor([1, 3]), 0.8)
