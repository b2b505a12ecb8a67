"""The surrogate families of the ablations: each smooth primitive's derivative is exactly its
surrogate, the spike is the step with that surrogate as its gradient (differentiable again),
and every backend but the reference refuses what it cannot run, in one clear error."""

import pytest
import torch

from snnleak.errors import UnsupportedConfiguration
from snnleak.neurons import NeuronParams, multistep
from snnleak.neurons.surrogate import SURROGATES, surrogate_spike


@pytest.mark.parametrize("family", list(SURROGATES))
@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
def test_the_primitive_differentiates_to_the_surrogate(family, alpha):
    grad, primitive = SURROGATES[family]
    x = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(primitive(x, alpha).sum(), x)
    torch.testing.assert_close(d, grad(x.detach(), alpha), rtol=1e-10, atol=1e-12)
    assert float(primitive(torch.zeros(1, dtype=torch.float64), alpha)) == pytest.approx(0.5)
    # every surrogate integrates to 1 (a probability density on the membrane gap)
    wide = torch.linspace(-200, 200, 400001, dtype=torch.float64)
    assert float(torch.trapezoid(grad(wide, alpha), wide)) == pytest.approx(1, abs=2e-2)


@pytest.mark.parametrize("family", list(SURROGATES))
def test_the_spike_is_a_step_with_the_surrogate_gradient_to_second_order(family):
    grad, _ = SURROGATES[family]
    x = torch.tensor([-0.7, -0.1, 0.0, 0.2, 0.9], dtype=torch.float64, requires_grad=True)
    s = surrogate_spike(x, 2.0, family=family)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    (g,) = torch.autograd.grad(s.sum(), x, create_graph=True)
    torch.testing.assert_close(g, grad(x.detach(), 2.0))
    (g2,) = torch.autograd.grad(g.sum(), x)
    xr = x.detach().clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(grad(xr, 2.0).sum(), xr)
    torch.testing.assert_close(g2, expected)


def test_the_reference_runs_every_family_and_the_others_refuse():
    x = torch.rand(4, 3, 5, dtype=torch.float64) * 2
    for family in SURROGATES:
        p = NeuronParams(surrogate=family)
        assert multistep(x, p, "reference").shape == x.shape
    p = NeuronParams(surrogate="sigmoid", detach_reset=True)
    for backend in ("fused", "snntorch", "norse"):
        with pytest.raises(UnsupportedConfiguration, match="sigmoid"):
            multistep(x, p, backend)
    with pytest.raises(Exception, match="unknown surrogate 'relu'"):
        NeuronParams(surrogate="relu")
