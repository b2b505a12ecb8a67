r"""K independent victims (LeNet or LeNet5SNN) evaluated as one computation.

The K models' convolutions become one grouped convolution (trial k's channels are the k-th
block; :func:`stacked_conv2d`), their neurons one elementwise scan, their classifiers one
batched matrix product. On the CPU (on a GPU with ``--channels-last``:
:func:`~snnleak.device.channels_last`) the feature maps are kept channels-last, NHWC in
memory: oneDNN's grouped weight gradient and backward-data run 2x to 7x faster so on this
project's CPU (``docs/reproducing.md``), and gradient matching runs each of them several times
per evaluation. The convolutions' parameters are kept as the grouped convolution reads them,
``[K*O, C, kh, kw]`` and ``[K*O]`` (trial k's the k-th block of O: one trial's are its own
model's), the classifier's with a leading trial axis, ``[K, O, F]`` and ``[K, O]``; no
parameter is shared between trials, so a sum of per-trial losses differentiates each trial
independently, and trial k's parameter gradient is the k-th block of the stacked gradient.
Nothing is reshaped between a parameter and the operation that reads it, at any derivative
order.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from snnleak.device import channels_last
from snnleak.errors import ConfigError
from snnleak.models.lenet import LeNet
from snnleak.models.lenet_snn import LeNet5SNN
from snnleak.neurons import multistep


def stacked_conv2d(
    h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor, stride: int, padding: int, k: int
) -> torch.Tensor:
    """K convolutions at once: ``h [N, K*C, H, W]`` (trial k's channels the k-th block),
    ``w [K*O, C, kh, kw]``, ``bias [K*O]`` (trial k's the k-th block) -> ``[N, K*O, H', W']``,
    as one grouped convolution (:class:`_GroupedConv`)."""
    if k == 1:  # one group: ATen's own derivatives are single convolutions already
        return F.conv2d(h, w, bias, stride=stride, padding=padding)
    if h.is_contiguous(memory_format=torch.channels_last):  # the weight as oneDNN reads it
        w = w.contiguous(memory_format=torch.channels_last)
    return _GroupedConv.apply(h, w, bias, stride, padding, k)


# torch's own query (what register_multi_grad_hook uses): will this backward pass run a node?
_WILL_RUN = getattr(torch._C, "_will_engine_execute_node", None)


def _wanted(ctx) -> tuple[bool, bool, bool]:
    """Whether this backward pass uses the gradients of a Function's three tensor inputs
    (the first three arguments below): they need one (``ctx.needs_input_grad``, which only
    says what requires a gradient) and the autograd engine will run the node it goes to.
    Gradient matching's second pass differentiates to the dummy input alone, so the weights'
    gradients a convolution's derivatives would give there are thrown away, as is the first
    convolution's input gradient in the first pass (to the parameters); here they are not
    computed. Where torch cannot say (a leaf that ``torch.autograd.grad`` asks for, or a
    torch without the query), an input that needs a gradient counts as wanted."""
    wanted = []
    for need, (node, _) in zip(ctx.needs_input_grad[:3], ctx.next_functions, strict=True):
        if need and node is not None and _WILL_RUN is not None:
            # torch refuses "a leaf node ... while running autograd.grad()": keep `need`
            with contextlib.suppress(RuntimeError):
                need = _WILL_RUN(node)
        wanted.append(need)
    return tuple(wanted)


class _GroupedConv(torch.autograd.Function):
    """``F.conv2d(..., groups=K)`` with its backward written out as two functions whose own
    derivatives are written out too (:class:`_GroupedConvInputGrad`,
    :class:`_GroupedConvWeightGrad`). Differentiating ATen's backward again (gradient matching
    does) would run one convolution per group, that is per trial, for the input's gradient,
    and a transposed convolution off oneDNN's fast path for the weight's; these are single
    grouped operations at every order (the op-count guard checks) on oneDNN's fast paths."""

    @staticmethod
    def forward(ctx, x, w, b, stride: int, padding: int, groups: int):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, groups)
        return F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        stride, padding, groups = ctx.conf
        want_x, want_w, want_b = _wanted(ctx)
        gx = gw = gb = None
        if want_x:
            gx = _GroupedConvInputGrad.apply(grad, x, w, stride, padding, groups)
        if want_w:
            gw = _GroupedConvWeightGrad.apply(grad, x, w, stride, padding, groups)
        if want_b:
            gb = grad.sum((0, 2, 3))
        return gx, gw, gb, None, None, None


def _weight_grad(grad, x, w, stride: int, padding: int, groups: int) -> torch.Tensor:
    """The weight gradient of ``conv2d(x, w, groups)`` given its output's gradient ``grad``."""
    return torch.ops.aten.convolution_backward(
        grad, x, w, None, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], groups,
        [False, True, False],
    )[1]  # fmt: skip


