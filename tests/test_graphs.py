"""CUDA graphs of the attacks' evaluations (``snnleak.attacks.graphs``).

A GPU replays a captured evaluation; here the same code runs under a CPU stand-in for the
capture that records every op the evaluation dispatches and fails on one that would synchronise
with the host (which a CUDA graph cannot capture), then replays by recomputing into the captured
output buffers, as a graph does. Every attack then gives the trials it gives unwrapped: the
graphed path's bookkeeping (every row evaluated, the rows asked for handed back, copies out of
static buffers) changes nothing. On a GPU, graph replay against eager is tested directly.
"""

from types import SimpleNamespace

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from snnleak import data
from snnleak.attacks import DLGConfig, GradientInversion, LBFGSConfig, graphs
from snnleak.attacks.analytic import AnalyticConfig, AnalyticInversion
from snnleak.attacks.config import Thresholding
from snnleak.attacks.grnn import GRNN, GRNNConfig
from snnleak.attacks.inverting import InvertingConfig, InvertingGradients
from snnleak.attacks.learned import LearnedConfig, LearnedInversion
from snnleak.attacks.proxy import ProxyConfig, SmoothProxy
from snnleak.client import observe
from snnleak.device import CudaOptions, cuda_options, using
from snnleak.models import LeNet, LeNet5SNN

# ops that read a tensor's value on the host, or whose output shape depends on its values
SYNCING = {"_local_scalar_dense", "nonzero", "masked_select", "is_nonzero", "equal", "unique"}
SYNCING |= {"_unique2", "unique_dim", "unique_consecutive", "lift_fresh", "item"}


class HostSyncs(TorchDispatchMode):
    """The ops dispatched in the block that a CUDA graph could not capture."""

    def __init__(self) -> None:
        super().__init__()
        self.ops, self.found = 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        name = func.__name__.split(".")[0]
        masks = [
            i
            for a in args
            if isinstance(a, list | tuple)
            for i in a
            if isinstance(i, torch.Tensor) and i.dtype == torch.bool
        ]
        if name in SYNCING or (name.startswith("index") and masks):
            self.found.append(name)
        return func(*args, **(kwargs or {}))


def cpu_capture(log: list):
    """A stand-in for :func:`graphs.capture_cuda`: runs ``fn`` under :class:`HostSyncs` and
    replays by recomputing into the first run's outputs (the 'static buffers')."""

    def capture(fn):
        with HostSyncs() as seen:
            static = fn()
        log.append(seen)

        def replay():
            for buffer, value in zip(static, fn(), strict=True):
                buffer.copy_(value)
            return static

        return replay

    return capture


def test_graphs_replace_an_evaluation_only_on_a_gpu_with_the_option_on():
    def evaluate(rows=None):
        return torch.zeros(1), torch.zeros(1, 1)

    gpu = SimpleNamespace(device=torch.device("cuda", 0))
    assert graphs.graphed(evaluate, torch.zeros(2)) is evaluate
    assert isinstance(graphs.graphed(evaluate, gpu), graphs.GraphedEvaluate)
    assert graphs.graphed_call(evaluate, torch.zeros(2)) is evaluate
    with using(CudaOptions(graphs=False)):
        assert graphs.graphed(evaluate, gpu) is evaluate
        assert graphs.graphed_call(evaluate, gpu) is evaluate
    assert isinstance(graphs.graphed_call(evaluate, gpu), graphs.Replayed)


def test_cuda_options_set_torch_flags_and_put_them_back():
    before = (
        torch.backends.cuda.matmul.fp32_precision,
        torch.backends.cudnn.conv.fp32_precision,
        torch.backends.cudnn.benchmark,
    )
    with using(CudaOptions(graphs=False, tf32=True, cudnn_benchmark=True)) as options:
        assert cuda_options() is options and not cuda_options().graphs
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
        assert torch.backends.cudnn.conv.fp32_precision == "tf32"
        assert torch.backends.cudnn.benchmark
        with using(CudaOptions()):
            assert torch.backends.cudnn.conv.fp32_precision == "ieee"
            assert cuda_options().graphs
        assert torch.backends.cudnn.conv.fp32_precision == "tf32"
    assert cuda_options() == CudaOptions()
    after = (
        torch.backends.cuda.matmul.fp32_precision,
        torch.backends.cudnn.conv.fp32_precision,
        torch.backends.cudnn.benchmark,
    )
    assert after == before


