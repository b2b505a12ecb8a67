"""``reproduce defenses``: federations on Flower per defense, the table and the figure."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from snnleak.cli import cli
from snnleak.errors import ConfigError
from snnleak.reproduce.defense_plan import parse_defenses
from snnleak.reproduce.preset import preset_text

TINY = """
[defenses]
dataset = "digits"
models = ["ann"]
defenses = ["none", "dp:0.001:1"]
clients = 2
rounds = 1
batch = 1
local_lr = 0.1
attack = "idlg"
iterations = 15
timesteps = 2
"""


def test_reproduce_defenses_writes_its_table_and_figure(tmp_path):
    quick = preset_text("quick")
    preset = tmp_path / "tiny.toml"
    preset.write_text(quick[: quick.index("[defenses]")] + TINY)
    out = tmp_path / "out"
    args = ["reproduce", "defenses", "--preset", str(preset), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    table = (out / "tables" / "defenses.md").read_text()
    assert "| LeNet | none |" in table and "| LeNet | dp:0.001:1 |" in table
    assert (out / "figures" / "defenses.png").read_bytes()[:4] == b"\x89PNG"
    rows = {line.split("|")[2].strip(): line for line in table.splitlines() if "| LeNet |" in line}
    # noise 1000x the clipped update: no reconstruction; none: the ANN reconstructs
    ssim = {k: float(v.split("|")[6].split()[0]) for k, v in rows.items()}
    assert ssim["none"] > 0.8 and ssim["dp:0.001:1"] < 0.3


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"models": ["cnn"]}, "not ann or snn"),
        ({"defenses": ["dp:1"]}, "--defense"),
        ({"rounds": 0}, "rounds must be"),
        ({"colour": "red"}, "unknown key"),
        ({"clients": "four"}, "must be a int"),
    ],
)
def test_bad_defense_sections_are_one_line(table, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_defenses(table)
