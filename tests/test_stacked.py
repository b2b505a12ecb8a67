"""The stacked victims' grouped convolution and its layouts (``snnleak.models.stacked``).

Gradient matching differentiates a convolution three times (the forward, the parameter
gradients, their gradient to the dummy); the stacked convolution writes out its backward and
that backward's derivatives, so each order is checked here against finite differences, and the
channels-last layout (the CPU's) against NCHW (a GPU's default) on whole attack evaluations.
"""

import pytest
import torch

from snnleak import data
from snnleak.attacks.batched import stack_victims, stacked_matching_loss
from snnleak.attacks.primitives import infer_label
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
    w = torch.randn(k, o, c, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(k, o, generator=g, dtype=torch.float64, requires_grad=True)

    def conv(x, w, b):
        return stacked_conv2d(x, w, b, stride, 1)

    expected = torch.nn.functional.conv2d(x, w.reshape(k * o, c, 3, 3), b.reshape(-1),
                                          stride=stride, padding=1, groups=k)  # fmt: skip
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
