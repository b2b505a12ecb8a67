"""Time-batching: a model that loops over time steps in Python, rewritten to run layer by layer.

An snnTorch model calls each layer once per step, ``for t in range(T): spk1, mem1 =
lif1(conv1(x), mem1); ...``: T small convolutions, T neuron steps. Traced by ``torch.fx`` (with
the neurons as leaves), the unrolled graph is rewritten into what SpikingJelly's multi-step
mode runs:

1. identical calls of a pure layer on the same input become one (``conv1(x)`` each step);
2. each neuron's chain of T calls becomes one multi-step call on the stacked inputs (the fused
   op), when its first step starts from rest and no input depends on the neuron's own spikes;
3. the T calls of a pure layer on per-step inputs (a convolution, a pooling, a linear
   read-out, ...), none depending on another, become one call on their concatenation along
   the batch axis, split back.

Only layers that compute each batch row on its own are batched (convolutions, linear layers,
pooling, flatten after the batch axis, pointwise activations); anything else keeps its
per-step calls. Shapes come from one example input; the rewritten forward runs only on inputs
of that example's shape on every axis but the batch axis, others take the model's own forward.
"""

from __future__ import annotations

import heapq
import operator

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn import functional as F


class NotBatchable(Exception):
    """Why a model, or one neuron of it, keeps its per-step calls (one line)."""


_ROW_WISE_MODULES = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
    nn.ConvTranspose3d, nn.Linear, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d,
    nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d, nn.Flatten, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Identity,
)  # fmt: skip
_ROW_WISE_FUNCTIONS = {
    F.conv1d, F.conv2d, F.conv3d, F.linear, F.max_pool1d, F.max_pool2d, F.max_pool3d,
    F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool2d, F.relu, F.leaky_relu,
    torch.relu, torch.sigmoid, torch.tanh, torch.flatten,
}  # fmt: skip
_ROW_WISE_METHODS = {"flatten", "relu", "sigmoid", "tanh"}


def _keeps_batch_axis(node: fx.Node) -> bool:
    """A flatten must start after the batch axis."""
    start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
    return isinstance(start, int) and start >= 1


def _row_wise(node: fx.Node, root: nn.Module) -> bool:
    """Whether ``node`` computes each row of its first argument on its own, deterministically."""
    if node.op == "call_module":
        m = root.get_submodule(node.target)
        if type(m) not in _ROW_WISE_MODULES or len(node.args) != 1 or node.kwargs:
            return False
        if isinstance(m, nn.Flatten):
            return m.start_dim >= 1
        return not getattr(m, "return_indices", False)
    if node.op == "call_function" and node.target in _ROW_WISE_FUNCTIONS:
        if node.target is torch.flatten:
            return _keeps_batch_axis(node)
        return not node.kwargs.get("return_indices", False)
    if node.op == "call_method" and node.target in _ROW_WISE_METHODS:
        return node.target != "flatten" or _keeps_batch_axis(node)
    return False


def _key(a: object) -> object:
    if isinstance(a, fx.Node):
        return ("node", id(a))
    if isinstance(a, (list, tuple)):
        return (type(a).__name__, *map(_key, a))
    if isinstance(a, dict):
        return ("dict", *((k, _key(v)) for k, v in sorted(a.items())))
    return (type(a).__name__, repr(a))


def trace(model: nn.Module, leaves: set[int]) -> fx.Graph:
    """``model``'s forward unrolled by ``torch.fx``, modules whose id is in ``leaves`` kept as
    calls."""

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return id(m) in leaves or super().is_leaf_module(m, qualname)

    try:
        return Tracer().trace(model)
    except Exception as e:  # any failure to trace says the same thing
        line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NotBatchable(f"torch.fx cannot trace the model's forward ({line})") from e


def _ancestors(node: fx.Node, memo: dict) -> frozenset:
    if node not in memo:
        out = set()
        for a in node.all_input_nodes:
            out.add(a)
            out |= _ancestors(a, memo)
        memo[node] = frozenset(out)
    return memo[node]


