"""``accelerate``: a user's SpikingJelly neurons run on the fused op, equal to the originals in
float64 (forward, parameter gradients, and the gradient of the matching loss: second order);
every neuron left alone is named with its reason."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnleak.accelerate import accelerate
from snnleak.neurons.module import SpikingNeuron
from tests.conftest import equal_to_second_order
from tests.plugin_sources import ST_PLUGIN

sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")


class SJNet(nn.Module):
    """A multi-step SpikingJelly model as its users write one: reset, encode over T, read out."""

    def __init__(self, node_a, node_b, timesteps=5):
        super().__init__()
        self.timesteps = timesteps
        self.fc1, self.node_a = nn.Linear(12, 16), node_a
        self.fc2, self.node_b = nn.Linear(16, 16), node_b
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        sj_functional.reset_net(self)
        h = self.node_a(self.fc1(x.flatten(1)).unsqueeze(0).repeat(self.timesteps, 1, 1))
        return self.out(self.node_b(self.fc2(h))).mean(0)


def _nodes():
    n, sg = sj_neuron, sj_surrogate
    yield (
        n.IFNode(surrogate_function=sg.ATan(), step_mode="m"),
        n.LIFNode(tau=2.0, surrogate_function=sg.ATan(alpha=3.0), step_mode="m", detach_reset=True),
    )
    yield (
        n.LIFNode(
            tau=3.5, v_reset=None, decay_input=False, step_mode="m", surrogate_function=sg.ATan()
        ),
        n.IFNode(v_threshold=0.6, v_reset=-0.5, surrogate_function=sg.ATan(), step_mode="m"),
    )


@pytest.mark.parametrize("nodes", list(_nodes()), ids=["if-lif", "soft-lif-hard-if"])
def test_accelerated_spikingjelly_equals_the_original_to_second_order(nodes):
    torch.manual_seed(0)
    model = SJNet(*nodes).double().train()
    fast, report = accelerate(model)
    assert [r.params is not None for r in report] == [True, True]
    assert isinstance(fast.node_a, SpikingNeuron) and fast.node_a.backend == "fused"
    assert not isinstance(model.node_a, SpikingNeuron)  # the user's model is unchanged
    x = torch.rand(3, 12, dtype=torch.float64) * 2
    y = torch.tensor([0, 2, 3])
    equal_to_second_order(model, fast, x, y, 0.9)


def test_every_neuron_left_alone_is_named_with_its_reason():
    import snntorch as snn

    n, sg = sj_neuron, sj_surrogate
    model = nn.Sequential(
        n.IFNode(step_mode="s", surrogate_function=sg.ATan()),
        n.LIFNode(step_mode="m", surrogate_function=sg.Sigmoid()),
        n.ParametricLIFNode(step_mode="m"),
        snn.Leaky(beta=0.5),
    )
    fast, report = accelerate(model)
    lines = [r.line() for r in report]
    assert all(r.params is None for r in report) and len(lines) == 4
    assert "needs an example input" in lines[0] and "surrogate Sigmoid" in lines[1]
    assert "no fused kernel for ParametricLIFNode" in lines[2]
    assert "needs an example input" in lines[3]
    assert not any(isinstance(m, SpikingNeuron) for m in fast.modules())


SJ_PLUGIN = """
import torch
from torch import nn
from spikingjelly.activation_based import functional, neuron, surrogate


class Net(nn.Module):
    def __init__(self, shape, classes, timesteps):
        super().__init__()
        self.timesteps = timesteps
        self.conv = nn.Conv2d(shape[0], 4, 3, stride=2, padding=1)
        self.lif = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m")
        self.fc = nn.Linear(4 * ((shape[1] + 1) // 2) * ((shape[2] + 1) // 2), classes)

    def forward(self, x):
        functional.reset_net(self)
        h = self.conv(x).flatten(1)
        return self.fc(self.lif(h.unsqueeze(0).repeat(self.timesteps, 1, 1))).mean(0)


def make(shape, classes, timesteps):
    return Net(shape, classes, timesteps)
"""


@pytest.mark.parametrize(
    "source, line, fused_class",
    [
        (
            SJ_PLUGIN,
            "lif (spikingjelly.activation_based.neuron.lif.LIFNode): fused",
            "snnleak.neurons.module.SpikingNeuron",
        ),
        (
            ST_PLUGIN,
            "lif (snntorch._neurons.leaky.Leaky): fused, snnTorch Leaky(beta=0.5",
            "snnleak.neurons.leaky.FusedLeaky",  # beside the Leaky the rewrite no longer calls
        ),
    ],
    ids=["spikingjelly", "snntorch"],
)
def test_attack_accelerate_runs_a_plugin_on_the_fused_op_and_says_so(
    tmp_path, source, line, fused_class
):
    import json

    from click.testing import CliRunner

    from snnleak.cli import cli

    path = tmp_path / "net.py"
    path.write_text(source)
    args = ["attack", "--attack", "idlg", "--model", f"{path}:make", "--dataset", "digits"]
    args += ["--samples", "2", "--batch-trials", "2", "--timesteps", "3", "--iterations", "1"]
    result = CliRunner().invoke(cli, [*args, "--accelerate", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert line in result.output
    records = [
        json.loads(line) for line in (tmp_path / "o" / "records.jsonl").read_text().splitlines()
    ]
    assert fused_class in {n["class"] for n in records[0]["victim"]["neurons"]}
    assert records[0]["config"]["accelerate"] is True and len(records) == 2
    assert records[0]["config"]["lbfgs"]["line_search"] == "strong_wolfe"  # a plug-in's default
    wrong = ["attack", "--attack", "idlg", "--model", "snn", "--dataset", "digits", "--accelerate"]
    result = CliRunner().invoke(cli, [*wrong, "--out", str(tmp_path / "w")])
    assert result.exit_code != 0 and "--accelerate speeds up a plug-in's neurons" in result.output
