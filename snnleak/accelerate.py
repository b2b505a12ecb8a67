"""``accelerate(model)``: a user's spiking neurons replaced by snnleak's fused C++/CUDA neuron
wherever the two compute exactly the same thing, and one line for every neuron left alone.

The fused op (:mod:`snnleak.neurons`, ``backend="fused"``) is SpikingJelly's multi-step IF/LIF
neuron with the ATan surrogate, its backward and double backward in one kernel each. A neuron
is replaced only where its semantics are those, setting for setting:

- **SpikingJelly** ``IFNode`` / ``LIFNode`` (exactly these classes) with the ``ATan``
  surrogate in its spiking mode (any ``alpha``), any threshold, hard reset to any ``v_reset``
  or soft reset (``v_reset=None``), ``detach_reset``, LIF's ``tau`` and ``decay_input``, and
  ``store_v_seq`` off. In multi-step mode (``step_mode="m"``: the node sees the whole
  ``[T, ...]`` sequence in one call) the node is replaced; in single-step mode the model's loop
  is rewritten as for snnTorch (below). The replacement starts every call from rest, as a
  model that resets its neurons at the start of ``forward`` (the plug-in contract) has them.
- **snnTorch** ``Leaky`` (``reset_delay=True``, ``reset_mechanism`` "subtract" or "zero",
  ``surrogate.atan`` at any ``alpha``, a scalar fixed ``beta`` and threshold, no inhibition,
  quantisation or graded spikes), called once per time step by the model's own loop: the loop
  is rewritten by :mod:`snnleak.timebatch` so that each neuron runs its T steps in one call of
  the fused op in snnTorch's mode (:mod:`snnleak.neurons.leaky`), and the layers between
  neurons run once on all steps together. This needs an ``example`` input (its shape past the
  batch axis; other inputs take the model's own forward) and a forward that ``torch.fx`` can
  trace; the first step must start from rest (``init_leaky()``/``reset_mem()``, or a state the
  model resets), and the copy starts every forward from rest.
- **Norse** LIF neurons integrate a synaptic current with a time step ``dt``: left alone.

:func:`accelerate` returns a copy (the model itself is not changed) and the report. Tested in
float64 against the original modules: forward, first and second order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from snnleak import timebatch
from snnleak.neurons.foreign import copy_model, neuron_modules
from snnleak.neurons.leaky import FusedLeaky, LeakyParams, leaky_params
from snnleak.neurons.module import SpikingNeuron
from snnleak.neurons.params import NeuronParams


@dataclass(frozen=True)
class Stepwise:
    """A neuron the model calls once per time step, to run as one multi-step call: its
    settings, and whether a call returns ``(spike, membrane)`` (else the spike alone)."""

    params: NeuronParams | LeakyParams
    pair: bool


@dataclass(frozen=True)
class Replaced:
    """What :func:`accelerate` did with one neuron module: ``params`` when it was replaced by
    the fused neuron with them, else ``why`` it was left alone."""

    module: str
    kind: str  # the original's class
    params: NeuronParams | LeakyParams | None = None
    why: str = ""

    def line(self) -> str:
        if self.params is not None:
            return f"{self.module} ({self.kind}): fused, {self.params}"
        return f"{self.module} ({self.kind}): left as it is: {self.why}"


def _spikingjelly(node: nn.Module) -> NeuronParams | str:
    """The fused neuron's parameters for a SpikingJelly node, or why there are none."""
    from spikingjelly.activation_based import neuron, surrogate

    if type(node) not in (neuron.IFNode, neuron.LIFNode):
        return f"no fused kernel for {type(node).__name__} (IFNode and LIFNode only)"
    sg = node.surrogate_function
    if type(sg) is not surrogate.ATan or not sg.spiking:
        return f"surrogate {type(sg).__name__} (spiking={sg.spiking}): the fused op's is ATan"
    if getattr(node, "store_v_seq", False):
        return "store_v_seq: the model reads the membrane sequence back"
    common = dict(
        v_threshold=float(node.v_threshold),
        v_reset=None if node.v_reset is None else float(node.v_reset),
        detach_reset=bool(node.detach_reset),
        alpha=float(sg.alpha),
    )
    if type(node) is neuron.IFNode:
        params = NeuronParams("if", **common)
    else:
        params = NeuronParams(
            "lif", tau=float(node.tau), decay_input=bool(node.decay_input), **common
        )
    return params if node.step_mode == "m" else Stepwise(params, pair=False)