def sort(graph: fx.Graph) -> fx.Graph:
    """A copy of ``graph`` in a topological order (the current order where it is one)."""
    nodes = list(graph.nodes)
    position = {n: i for i, n in enumerate(nodes)}
    waiting = {n: len(set(n.all_input_nodes)) for n in nodes}
    ready = [(position[n], n.name) for n in nodes if waiting[n] == 0]
    by_name = {n.name: n for n in nodes}
    heapq.heapify(ready)
    new, env = fx.Graph(), {}
    while ready:
        node = by_name[heapq.heappop(ready)[1]]
        env[node] = new.node_copy(node, lambda a: env[a])
        for user in node.users:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (position[user], user.name))
    if len(env) != len(nodes):
        raise NotBatchable("a neuron's input depends on its own spikes (a recurrent path)")
    return new


def merge_duplicates(graph: fx.Graph, root: nn.Module) -> None:
    """Identical calls of a row-wise layer on the same arguments: one call."""
    seen = {}
    for node in list(graph.nodes):
        if not _row_wise(node, root):
            continue
        key = (node.op, _key(node.target), _key(node.args), _key(node.kwargs))
        if key in seen:
            node.replace_all_uses_with(seen[key])
            graph.erase_node(node)
        else:
            seen[key] = node


def _is_zero_constant(node: object, root: nn.Module) -> bool:
    if not (isinstance(node, fx.Node) and node.op == "get_attr"):
        return False
    try:
        value = operator.attrgetter(node.target)(root)
    except AttributeError:
        return False
    return isinstance(value, torch.Tensor) and not bool(value.any())


def collapse_chain(
    graph: fx.Graph,
    root: nn.Module,
    name: str,
    multistep: str,
    pair: bool = True,
    twin_pair: bool = True,
) -> None:
    """The calls of neuron ``name``, one per step, replaced by one call of the module
    ``multistep`` on their stacked inputs. A call returns ``(spike, membrane)`` with
    ``pair``, else the spike; ``multistep`` maps ``[T, ...]`` inputs to ``(spikes,
    membranes)`` with ``twin_pair``, else to the spikes."""
    calls = [n for n in graph.nodes if n.op == "call_module" and n.target == name]
    if not calls:
        raise NotBatchable("the model's forward does not call it")
    mems = [n.args[1] if len(n.args) > 1 else n.kwargs.get("mem") for n in calls]
    implicit = all(m is None for m in mems)
    if not implicit:
        if not _is_zero_constant(mems[0], root):
            raise NotBatchable("its first step does not start from rest (a zero membrane)")
        for prev, mem in zip(calls, mems[1:], strict=False):
            if not (mem.op == "call_function" and mem.target is operator.getitem
                    and mem.args == (prev, 1)):  # fmt: skip
                raise NotBatchable("a step's membrane is not the previous step's")
    memo = {}
    chain = set(calls)
    for call in calls:
        if _ancestors(call.args[0], memo) & chain:
            raise NotBatchable("a neuron's input depends on its own spikes (a recurrent path)")
        if pair and any(u.target is not operator.getitem for u in call.users):
            raise NotBatchable("the model uses its (spike, membrane) pair as a whole")
    output = next(n for n in graph.nodes if n.op == "output")
    with graph.inserting_before(output):
        seq = graph.call_function(torch.stack, ([c.args[0] for c in calls],))
        run = graph.call_module(multistep, (seq,))
        run.meta["timebatch_multistep"] = True
        outs = [run]
        if twin_pair:
            outs = [graph.call_function(operator.getitem, (run, i)) for i in (0, 1)]
        per_step = [
            [graph.call_function(operator.getitem, (o, t)) for t in range(len(calls))] for o in outs
        ]
    for t, call in enumerate(calls):
        if not pair:
            call.replace_all_uses_with(per_step[0][t])
            continue
        for user in list(call.users):
            user.replace_all_uses_with(per_step[user.args[1]][t])
            graph.erase_node(user)
    for call in reversed(calls):
        graph.erase_node(call)


def _pieces_of(xs: list) -> tuple[str, fx.Node] | None:
    """("split", y) when ``xs`` are all the pieces of ``split_as(y, ...)`` in order, ("time",
    z) when they are ``z[0], ..., z[T-1]`` of a multi-step output."""
    if not xs or not all(
        isinstance(x, fx.Node) and x.op == "call_function" and x.target is operator.getitem
        for x in xs
    ):
        return None
    src = xs[0].args[0]
    if any(x.args != (src, i) for i, x in enumerate(xs)):
        return None
    if src.op == "call_function" and src.target is split_as and len(src.args[1]) == len(xs):
        return "split", src.args[0]
    run = src.args[0] if src.op == "call_function" and src.target is operator.getitem else src
    if isinstance(run, fx.Node) and run.op == "call_module" and run.meta.get("timebatch_multistep"):
        shape = src.meta.get("tensor_meta")
        if shape is not None and shape.shape[0] == len(xs):
            return "time", src
    return None