class _GroupedConvWeightGrad(torch.autograd.Function):
    """The weight gradient of a grouped convolution (ATen's), with its derivatives written
    out, linear in ``grad`` and ``x``: one grouped convolution of ``x`` and one grouped input
    gradient (:class:`_GroupedConvInputGrad`), where ATen's own formula runs a transposed
    convolution off oneDNN's fast path. ``w`` gives the weight's shape."""

    @staticmethod
    def forward(ctx, grad, x, w, stride: int, padding: int, groups: int):
        ctx.save_for_backward(grad, x)
        ctx.conf = (stride, padding, groups)
        return _weight_grad(grad, x, w, stride, padding, groups)

    @staticmethod
    def backward(ctx, gw):
        grad, x = ctx.saved_tensors
        stride, padding, groups = ctx.conf
        want_grad, want_x, _ = _wanted(ctx)
        d_grad = d_x = None
        if want_grad:  # <gw, wgrad(grad, x)> = <conv(x, gw), grad>
            d_grad = F.conv2d(x, gw, None, stride=stride, padding=padding, groups=groups)
        if want_x:  # ... = <x, conv^T_gw(grad)>
            d_x = _GroupedConvInputGrad.apply(grad, x, gw, stride, padding, groups)
        return d_grad, d_x, None, None, None, None


class _GroupedConvInputGrad(torch.autograd.Function):
    """The input gradient of a grouped convolution, ``conv_transpose2d(grad, w)``, computed
    by ATen's convolution backward (oneDNN's backward-data on the CPU: 2.3x faster than the
    transposed convolution at stride 2 in channels-last, measured); its derivatives, linear in
    ``grad`` and ``w``, are one grouped convolution and one grouped weight gradient. ``x``
    gives the input's shape and layout; nothing is differentiated through it."""

    @staticmethod
    def forward(ctx, grad, x, w, stride: int, padding: int, groups: int):
        ctx.save_for_backward(grad, w)
        ctx.conf = (stride, padding, groups)
        return torch.ops.aten.convolution_backward(
            grad, x, w, None, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], groups,
            [True, False, False],
        )[0]  # fmt: skip

    @staticmethod
    def backward(ctx, gg):
        grad, w = ctx.saved_tensors
        stride, padding, groups = ctx.conf
        want_grad, _, want_w = _wanted(ctx)
        d_grad = d_w = None
        if want_grad:  # <gg, conv^T(grad)> = <conv(gg), grad>
            d_grad = F.conv2d(gg, w, None, stride=stride, padding=padding, groups=groups)
        if want_w:
            d_w = _weight_grad(grad, gg, w, stride, padding, groups)
        return d_grad, None, d_w, None, None, None


def _neurons(h: torch.Tensor, t: int, b: int, params, backend: str, nhwc: bool) -> torch.Tensor:
    """The neurons of one layer on ``h [T*B, C, H, W]``; on channels-last maps, run on the
    memory as it lies (``[T, B, H, W, C]``, contiguous: the neurons are elementwise), so that
    nothing is copied to NCHW and back."""
    if nhwc:
        h = h.permute(0, 2, 3, 1)
    out = multistep(h.reshape(t, b, *h.shape[1:]), params, backend).reshape(h.shape)
    return out.permute(0, 3, 1, 2) if nhwc else out


def _repeat_steps(h: torch.Tensor, t: int, nhwc: bool) -> torch.Tensor:
    """``h [B, C, H, W]`` repeated over ``t`` time steps, ``[t*B, C, H, W]``, in one copy and
    in ``h``'s layout, so that the repeat's derivative sums over the steps in contiguous
    memory (repeating NCHW-wise and then copying to channels-last copies twice and sums in
    strides)."""
    if nhwc:
        h = h.permute(0, 2, 3, 1)
    h = h.unsqueeze(0).expand(t, *h.shape).reshape(t * h.shape[0], *h.shape[1:])
    return h.permute(0, 3, 1, 2) if nhwc else h