def _plan(module: nn.Module) -> NeuronParams | Stepwise | str:
    package = type(module).__module__.split(".")[0]
    if isinstance(module, (SpikingNeuron, FusedLeaky)):
        return "snnleak's own neuron: choose its backend instead"
    if package == "spikingjelly":
        return _spikingjelly(module)
    if package == "snntorch":
        p = leaky_params(module)
        return (
            p if isinstance(p, str) else Stepwise(p, not (module.init_hidden and not module.output))
        )
    if package == "norse":
        return "Norse's LIF integrates a synaptic current with a time step dt: no fused kernel"
    return "unknown neuron"


TWINS = "snnleak_fused"  # where a time-batched copy keeps its multi-step neurons


def _time_batch(
    fast: nn.Module,
    steps: dict[str, Stepwise],
    example: torch.Tensor | None,
    batch_axis: int,
    backend: str,
) -> dict[str, NeuronParams | LeakyParams | str]:
    """In place: the neurons ``steps`` run as multi-step fused calls in ``fast``'s rewritten
    time loop; what became of each (its params, or why it was left)."""
    if example is None:
        why = "rewriting the model's time loop needs an example input (accelerate(model, example))"
        return dict.fromkeys(steps, why)
    leaves = {id(m) for _, m in neuron_modules(fast)}
    twins = nn.ModuleDict()  # the multi-step twins, beside (not inside) the user's containers
    fast.add_module(TWINS, twins)
    try:
        graph = timebatch.trace(fast, leaves)
        timebatch.merge_duplicates(graph, fast)
        out: dict[str, NeuronParams | LeakyParams | str] = {}
        for name, step in steps.items():
            key, p = name.replace(".", "__"), step.params
            twins[key] = FusedLeaky(p) if isinstance(p, LeakyParams) else SpikingNeuron(p, backend)
            try:
                twin_pair = isinstance(p, LeakyParams)  # SpikingNeuron returns the spikes alone
                timebatch.collapse_chain(graph, fast, name, f"{TWINS}.{key}", step.pair, twin_pair)
                out[name] = p
            except timebatch.NotBatchable as e:
                del twins[key]
                out[name] = str(e)
        if len(twins):
            graph = timebatch.batch_layers(graph, fast, example)
            timebatch.install(fast, graph, example, batch_axis)
        else:
            delattr(fast, TWINS)
        return out
    except timebatch.NotBatchable as e:
        delattr(fast, TWINS)
        return dict.fromkeys(steps, str(e))


def accelerate(
    model: nn.Module,
    backend: str = "fused",
    example: torch.Tensor | None = None,
    batch_axis: int = 0,
) -> tuple[nn.Module, list[Replaced]]:
    """A copy of ``model`` with every neuron whose semantics the fused op matches exactly
    running on it (SpikingJelly's replaced by :class:`~snnleak.neurons.module.SpikingNeuron`
    on ``backend``; snnTorch's by the time-batched rewrite, for inputs shaped like
    ``example`` on every axis but ``batch_axis``), and what was done with each neuron module
    (:meth:`Replaced.line` says it in one line)."""
    fast = copy_model(model)
    plans = {name: _plan(module) for name, module in neuron_modules(fast)}
    kinds = {
        name: f"{type(m).__module__}.{type(m).__qualname__}" for name, m in neuron_modules(fast)
    }
    steps = {n: p for n, p in plans.items() if isinstance(p, Stepwise)}
    if steps:
        plans.update(_time_batch(fast, steps, example, batch_axis, backend))
    report = []
    for name, plan in plans.items():
        if isinstance(plan, str):
            report.append(Replaced(name, kinds[name], why=plan))
            continue
        if isinstance(plan, NeuronParams) and name not in steps:
            parent_name, _, leaf = name.rpartition(".")
            parent = fast.get_submodule(parent_name) if parent_name else fast
            setattr(parent, leaf, SpikingNeuron(plan, backend=backend))
        report.append(Replaced(name, kinds[name], params=plan))
    return fast, report
