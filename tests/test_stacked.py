"""The stacked victims' grouped convolution and its layouts (``snnleak.models.stacked``).

Gradient matching differentiates a convolution three times (the forward, the parameter
gradients, their gradient to the dummy); the stacked convolution writes out its backward and
that backward's derivatives, so each order is checked here against finite differences, and the
channels-last layout (the CPU's) against NCHW (a GPU's default) on whole attack evaluations.
"""

from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from snnleak import data
from snnleak.attacks.primitives import infer_label
from snnleak.attacks.victims import stack_victims, stacked_matching_loss, trial_gradients
from snnleak.client import observe
from snnleak.models import LeNet, LeNet5SNN, stacked
from snnleak.models.stacked import stacked_conv2d


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_stacked_convolution_is_differentiable_to_third_order(stride, layout):
    g = torch.Generator().manual_seed(0)
    k, c, o = 3, 2, 2
    x = torch.randn(2, k * c, 7, 7, generator=g, dtype=torch.float64)
    x = x.contiguous(memory_format=layout).requires_grad_(True)
    w = torch.randn(k * o, c, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(k * o, generator=g, dtype=torch.float64, requires_grad=True)

    def conv(x, w, b):
        return stacked_conv2d(x, w, b, stride, 1, k)

    expected = torch.nn.functional.conv2d(x, w, b, stride=stride, padding=1, groups=k)
    torch.testing.assert_close(conv(x, w, b), expected, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(conv, (x, w, b))
    assert torch.autograd.gradgradcheck(conv, (x, w, b))

    def matched(x, w, b):  # what gradient matching differentiates: a gradient, to the input
        (gw,) = torch.autograd.grad(conv(x, w, b).square().sum(), w, create_graph=True)
        return gw

    assert torch.autograd.gradcheck(matched, (x, w, b))


def _observations(snn: bool, events: bool):
    out = []
    for i in range(3):
        if events:
            x, y = data.load("dvs-synth", "test")[i]
            x = x[:3, :, :32, :32].double().unsqueeze(1)
            m = LeNet5SNN(x.shape[2:], 11, timesteps=3, rng=torch.Generator().manual_seed(i))
        else:
            x, y = data.load("digits", "test")[i]
            x = x[None].double()
            cls = LeNet5SNN if snn else LeNet
            kw = {"timesteps": 4, "backend": "fused"} if snn else {}
            m = cls((1, 28, 28), 10, rng=torch.Generator().manual_seed(i), **kw)
        out.append(observe(m.double(), x, torch.tensor([y]), "events" if events else "image"))
    return out


@pytest.mark.parametrize(("snn", "events"), [(True, False), (False, False), (True, True)])
def test_channels_last_and_nchw_give_the_same_evaluation(snn, events, monkeypatch):
    obs = _observations(snn, events)
    labels = torch.stack([infer_label(o) for o in obs])
    shape = obs[0].input_shape  # [K, T, B, C, H, W] events, [K, B, C, H, W] images
    shape = (3, shape[0], 1, *shape[1:]) if events else (3, 1, *shape)
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def evaluate():
        stack = stack_victims(obs)
        leaf = x.clone().requires_grad_(True)
        loss = stacked_matching_loss(stack, leaf, labels)
        return loss, torch.autograd.grad(loss.sum(), leaf)[0]

    assert stacked.channels_last(x.device)  # the CPU's layout
    nhwc = evaluate()
    monkeypatch.setattr(stacked, "channels_last", lambda device: False)
    nchw = evaluate()
    for a, b in zip(nhwc, nchw, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert nhwc[1].abs().sum() > 0


class _ConvCalls(TorchDispatchMode):
    """The convolutions dispatched: forwards, and backwards by what they compute."""

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution.default:
            self.calls["forward"] += 1
        elif func is torch.ops.aten.convolution_backward.default:
            mask = args[-1]
            self.calls["input_grad"] += mask[0]
            self.calls["weight_grad"] += mask[1]
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("snn", [True, False])
def test_gradient_matching_computes_no_gradient_it_throws_away(snn):
    """First pass (to the parameters): every convolution's weight gradient, and the input
    gradient of all but the first (the dummy is not a parameter). Second pass (to the dummy):
    no weight gradient at all."""
    obs = _observations(snn, False)
    labels = torch.stack([infer_label(o) for o in obs])
    x = torch.rand(3, 1, *obs[0].input_shape, dtype=torch.float64).requires_grad_(True)
    stack = stack_victims(obs)
    n = len(stack.model.conv_w)
    with _ConvCalls() as first:
        grads, true = trial_gradients(stack, x, labels)
    assert first.calls == {"forward": n, "input_grad": n - 1, "weight_grad": n}
    loss = ((grads - true) ** 2).sum()
    with _ConvCalls() as second:
        (dx,) = torch.autograd.grad(loss, x)
    # per layer: the forward's and the weight gradient's derivatives to their input; the
    # weight gradient's and (all but the first layer's) input gradient's to their grad
    assert second.calls == {"forward": 2 * n - 1, "input_grad": 2 * n, "weight_grad": 0}
    assert dx.abs().sum() > 0


def test_pruning_changes_no_value_and_falls_back_without_torchs_query(monkeypatch):
    obs = _observations(True, False)
    labels = torch.stack([infer_label(o) for o in obs])
    x0 = torch.rand(3, 1, *obs[0].input_shape, dtype=torch.float64)

    def evaluate():
        x = x0.clone().requires_grad_(True)
        with _ConvCalls() as calls:
            loss = stacked_matching_loss(stack_victims(obs), x, labels)
            (dx,) = torch.autograd.grad(loss.sum(), x)
        return loss, dx, calls.calls["weight_grad"]

    pruned = evaluate()
    monkeypatch.setattr(stacked, "_WILL_RUN", None)  # a torch without the query
    full = evaluate()
    assert (pruned[2], full[2]) == (3, 3 + 5)  # the second pass's weight gradients are back
    for a, b in zip(pruned[:2], full[:2], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
