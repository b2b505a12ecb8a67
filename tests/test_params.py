"""NeuronParams: validation at construction, one clear message each."""

import pytest

from snnleak.errors import ConfigError
from snnleak.neurons import NeuronParams


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "relu"}, "neuron kind must be 'if' or 'lif'"),
        ({"kind": "lif", "tau": 1.0}, "LIF needs tau > 1"),
        ({"kind": "lif", "tau": 0.5}, "LIF needs tau > 1"),
        ({"alpha": 0.0}, "alpha > 0"),
        ({"alpha": float("nan")}, "alpha must be finite"),
        ({"v_threshold": 0.0}, "must be above the resting/reset potential"),
        ({"v_threshold": 0.5, "v_reset": 0.7}, "must be above the resting/reset potential"),
        ({"v_reset": "zero"}, "v_reset must be a finite number"),
        ({"tau": "2"}, "tau must be a number"),
        ({"detach_reset": 1}, "detach_reset must be True or False"),
    ],
)
def test_bad_parameters_raise_one_clear_error(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        NeuronParams(**kwargs)
    assert "\n" not in str(info.value)


def test_params_are_frozen_and_normalised():
    p = NeuronParams(kind="lif", tau=3, v_threshold=2, v_reset=0)
    assert (p.tau, p.v_threshold, p.v_reset) == (3.0, 2.0, 0.0)
    assert p == NeuronParams(kind="lif", tau=3.0, v_threshold=2.0, v_reset=0.0)
    with pytest.raises(AttributeError):
        p.tau = 4.0


def test_derived_coefficients():
    assert (NeuronParams("if").k, NeuronParams("if").c) == (1.0, 1.0)
    lif = NeuronParams("lif", tau=4.0)
    assert (lif.k, lif.c) == (0.75, 0.25)
    assert NeuronParams("lif", tau=4.0, decay_input=False).c == 1.0
    assert NeuronParams(v_reset=None).v_rest == 0.0
    assert NeuronParams(v_reset=-0.5).v_rest == -0.5
