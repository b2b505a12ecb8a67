"""The fused C++ neuron against the reference: forward (S, V, H), first- and second-order
gradients over the whole configuration grid, float64 to 1e-10 and float32 to 1e-5 relative;
edge shapes; gradcheck/gradgradcheck in smooth mode; opcheck; the sentinel; a DLG step."""

import itertools

import pytest
import torch

from snnleak.errors import BackendUnavailable
from snnleak.fused import build, ops
from snnleak.gradients import dlg_step, parameter_gradients
from snnleak.models import LeNet5SNN
from snnleak.neurons import NeuronParams, fused_backend, multistep_trace
from tests.conftest import first_and_second_order

pytestmark = [pytest.mark.usefixtures("fused_library"), pytest.mark.compat]


@pytest.fixture(scope="module")
def fused_library():
    return build.load()


def _grid():
    for v_reset, detach, smooth in itertools.product(
        (0.0, -0.5, None), (False, True), (False, True)
    ):
        yield NeuronParams(
            "if", v_reset=v_reset, detach_reset=detach, smooth=smooth, v_threshold=0.9
        )
        for decay in (True, False):
            yield NeuronParams(
                "lif",
                tau=3.0,
                v_reset=v_reset,
                detach_reset=detach,
                decay_input=decay,
                smooth=smooth,
                v_threshold=0.9,
            )


GRID = list(_grid())


def _inputs(p, shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    drive = p.tau if (p.kind == "lif" and p.decay_input) else 1.0
    x = (torch.randn(shape, generator=g, dtype=dtype) * 0.8 + 0.5) * drive
    cots = [torch.randn(shape, generator=g, dtype=dtype) for _ in range(4)]
    return x.requires_grad_(), cots


def _both(p, shape, dtype, seed=0):
    x, (cs, cv, ch, u) = _inputs(p, shape, dtype, seed)
    results = []
    for backend in ("reference", "fused"):

        def fn(x, backend=backend):
            return tuple(multistep_trace(x, p, backend))

        results.append(first_and_second_order(fn, x, (cs, ch, cv), u))
    return results


def _assert_close(got, ref, dtype):
    if dtype == torch.float64:
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-10)
    else:  # 1e-5 relative to the tensor's scale
        scale = max(ref.abs().max().item(), 1.0)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("p", GRID, ids=str)
def test_fused_equals_reference(p, dtype):
    (r_out, r_g1, r_g2), (f_out, f_g1, f_g2) = _both(p, (16, 3, 5, 7), dtype)
    # the forward uses the reference's operation order: spikes are identical, even in float32
    # (in smooth mode they are atan values and compared like the rest)
    if not p.smooth:
        torch.testing.assert_close(f_out[0], r_out[0], rtol=0, atol=0)
    for got, ref in zip([*f_out, f_g1, f_g2], [*r_out, r_g1, r_g2], strict=True):
        _assert_close(got, ref, dtype)
    assert r_g2.abs().max() > 0


@pytest.mark.parametrize("steps", [1, 1000])
@pytest.mark.parametrize("p", [NeuronParams("if"), NeuronParams("lif", v_reset=None)], ids=str)
def test_short_and_long_sequences(p, steps):
    for dtype in (torch.float64, torch.float32):
        (r_out, r_g1, r_g2), (f_out, f_g1, f_g2) = _both(p, (steps, 64), dtype, seed=steps)
        torch.testing.assert_close(f_out[0], r_out[0], rtol=0, atol=0)
        for got, ref in zip([*f_out[1:], f_g1, f_g2], [*r_out[1:], r_g1, r_g2], strict=True):
            _assert_close(got, ref, dtype)


@pytest.mark.parametrize("shape", [(0, 4, 3), (5, 0), (3, 2, 0, 4)])
def test_empty_tensors(shape):
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    trace = multistep_trace(x, NeuronParams("lif"), "fused")
    assert all(t.shape == shape for t in trace)
    (g,) = torch.autograd.grad(trace.spikes.sum(), x)
    assert g.shape == shape


