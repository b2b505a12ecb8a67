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
    result = CliRunner().invoke(cli, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "bench.json").read_text())
    assert set(data["dlg_step_ms"]) == {
        "ann_b1",
        "ann_bT",
        "reference",
        "snntorch",
        "snntorch_loop",
        "spikingjelly",
        "fused",
    }
    assert set(data["neuron_op_ms"]) == {"reference", "snntorch", "spikingjelly", "fused"}
    assert all(v["q1"] <= v["median"] <= v["q3"] for v in data["dlg_step_ms"].values())
    assert all(v["median"] > 0 for v in data["dlg_step_ms"].values())
    assert set(data["targets"]) >= {
        "fused_over_ann_bT",
        "spikingjelly_over_fused",
        "snntorch_loop_over_fused",
    }
    assert data["memory_mib"]["fused"] > 0 and data["memory_mib"]["ann_bT"] > 0
    assert data["fused_bandwidth"]["achieved_gbps"] > 0 and "GB/s" in result.output
    assert "memory_fused_over_ann_bT" in data["ratios"]
    assert data["meta"]["T"] == 2 and data["meta"]["threads"] == 2
    assert data["meta"]["device"] == "cpu" and data["meta"]["device_name"]
    assert data["meta"]["versions"]["torch"] and data["meta"]["left_out"] == {}  # both installed
    assert "| fused |" in result.output and "fused_over_ann_bT" in result.output
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_the_fused_kernels_bytes_are_counted_per_call_and_scale_with_the_op():
    """One launch per direction of a neuron-op step (forward, backward, and the double
    backward's two), and bytes exactly proportional to the neurons."""
    import torch

    from snnleak.bench import bandwidth
    from snnleak.bench.kernels import KernelBenchConfig, fused_op_case

    got = {}
    for batch in (1, 3):
        cfg = KernelBenchConfig(timesteps=2, op_batch=batch)
        got[batch] = bandwidth.measure(fused_op_case(cfg), torch.device("cpu"), 2)
    calls = {"neuron_fwd": 1, "neuron_bwd": 2, "neuron_bwd2": 1}
    assert got[1]["kernel_calls_per_step"] == got[3]["kernel_calls_per_step"] == calls
    assert got[3]["bytes_per_step"] == 3 * got[1]["bytes_per_step"] > 0
    assert got[1]["kernel_ms_per_step"] > 0 and "peak_gbps" not in got[1]  # no peak on a CPU


def test_idiomatic_snntorch_lenet_computes_the_backends_logits():
    import torch

    from snnleak.bench.snntorch_lenet import SnnTorchLoopLeNet
    from snnleak.models import LeNet5SNN
    from snnleak.neurons import NeuronParams

    p = NeuronParams("if", detach_reset=True)
    gen = torch.Generator().manual_seed(0)
    model = LeNet5SNN((3, 16, 16), 10, 6, p, "snntorch", rng=gen).train()
    loop = SnnTorchLoopLeNet(model).train()
    x = torch.rand(2, 3, 16, 16, generator=gen)
    torch.testing.assert_close(loop(x), model(x), rtol=1e-5, atol=1e-5)


def test_bench_attacks_writes_the_scaling_curve(tmp_path):
    args = ["bench", "attacks", "--out", str(tmp_path), "--attack", "idlg,proxy"]
    args += ["--trials", "1,2", "--iterations", "1", "--max-iter", "2", "--timesteps", "2"]
    result = CliRunner().invoke(cli, [*args, "--rounds", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "bench_attacks.json").read_text())
    assert set(data["curves"]) == {"idlg", "proxy"}
    for curve in data["curves"].values():
        assert [p["k"] for p in curve] == [1, 2] and curve[0]["over_k1"] == 1
        assert all(p["trials_per_hour"] > 0 and len(p["seconds"]) == 1 for p in curve)
    assert data["meta"]["trials"] == 2 and data["meta"]["versions"]["torch"]
    assert "| proxy | 2 |" in result.output
    assert (tmp_path / "bench_attacks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_attacks_names_an_unknown_attack(tmp_path):
    args = ["bench", "attacks", "--out", str(tmp_path), "--attack", "idlg,dgl"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "unknown attack dgl; choose of dlg, idlg" in result.output


def test_the_fused_kernels_bandwidth_on_a_card_is_a_fraction_of_its_peak():
    import pytest
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    from snnleak.bench import bandwidth
    from snnleak.bench.kernels import KernelBenchConfig, fused_op_case

    cfg = KernelBenchConfig(device="cuda")
    got = bandwidth.measure(fused_op_case(cfg), torch.device("cuda"), 5)
    assert got["peak_gbps"] > 100 and 0 < got["fraction_of_peak"] <= 1


def test_bench_accelerate_times_a_plugin_as_written_and_accelerated(tmp_path):
    from pathlib import Path

    model = Path(__file__).parents[1] / "experiments" / "accelerate_speed.py"
    args = ["bench", "accelerate", "--model", f"{model}:make", "--timesteps", "2"]
    result = CliRunner().invoke(cli, [*args, "--rounds", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "bench_accelerate.json").read_text())
    assert len(out["seconds"]["original"]) == len(out["seconds"]["accelerated"]) == 2
    assert out["ratio"] > 0 and [line.split(" ")[0] for line in out["neurons"]] == ["n1", "n2"]
    assert all(": fused," in line for line in out["neurons"]) and "| accelerated |" in result.output


def test_bench_kernels_names_a_library_it_left_out(monkeypatch):
    import importlib.util

    from snnleak.bench import kernels

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m: None if m == "spikingjelly" else real(m)
    )
    assert kernels.left_out() == {
        "spikingjelly": "spikingjelly is not installed here (pip install 'snnleak[bench]')"
    }