def test_a_graphed_evaluation_hands_back_copies_of_the_rows_asked_for():
    v = torch.arange(12.0).reshape(4, 3)
    calls, log = [], []

    def evaluate(rows=None):
        calls.append(rows)
        return (v**2).sum(1), 2 * v

    graphed = graphs.GraphedEvaluate(evaluate, cpu_capture(log))
    rows = torch.tensor([1, 3])
    loss, grad = graphed(rows)
    assert torch.equal(loss, (v[rows] ** 2).sum(1)) and torch.equal(grad, 2 * v[rows])
    assert len(log) == 1 and all(r is None for r in calls)  # every row, one capture
    everything = graphed()
    everything[1].add_(100.0)  # a copy: the next evaluation does not see it
    v.mul_(-1.0)  # the variables change in place, as the optimiser changes them
    loss, grad = graphed()
    assert torch.equal(grad, 2 * v) and torch.equal(loss, (v**2).sum(1))
    assert len(log) == 1


def test_a_replay_that_is_not_eager_is_one_error_line():
    e = torch.tensor([1.0, float("nan"), -3.0])
    graphs.check_replay((e,), (e * (1 + 1e-6),))  # float32 rounding passes
    graphs.check_replay((e.double(),), (e.double() * (1 + 1e-12),))
    for bad in (e * 1.01, torch.tensor([1.0, 0.0, -3.0])):
        with pytest.raises(graphs.GraphError, match=r"differs from eager.*--no-cuda-graphs"):
            graphs.check_replay((e,), (bad,))
    with pytest.raises(graphs.GraphError, match="--no-cuda-graphs"):
        graphs.check_replay((e.double(),), (e.double() * (1 + 1e-6),))


def test_the_stand_in_capture_sees_a_host_sync():
    """The check is not blind: ``.item()``, ``bool()`` and a boolean mask are caught."""
    log = []
    x = torch.arange(4.0)
    for fn in (
        lambda: (x * float(x.sum()),),
        lambda: (x if bool(x.any()) else -x,),
        lambda: (x[x > 1],),
    ):
        graphs.Replayed(fn, cpu_capture(log))()
        assert log[-1].found and log[-1].ops
    graphs.Replayed(lambda: (x * x.sum(),), cpu_capture(log))()
    assert not log[-1].found


def _observations(cls, dtype=torch.float64, device=None, **kw):
    split, out = data.load("digits", "test"), []
    for i in range(3):
        x, y = split[i]
        m = cls((1, 28, 28), 10, rng=torch.Generator().manual_seed(i), **kw).to(device, dtype)
        out.append(observe(m, x[None].to(device, dtype), torch.tensor([y], device=device), "image"))
    return out


def _events():
    split, out = data.load("dvs-synth", "test"), []
    for i in range(3):
        x, y = split[i]
        x = x[:3, :, :32, :32].double()
        m = LeNet5SNN(x.shape[1:], 11, timesteps=3, rng=torch.Generator().manual_seed(i))
        out.append(observe(m.double(), x.unsqueeze(1), torch.tensor([y]), "events"))
    return out