class StackedLeNet(nn.Module):
    def __init__(self, models: list[LeNet | LeNet5SNN]) -> None:
        super().__init__()
        first = models[0]
        if not all(
            type(m) is type(first)
            and m.in_shape == first.in_shape
            and m.num_classes == first.num_classes
            for m in models
        ):
            raise ConfigError("stacked victims must share one architecture")
        self.k = len(models)
        self.spiking = isinstance(first, LeNet5SNN)
        self.in_shape, self.num_classes = first.in_shape, first.num_classes
        if self.spiking:
            if any(m.encoding != "direct" for m in models):
                raise ConfigError(
                    "--batch-trials stacks directly coded SNN victims; run --encoding poisson "
                    "with --batch-trials 1"
                )
            self.timesteps, self.backend = first.timesteps, first.backend
            # each layer's own neuron (an attacker's smooth copy changes the layers' neurons)
            self.neuron_params = [n.params for n in first.neurons]
            if any([n.params for n in m.neurons] != self.neuron_params for m in models):
                raise ConfigError("stacked victims must share their neurons")
        convs = [m.convs for m in models]
        self.conv_meta = [(c.stride[0], c.padding[0]) for c in first.convs]  # square in LeNet
        # the convolutions' as one grouped convolution's, [K*O, C, kh, kw] and [K*O]; the
        # classifier's with a trial axis, [K, O, F] and [K, O]
        self.conv_w = nn.ParameterList(
            nn.Parameter(torch.cat([cs[i].weight.detach() for cs in convs]))
            for i in range(len(first.convs))
        )
        self.conv_b = nn.ParameterList(
            nn.Parameter(torch.cat([cs[i].bias.detach() for cs in convs]))
            for i in range(len(first.convs))
        )
        self.fc_w = nn.Parameter(torch.stack([m.fc.weight.detach() for m in models]))
        self.fc_b = nn.Parameter(torch.stack([m.fc.bias.detach() for m in models]))

    def solo_order(self) -> list[int]:
        """``order[j']``: the index in :meth:`ordered_parameters` of a single model's j'-th
        parameter (conv1 w, b, conv2 w, b, ..., fc w, b)."""
        n = len(self.conv_w)
        return [j for i in range(n) for j in (i, n + i)] + [2 * n, 2 * n + 1]

    def trial_parameters(self, grads: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        """Split stacked tensors (parameters or their gradients, as :meth:`ordered_parameters`)
        into per-trial lists, in the order of a single model's ``parameters()``."""
        n = len(self.conv_w)
        # the convolutions' [K*O, ...] as [K, O, ...] views
        blocks = [g.unflatten(0, (self.k, -1)) if j < 2 * n else g for j, g in enumerate(grads)]
        order = self.solo_order()
        return [[blocks[j][k] for j in order] for k in range(self.k)]

    def ordered_parameters(self) -> list[nn.Parameter]:
        return [*self.conv_w, *self.conv_b, self.fc_w, self.fc_b]

    def rows(self, index: torch.Tensor) -> list[torch.Tensor]:
        """The parameters of the trials ``index`` (one ``index_select`` of the trials' blocks
        each), for :meth:`forward`: gradients taken to them are those trials' parameter
        gradients."""
        n, k = len(self.conv_w), self.k
        params = self.ordered_parameters()
        blocks = [p.unflatten(0, (k, -1)) for p in params[: 2 * n]]
        convs = [b.index_select(0, index).flatten(0, 1) for b in blocks]
        return convs + [p.index_select(0, index) for p in params[2 * n :]]

    def forward(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Images ``[K, B, C, H, W]`` or events ``[T, K, B, C, H, W]`` -> logits ``[K, B, O]``;
        with ``params`` (as :meth:`ordered_parameters`, a subset of the trials' rows: see
        :meth:`rows`), those trials' models."""
        params = self.ordered_parameters() if params is None else params
        h, t, b = self._hidden(x, params)
        fc_w, fc_b = params[-2], params[-1]
        out = torch.baddbmm(fc_b.unsqueeze(1), h, fc_w.transpose(1, 2))  # [K, T*B, O]
        if t > 1:  # the rate: the mean over time steps
            out = out.reshape(h.shape[0], t, b, -1).mean(1)
        return out

    def features(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The classifier's input ``[K, B, F]`` at ``x`` (as :meth:`forward`), averaged over the
        time steps of a spiking victim (its spike rates)."""
        params = self.ordered_parameters() if params is None else params
        h, t, b = self._hidden(x, params)
        return h.reshape(h.shape[0], t, b, -1).mean(1)

    def _hidden(self, x: torch.Tensor, params: list[torch.Tensor]):
        """``(h [K, T*B, F], T, B)``: every trial's classifier input at every time step.

        A spiking victim's direct code repeats an image over its T steps; the first
        convolution, linear and the same at every step, then runs once and its output is
        repeated (what a convolution of the repeated image gives, T times cheaper)."""
        n = len(self.conv_w)
        conv_w, conv_b, fc_w = params[:n], params[n : 2 * n], params[2 * n]
        repeat = self.timesteps if self.spiking and x.dim() == 5 else 1
        if x.dim() == 5:  # images [K, B, C, H, W]: one step
            t, (k, b) = 1, x.shape[:2]
            h = x if k == 1 or b == 1 else x.transpose(0, 1)  # x's memory reads [B, K, ...] then
            h = h.reshape(b, k * x.shape[2], *x.shape[3:])
        else:  # events [T, K, B, C, H, W]
            t, k, b = x.shape[:3]
            h = x.permute(0, 2, 1, 3, 4, 5).reshape(t * b, k * x.shape[3], *x.shape[4:])
        if k != fc_w.shape[0]:
            raise ConfigError(f"expected {fc_w.shape[0]} trials on the trial axis, got {k}")
        nhwc = channels_last(x.device)
        h = h.contiguous(memory_format=torch.channels_last if nhwc else torch.contiguous_format)
        for i, (w, bias, (stride, padding)) in enumerate(
            zip(conv_w, conv_b, self.conv_meta, strict=True)
        ):
            h = stacked_conv2d(h, w, bias, stride, padding, k)
            if repeat > 1:
                h, t, repeat = _repeat_steps(h, repeat, nhwc), repeat, 1
            if self.spiking:
                h = _neurons(h, t, b, self.neuron_params[i], self.backend, nhwc)
            else:
                h = torch.sigmoid(h)
        # trial k's channels are the k-th block, each flattened as its own model flattens them
        return h.reshape(t * b, k, -1).transpose(0, 1), t, b