def split_as(y: torch.Tensor, xs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``y`` split along the batch axis into pieces of the batch sizes of ``xs``."""
    return torch.split(y, [x.shape[0] for x in xs])


def stack_pieces(y: torch.Tensor, n: int) -> torch.Tensor:
    """``torch.stack`` of ``n`` equal pieces of ``y`` along the batch axis."""
    return y.unflatten(0, (n, -1))


def _concatenated(graph: fx.Graph, xs: list) -> fx.Node:
    pieces = _pieces_of(xs)
    if pieces is None:
        return graph.call_function(torch.cat, (list(xs), 0))
    kind, src = pieces
    return src if kind == "split" else graph.call_method("flatten", (src, 0, 1))


def _first_group(graph: fx.Graph, root: nn.Module) -> list[fx.Node] | None:
    groups: dict = {}
    for node in graph.nodes:
        if not _row_wise(node, root) or not isinstance(node.args[0], fx.Node):
            continue
        meta = node.args[0].meta.get("tensor_meta")
        if meta is None or len(meta.shape) < 1:
            continue
        key = (node.op, _key(node.target), _key(node.args[1:]), _key(node.kwargs),
               tuple(meta.shape[1:]), meta.dtype)  # fmt: skip
        groups.setdefault(key, []).append(node)
    memo = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        members = list(dict.fromkeys(members))
        chosen = set(members)
        if all(not (_ancestors(m, memo) & chosen) for m in members):
            return members
    return None


def _batch_group(graph: fx.Graph, members: list[fx.Node]) -> None:
    xs = [m.args[0] for m in members]
    output = next(n for n in graph.nodes if n.op == "output")
    with graph.inserting_before(output):
        z = _concatenated(graph, xs)
        first = members[0]
        y = graph.create_node(first.op, first.target, (z, *first.args[1:]), dict(first.kwargs))
        parts = graph.call_function(split_as, (y, xs))
        for i, m in enumerate(members):
            m.replace_all_uses_with(graph.call_function(operator.getitem, (parts, i)))
    for m in members:
        graph.erase_node(m)


def _propagate(graph: fx.Graph, root: nn.Module, example: torch.Tensor) -> fx.Graph:
    graph = sort(graph)
    with torch.no_grad():
        ShapeProp(fx.GraphModule(root, graph)).propagate(example)
    return graph


def batch_layers(graph: fx.Graph, root: nn.Module, example: torch.Tensor) -> fx.Graph:
    """Every group of independent calls of one row-wise layer: one batched call."""
    graph = _propagate(graph, root, example)
    while (members := _first_group(graph, root)) is not None:
        _batch_group(graph, members)
        graph = _propagate(graph, root, example)
    for node in list(graph.nodes):  # a stack of the pieces of one batched call: a view of it
        if node.op == "call_function" and node.target is torch.stack:
            pieces = _pieces_of(list(node.args[0]))
            if pieces is not None and pieces[0] == "split":
                with graph.inserting_before(node):
                    view = graph.call_function(stack_pieces, (pieces[1], len(node.args[0])))
                node.replace_all_uses_with(view)
                graph.erase_node(node)
    graph.eliminate_dead_code()
    return sort(graph)


def install(model: nn.Module, graph: fx.Graph, example: torch.Tensor, batch_axis: int) -> None:
    """In place: ``model`` runs ``graph`` on inputs shaped like ``example`` on every axis but
    ``batch_axis``, and its own forward on any other."""
    graph.lint()
    fast = type(fx.GraphModule(model, graph)).forward
    cls = type(model)
    own = cls.forward

    def shape(x: torch.Tensor) -> tuple:
        return tuple(n for i, n in enumerate(x.shape) if i != batch_axis)

    expected = shape(example)

    def forward(self, *args, **kwargs):
        x = args[0] if args else None
        if isinstance(x, torch.Tensor) and x.dim() == example.dim() and shape(x) == expected:
            return fast(self, *args, **kwargs)
        return own(self, *args, **kwargs)

    model.__class__ = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__})