WOLFE = LBFGSConfig(max_iter=5, line_search="strong_wolfe")
PROXY = ProxyConfig(alphas=(1.0, 2.0), stage_steps=2, polish_steps=1, max_iter=4)
SNN = {"timesteps": 3, "backend": "fused"}
ATTACKS = {
    "dlg-snn": (lambda: GradientInversion(DLGConfig(3, LBFGSConfig(max_iter=5)), False), SNN),
    "idlg-ann-strong-wolfe": (lambda: GradientInversion(DLGConfig(3, WOLFE), True), None),
    "idlg-events-algorithm-2-searched": (
        lambda: GradientInversion(DLGConfig(3, WOLFE, threshold=Thresholding(0.5, "in")), True),
        "events",
    ),
    "grnn": (lambda: GRNN(GRNNConfig(rmsprop_steps=3)), SNN),
    "ig": (lambda: InvertingGradients(InvertingConfig(adam_steps=4, restarts=2)), SNN),
    "proxy": (lambda: SmoothProxy(PROXY), SNN),
    "analytic": (lambda: AnalyticInversion(AnalyticConfig(feature_steps=2, proxy=PROXY)), SNN),
    "learned-proxy": (
        lambda: LearnedInversion(
            LearnedConfig(aux_items=16, decoder="ridge", then_proxy=True, proxy=PROXY),
            data.load("digits", "train"),
        ),
        SNN,
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_evaluation_is_capturable_and_its_replay_changes_nothing(name, monkeypatch):
    build, victims = ATTACKS[name]
    obs = (
        _events()
        if victims == "events"
        else _observations(LeNet5SNN, **victims)
        if victims
        else _observations(LeNet)
    )

    def run():
        gens = [torch.Generator().manual_seed(7 + i) for i in range(len(obs))]
        return build().reconstruct_trials(obs, gens)

    eager = run()
    log = []
    monkeypatch.setattr(graphs, "wanted", lambda like: True)
    monkeypatch.setattr(graphs, "capture_cuda", cpu_capture(log))
    replayed = run()
    assert log, f"{name}: no evaluation went through a graph"
    assert all(seen.ops > 0 for seen in log)
    found = sorted({op for seen in log for op in seen.found})
    assert not found, f"{name}: its evaluation synchronises with the host ({found})"
    for a, b in zip(eager, replayed, strict=True):
        assert a.steps == b.steps and len(a.losses) == len(b.losses)
        assert a.losses == pytest.approx(b.losses, rel=1e-9, abs=1e-12)
        torch.testing.assert_close(b.x, a.x, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(b.best_x, a.best_x, rtol=1e-9, atol=1e-9)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@CUDA
@pytest.mark.parametrize("name", ["dlg-snn", "idlg-ann-strong-wolfe", "proxy", "grnn"])
def test_cuda_graph_replay_gives_the_eager_trials(name):
    """On a GPU: the attack with its evaluations replayed from CUDA graphs (the default) gives
    the trials it gives eagerly, to float rounding (float32, as the attacks run there)."""
    build, victims = ATTACKS[name]
    where = {"dtype": torch.float32, "device": torch.device("cuda", 0)}
    obs = _observations(LeNet5SNN, **where, **victims) if victims else _observations(LeNet, **where)

    def run(options):
        gens = [torch.Generator().manual_seed(7 + i) for i in range(len(obs))]
        with using(options):
            return build().reconstruct_trials(obs, gens)

    eager, replayed = run(CudaOptions(graphs=False)), run(CudaOptions(graphs=True))
    for a, b in zip(eager, replayed, strict=True):
        assert a.steps == b.steps
        assert a.losses == pytest.approx(b.losses, rel=1e-3, abs=1e-6)
        torch.testing.assert_close(b.x, a.x, rtol=1e-3, atol=1e-3)


def test_the_cuda_flags_are_in_force_for_the_whole_command():
    import click
    from click.testing import CliRunner

    from snnleak.cli.common import device_option

    @click.command()
    @device_option
    def probe(device):
        click.echo(f"{device} {cuda_options()} {torch.backends.cudnn.conv.fp32_precision}")

    out = CliRunner().invoke(probe, ["--device", "cpu"]).output
    assert out.strip() == f"cpu {CudaOptions()} ieee"
    flags = ["--no-cuda-graphs", "--tf32", "--cudnn-benchmark"]
    out = CliRunner().invoke(probe, flags).output
    assert out.strip() == f"auto {CudaOptions(False, True, True)} tf32"
    assert cuda_options() == CudaOptions()


def test_a_worker_computes_under_the_callers_cuda_options(monkeypatch):
    from snnleak.reproduce import executor
    from snnleak.trials import runner

    seen = []
    monkeypatch.setattr(executor, "_resources", lambda *a: (None, None, None, None))
    monkeypatch.setattr(runner, "run_unit", lambda *a, **k: seen.append(cuda_options()) or [])
    spec = SimpleNamespace(dataset="digits", split="test")
    unit = SimpleNamespace(cell=SimpleNamespace(spec=spec, post_thresholds=()), indices=[0], seed=0)
    options = CudaOptions(graphs=False, tf32=True)
    executor.run_task(executor.Task(unit, None, None, "cpu", options))
    assert seen == [options] and cuda_options() == CudaOptions()


def test_a_cpu_record_says_nothing_of_cuda(tmp_path):
    from click.testing import CliRunner

    from snnleak.cli import cli

    args = ["attack", "--attack", "idlg", "--model", "ann", "--dataset", "digits", "--samples",
            "1", "--iterations", "1", "--device", "cpu", "--no-cuda-graphs", "--tf32",
            "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "out")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = (tmp_path / "out" / "records.jsonl").read_text()
    assert '"device": "cpu"' in record and '"cuda"' not in record
