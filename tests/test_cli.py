"""The click layer: info and demo print real content; bad input is one line and exit status 2."""

import pytest
from click.testing import CliRunner

from snnleak.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def test_info_lists_versions_and_backends(runner):
    result = runner.invoke(cli, ["info"])
    assert result.exit_code == 0, result.output
    for word in ("torch", "snntorch", "norse", "tonic", "spikingjelly"):
        assert word in result.output
    for backend in ("reference", "snntorch", "norse"):
        assert f"  {backend}" in result.output
    assert "reference  available" in result.output


def test_demo_prints_spikes_and_gradients(runner):
    # inputs 0.2, 0.3, ..., 0.9 into IF(theta=1, hard reset to 0): charges 0.2, 0.5, 0.9, 1.4 |
    # 0.6, 1.3 | 0.8, 1.7 -> spikes at steps 3, 5 and 7
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    spikes = next(line for line in result.output.splitlines() if "spike s_t" in line)
    assert [float(v) for v in spikes.split()[2:]] == [0, 0, 0, 1, 0, 1, 0, 1]
    assert "d(sum s)/d x_t" in result.output


def test_demo_on_norse_omits_what_norse_does_not_expose(runner):
    result = runner.invoke(cli, ["demo", "--backend", "norse", "--kind", "lif", "--tau", "3"])
    assert result.exit_code == 0, result.output
    assert "membrane v_t" in result.output and "charge h_t" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--kind", "lif", "--tau", "0.5"], "error: LIF needs tau > 1"),
        (
            ["demo", "--backend", "norse", "--soft-reset"],
            "error: backend 'norse' cannot represent a soft reset",
        ),
        (["demo", "--threshold", "-1"], "error: v_threshold (-1.0) must be above"),
    ],
)
def test_bad_input_is_one_clear_line(runner, args, message):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert "Traceback" not in result.output