def test_non_contiguous_input():
    p = NeuronParams("lif", tau=2.5)
    base = torch.randn(9, 11, 6, dtype=torch.float64) * 2
    x = base.transpose(1, 2)[:, ::2]  # [9, 3, 11], strided
    assert not x.is_contiguous()
    for a, b in zip(multistep_trace(x, p, "fused"), multistep_trace(x, p), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_large_n():
    """Many blocks and a ragged last block, across threads: forward and first order."""
    p = NeuronParams("if", v_reset=None)
    x = torch.randn(3, (1 << 18) + 37, generator=torch.Generator().manual_seed(0)) + 0.6
    x.requires_grad_()
    outs = []
    for backend in ("reference", "fused"):
        s = multistep_trace(x, p, backend).spikes
        outs.append((s.detach(), torch.autograd.grad((s * x.detach()).sum(), x)[0]))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=0, atol=0)
    torch.testing.assert_close(outs[1][1], outs[0][1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "p",
    [
        NeuronParams("if", v_reset=-0.2, smooth=True),
        NeuronParams("lif", smooth=True, v_reset=None),
        NeuronParams("lif", smooth=True, decay_input=False),
    ],
    ids=str,
)
def test_gradcheck_and_gradgradcheck_in_smooth_mode(p):
    x = (torch.randn(6, 5, dtype=torch.float64) + 0.5).requires_grad_()

    def fn(x):
        return tuple(multistep_trace(x, p, "fused"))

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def _op_samples():
    p = NeuronParams("lif", v_reset=None)
    params, flags = fused_backend.encode(p)
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        x, h, gs, gv, gh, c, tot = (torch.randn(7, 13, generator=g, dtype=dtype) for _ in range(7))
        yield "neuron_fwd", (x.requires_grad_(), params, flags)
        yield "neuron_bwd", (gs.requires_grad_(), gv, gh, h.requires_grad_(), params, flags)
        yield "neuron_bwd2", (c, gs.detach(), gv, h.detach(), tot, params, flags, [True] * 4)
        yield "neuron_bwd", (None, gv, None, h.detach().requires_grad_(), params, flags)
        yield (
            "neuron_bwd2",
            (c, None, gv, h.detach(), tot, params, flags, [False, True, False, True]),
        )


# opcheck's own aot_dispatch test reads .grad of non-leaf tensors and warns about it
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
@pytest.mark.parametrize(
    ("op", "args"), list(_op_samples()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_opcheck(op, args):
    torch.library.opcheck(getattr(torch.ops.snnleak, op).default, args)


def test_sentinel_proves_the_kernels_ran():
    before = ops.kernel_calls()
    x = (torch.randn(5, 8, dtype=torch.float64) + 0.5).requires_grad_()
    (g,) = torch.autograd.grad(
        multistep_trace(x, NeuronParams(), "fused").spikes.sum(), x, create_graph=True
    )
    g.sum().backward()
    after = ops.kernel_calls()
    assert after["cpu_fwd"] == before["cpu_fwd"] + 1
    assert after["cpu_bwd"] >= before["cpu_bwd"] + 1
    assert after["cpu_bwd2"] == before["cpu_bwd2"] + 1


def test_third_order_is_a_clear_error():
    x = (torch.randn(5, 8, dtype=torch.float64) + 0.5).requires_grad_()
    (g,) = torch.autograd.grad(
        multistep_trace(x, NeuronParams(), "fused").spikes.sum(), x, create_graph=True
    )
    (g2,) = torch.autograd.grad((g * g).sum(), x, create_graph=True)
    # raised by the C++ autograd chain: NotImplementedError, with the fix in the message
    with pytest.raises(NotImplementedError, match=r"up to second order.*backend='reference'"):
        torch.autograd.grad(g2.sum(), x)


@pytest.mark.parametrize("neuron", [NeuronParams("if"), NeuronParams("lif", v_reset=None)], ids=str)
def test_dlg_step_on_lenet5snn_equals_reference(neuron):
    g = torch.Generator()
    x = torch.rand(2, 3, 16, 16, generator=g.manual_seed(1), dtype=torch.float64)
    y = torch.tensor([3, 7])
    x_dummy = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64).requires_grad_()
    y_dummy = torch.randn(2, 10, generator=g, dtype=torch.float64, requires_grad=True)
    results = []
    for backend in ("reference", "fused"):
        model = (
            LeNet5SNN(
                (3, 16, 16),
                10,
                timesteps=8,
                neuron=neuron,
                backend=backend,
                rng=g.manual_seed(0),
            )
            .double()
            .train()
        )
        results.append(dlg_step(model, parameter_gradients(model, x, y), x_dummy, y_dummy))
    assert results[0][1].abs().max() > 0
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)


def test_source_key_follows_the_sources(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(build.csrc_dir(), tmp_path / "csrc")
    monkeypatch.setattr(build, "csrc_dir", lambda: tmp_path / "csrc")
    key = build.source_key(False)
    (tmp_path / "csrc" / "neuron.h").write_text(
        (tmp_path / "csrc" / "neuron.h").read_text() + "\n// changed\n"
    )
    assert build.source_key(False) != key


def test_missing_compiler_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLEAK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.raises(BackendUnavailable, match="finds no C\\+\\+ compiler"):
        build.jit_build(cuda=False)


def test_missing_sources_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "csrc_dir", lambda: tmp_path)
    with pytest.raises(BackendUnavailable, match="needs the C\\+\\+ sources"):
        build.sources(cuda=False)


# --- CUDA: run where a GPU exists, skipped (not faked) elsewhere ------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


@cuda
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("p", GRID, ids=str)
def test_cuda_fused_equals_cpu_reference(p, dtype):
    assert build.load().cuda, "a GPU is present but the library was built without CUDA"
    x, (cs, cv, ch, u) = _inputs(p, (16, 3, 5, 7), dtype)

    def fused_cuda(x):
        return tuple(t.cpu() for t in multistep_trace(x.cuda(), p, "fused"))

    def reference(x):
        return tuple(multistep_trace(x, p))

    before = ops.kernel_calls()["cuda_fwd"]
    f_out, f_g1, f_g2 = first_and_second_order(fused_cuda, x, (cs, ch, cv), u)
    assert ops.kernel_calls()["cuda_fwd"] == before + 1
    r_out, r_g1, r_g2 = first_and_second_order(reference, x, (cs, ch, cv), u)
    if not p.smooth:
        torch.testing.assert_close(f_out[0], r_out[0], rtol=0, atol=0)
    for got, ref in zip([*f_out, f_g1, f_g2], [*r_out, r_g1, r_g2], strict=True):
        _assert_close(got, ref, dtype)


@cuda
def test_cuda_long_sequence_and_large_n():
    p = NeuronParams("lif", v_reset=None)
    x = torch.randn(1000, 4099, dtype=torch.float64) + 0.8
    for a, b in zip(multistep_trace(x.cuda(), p, "fused"), multistep_trace(x, p), strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-10)
