"""``accelerate(model)``: a user's spiking neurons replaced by snnleak's fused C++/CUDA neuron
wherever the two compute exactly the same thing, and one line for every neuron left alone.

The fused op (:mod:`snnleak.neurons`, ``backend="fused"``) is SpikingJelly's multi-step IF/LIF
neuron with the ATan surrogate, its backward and double backward in one kernel each. A neuron
is replaced only where its semantics are those, setting for setting:

- **SpikingJelly** ``IFNode`` / ``LIFNode`` (exactly these classes) in multi-step mode
  (``step_mode="m"``: the node sees the whole ``[T, ...]`` sequence in one call), with the
  ``ATan`` surrogate in its spiking mode (any ``alpha``), any threshold, hard reset to any
  ``v_reset`` or soft reset (``v_reset=None``), ``detach_reset``, LIF's ``tau`` and
  ``decay_input``, and ``store_v_seq`` off. The replacement starts every call from rest, as a
  model that resets its neurons at the start of ``forward`` (the plug-in contract) has them.
- **snnTorch** neurons are called one time step at a time by the model's own loop, their state
  carried between calls, and their subtractive reset subtracts the threshold after the leak
  (``beta * mem + x - s * threshold``, where a charge-fire-reset neuron subtracts
  ``beta * s * threshold``): left alone.
- **Norse** LIF neurons integrate a synaptic current with a time step ``dt``: left alone.

:func:`accelerate` returns a copy (the model itself is not changed) and the report. Tested in
float64 against the original modules: forward, first and second order.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from snnleak.neurons.foreign import copy_model, neuron_modules
from snnleak.neurons.module import SpikingNeuron
from snnleak.neurons.params import NeuronParams


@dataclass(frozen=True)
class Replaced:
    """What :func:`accelerate` did with one neuron module: ``params`` when it was replaced by
    the fused neuron with them, else ``why`` it was left alone."""

    module: str
    kind: str  # the original's class
    params: NeuronParams | None = None
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
    if node.step_mode != "m":
        return "single-step mode: the model calls it once per time step (use step_mode='m')"
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
        return NeuronParams("if", **common)
    return NeuronParams("lif", tau=float(node.tau), decay_input=bool(node.decay_input), **common)


def _plan(module: nn.Module) -> NeuronParams | str:
    package = type(module).__module__.split(".")[0]
    if isinstance(module, SpikingNeuron):
        return "snnleak's own neuron: choose its backend instead"
    if package == "spikingjelly":
        return _spikingjelly(module)
    if package == "snntorch":
        return (
            "snnTorch neurons run one time step per call with state carried between calls, "
            "and subtract the threshold after the leak: not the fused op's semantics"
        )
    if package == "norse":
        return "Norse's LIF integrates a synaptic current with a time step dt: no fused kernel"
    return "unknown neuron"


def accelerate(model: nn.Module, backend: str = "fused") -> tuple[nn.Module, list[Replaced]]:
    """A copy of ``model`` with every neuron whose semantics the fused op matches exactly
    replaced by :class:`~snnleak.neurons.module.SpikingNeuron` on ``backend``, and what was
    done with each neuron module (:meth:`Replaced.line` says it in one line)."""
    fast = copy_model(model)
    report = []
    for name, module in neuron_modules(fast):
        kind = f"{type(module).__module__}.{type(module).__qualname__}"
        plan = _plan(module)
        if isinstance(plan, str):
            report.append(Replaced(name, kind, why=plan))
            continue
        parent_name, _, leaf = name.rpartition(".")
        parent = fast.get_submodule(parent_name) if parent_name else fast
        setattr(parent, leaf, SpikingNeuron(plan, backend=backend))
        report.append(Replaced(name, kind, params=plan))
    return fast, report
