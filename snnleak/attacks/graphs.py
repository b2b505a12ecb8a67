"""CUDA graphs of an attack's evaluations: one replay instead of ~150 launches from Python.

On a GPU one evaluation of a batched attack (the stacked forward, every trial's parameter
gradients with ``create_graph``, the matching losses and their gradient to the dummies) is
launch-bound: an H200 is busy about a fifth of a DLG step. An
:data:`~snnleak.attacks.lbfgs.Evaluate` reads the trials' variables from the tensor that the
optimiser updates in place (``v``) and everything else (the stacked victims, the observed
gradients, the labels, the loss weights) from tensors that do not change while it is in use: a
pure function of memory at fixed addresses, which is what a CUDA graph replays.

:func:`graphed` wraps an Evaluate when its tensors are on a GPU and
:attr:`~snnleak.device.CudaOptions.graphs` is on (the default; ``--no-cuda-graphs`` turns it
off). On its first call it runs two eager warm-up evaluations on a side stream (as torch's
documentation prescribes before a capture), captures a third, replays it, and checks the replay
against the last eager result (:func:`check_replay`); every later call is one replay. A graph
has fixed shapes, so the graphed Evaluate evaluates every trial and hands back the rows asked
for: on a GPU, evaluating all K trials costs about what evaluating a few does. Its outputs are
copies, never the graph's static buffers.

A capture fails on an evaluation that synchronises with the host (``.item()``, ``bool()`` of a
tensor, a data-dependent shape); the attacks' evaluations dispatch no such op (tested on the
CPU, where the same code runs under a capture that records and checks the dispatched ops
instead of a GPU's). Capture and replay raise :class:`GraphError`, one line naming
``--no-cuda-graphs``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from snnleak.attacks.rows import Evaluate
from snnleak.device import cuda_options
from snnleak.errors import SnnleakError, first_line

Outputs = tuple[torch.Tensor, ...]
# capture(fn) -> replay: replay() recomputes fn's outputs into the same tensors and returns them
Capture = Callable[[Callable[[], Outputs]], Callable[[], Outputs]]

WARMUP = 2  # eager evaluations on a side stream before the capture


class GraphError(SnnleakError, RuntimeError):
    """An evaluation could not be captured in a CUDA graph, or its replay is not eager's."""


def check_replay(eager: Outputs, replayed: Outputs) -> None:
    """Raise :class:`GraphError` unless each replayed output is the eager one to float rounding:
    the same non-finite entries, the rest within ``tol`` times the eager output's largest
    finite magnitude (``tol``: 1e-3 in float32, where cuDNN's atomics reorder sums; 1e-9 in
    float64)."""
    for e, r in zip(eager, replayed, strict=True):
        tol = 1e-9 if e.dtype == torch.float64 else 1e-3
        finite = torch.isfinite(e)
        scale = float(e[finite].abs().max()) if bool(finite.any()) else 0.0
        if not torch.allclose(e, r, rtol=tol, atol=tol * scale, equal_nan=True):
            gap = float((e - r)[finite].abs().max()) if bool(finite.any()) else float("nan")
            raise GraphError(
                f"the CUDA graph's replay of an attack evaluation differs from eager "
                f"(largest difference {gap:.3g}, scale {scale:.3g}); rerun with --no-cuda-graphs"
            )


def capture_cuda(fn: Callable[[], Outputs]) -> Callable[[], Outputs]:
    """``fn`` captured in a CUDA graph, after :data:`WARMUP` eager runs on a side stream;
    its first replay is checked against the last eager result."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP):
            eager = tuple(t.clone() for t in fn())
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            static = fn()
    except RuntimeError as exc:
        raise GraphError(
            "an attack evaluation could not be captured in a CUDA graph "
            f"({first_line(exc)}); "
            "rerun with --no-cuda-graphs"
        ) from exc
    graph.replay()
    check_replay(eager, static)

    def replay() -> Outputs:
        graph.replay()
        return static

    return replay


class Replayed:
    """``fn()`` (no arguments, a tuple of tensors out) captured on its first call and replayed
    after it; the outputs are copies. ``capture`` makes the replay."""

    def __init__(self, fn: Callable[[], Outputs], capture: Capture | None = None) -> None:
        self.fn, self.capture = fn, capture if capture is not None else capture_cuda
        self.replay: Callable[[], Outputs] | None = None

    def __call__(self) -> Outputs:
        return tuple(t.clone() for t in self.static())

    def static(self) -> Outputs:
        """The replayed outputs themselves: the graph's buffers, overwritten by the next call."""
        if self.replay is None:
            self.replay = self.capture(lambda: tuple(self.fn()))
        return self.replay()


class GraphedEvaluate:
    """An :data:`~snnleak.attacks.lbfgs.Evaluate` replayed (:class:`Replayed`): every trial is
    evaluated, and the rows asked for are handed back."""

    def __init__(self, evaluate: Evaluate, capture: Capture | None = None) -> None:
        self.replayed = Replayed(lambda: evaluate(None), capture)

    def __call__(self, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        loss, grad = self.replayed.static()
        if rows is None:
            return loss.clone(), grad.clone()
        return loss.index_select(0, rows), grad.index_select(0, rows)  # copies


def wanted(like: torch.Tensor) -> bool:
    """Whether computations on ``like``'s device are replayed from CUDA graphs."""
    return like.device.type == "cuda" and cuda_options().graphs


def graphed(evaluate: Evaluate, like: torch.Tensor) -> Evaluate:
    """``evaluate`` replayed from a CUDA graph when ``like`` (the optimised variables) is on a
    GPU and CUDA graphs are on (:func:`~snnleak.device.cuda_options`); else ``evaluate``."""
    return GraphedEvaluate(evaluate) if wanted(like) else evaluate


def graphed_call(fn: Callable[[], Outputs], like: torch.Tensor) -> Callable[[], Outputs]:
    """``fn`` (a step's computation, reading tensors updated in place) replayed from a CUDA
    graph, as :func:`graphed` decides; else ``fn``."""
    return Replayed(fn) if wanted(like) else fn
