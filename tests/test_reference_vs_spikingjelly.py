"""The reference neuron equals SpikingJelly 2.0.0 (IFNode / LIFNode, step_mode="m", ATan).

Forward spikes and membrane, first-order and DLG-style second-order input gradients, float64,
absolute tolerance 1e-10, over IF/LIF, hard reset to 0 and to -0.5, soft reset, detach_reset,
decay_input, two taus, two thresholds, T in {1, 2, 7, 20} and 5-D inputs.
"""

import itertools

import pytest
import torch

from snnleak.neurons import NeuronParams, multistep_trace
from tests.conftest import first_and_second_order

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")

TOL = 1e-10


def _configs():
    for v_reset, detach, thr in itertools.product((0.0, -0.5, None), (False, True), (1.0, 0.6)):
        yield NeuronParams("if", v_threshold=thr, v_reset=v_reset, detach_reset=detach)
        for decay, tau in itertools.product((True, False), (2.0, 3.5)):
            yield NeuronParams(
                "lif",
                tau=tau,
                v_threshold=thr,
                v_reset=v_reset,
                detach_reset=detach,
                decay_input=decay,
            )


CONFIGS = list(_configs())


def spikingjelly_trace(p: NeuronParams, x_seq: torch.Tensor):
    common = dict(
        v_threshold=p.v_threshold,
        v_reset=p.v_reset,
        detach_reset=p.detach_reset,
        surrogate_function=sj_surrogate.ATan(alpha=p.alpha, spiking=not p.smooth),
        step_mode="m",
        store_v_seq=True,
    )
    if p.kind == "if":
        node = sj_neuron.IFNode(**common)
    else:
        node = sj_neuron.LIFNode(tau=p.tau, decay_input=p.decay_input, **common)
    spikes = node(x_seq)
    return spikes, node.v_seq


def _compare(p, shape, gen):
    drive = p.tau if (p.kind == "lif" and p.decay_input) else 1.0  # undo the input's 1/tau
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 0.8 + 0.5) * drive
    x.requires_grad_()
    cs, cv, u = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(3))

    def ours(x):
        t = multistep_trace(x, p)
        return t.spikes, t.v

    a_out, a_g1, a_g2 = first_and_second_order(ours, x, (cs, cv), u)
    b_out, b_g1, b_g2 = first_and_second_order(lambda x: spikingjelly_trace(p, x), x, (cs, cv), u)
    for a, b in zip(a_out, b_out, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=TOL)
    torch.testing.assert_close(a_g1, b_g1, rtol=0, atol=TOL)
    torch.testing.assert_close(a_g2, b_g2, rtol=0, atol=TOL)
    return a_out[0], a_g2


@pytest.mark.parametrize("p", CONFIGS, ids=str)
@pytest.mark.parametrize("T", [1, 2, 7, 20])
def test_reference_equals_spikingjelly(p, T, gen):
    spikes, g2 = _compare(p, (T, 2, 3, 4, 5), gen)
    if T >= 7:  # the comparison is not vacuous: the inputs make the neurons fire and not fire
        assert 0 < spikes.mean() < 1
    assert g2.abs().max() > 0


@pytest.mark.parametrize("kind", ["if", "lif"])
def test_reference_equals_spikingjelly_smooth_mode(kind, gen):
    _compare(NeuronParams(kind, smooth=True, v_reset=None), (6, 3, 8), gen)
