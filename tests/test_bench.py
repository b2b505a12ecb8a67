"""``snnleak bench kernels`` produces the table and bench.json with every case (no speed is
asserted here: speed is measured by the benchmark itself, not by tests)."""

import json

from click.testing import CliRunner

from snnleak.cli import cli


def test_bench_kernels_writes_every_case(tmp_path):
    args = [
        "bench",
        "kernels",
        "--out",
        str(tmp_path),
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--timesteps",
        "2",
        "--batch",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "bench.json").read_text())
    assert set(data["dlg_step_ms"]) == {
        "ann_b1",
        "ann_bT",
        "reference",
        "snntorch",
        "spikingjelly",
        "fused",
    }
    assert set(data["neuron_op_ms"]) == {"reference", "snntorch", "spikingjelly", "fused"}
    assert all(v > 0 for v in data["dlg_step_ms"].values())
    assert data["meta"]["T"] == 2 and data["meta"]["threads"] == 2
    assert data["meta"]["versions"]["torch"]
    assert "| fused |" in result.output and "fused_over_ann_bT" in result.output
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_bench_attacks_compares_batched_and_solo(tmp_path):
    args = [
        "bench",
        "attacks",
        "--out",
        str(tmp_path),
        "--trials",
        "2",
        "--iterations",
        "1",
        "--timesteps",
        "2",
        "--rounds",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "bench_attacks.json").read_text())
    assert set(data["trials_per_hour"]) == {"solo", "batched"} and data["batched_over_solo"] > 0
    assert "batched / solo" in result.output
