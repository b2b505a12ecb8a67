"""Your own victim: ``--model path/to/file.py:factory`` or ``--model package.module:factory``.

The victim contract (checked before any attack runs; a model that breaks it gets one error
line listing everything that is missing):

1. ``factory(input_shape, num_classes, timesteps)`` returns an ``nn.Module``. ``input_shape`` is
   one item's shape (``[C, H, W]`` for images, ``[T, C, H, W]`` for event data), ``timesteps``
   the T asked for on images (a model may ignore it). Initial weights come from torch's global
   RNG, which snnleak seeds per trial.
2. ``forward(x)`` takes a batch: images ``[B, C, H, W]`` (a spiking model encodes time itself)
   or event tensors ``[T, B, C, H, W]``, and returns logits ``[B, num_classes]``, differentiable
   twice (gradient matching differentiates a gradient: no ``torch.no_grad``, no
   ``once_differentiable``, no ``torch.compile``).
3. The attribute ``timesteps`` is the model's T (an int) for a spiking model, ``None`` for an ANN.
4. The last two parameters, in ``parameters()`` order, are the classifier's weight
   ``[num_classes, D]`` and bias ``[num_classes]`` (iDLG's label rule reads them).
5. One batch gives the same logits every time (random draws aside): a spiking model resets its
   neurons' state at the start of ``forward``. docs/own-models.md shows an snnTorch, a
   SpikingJelly and a Norse model that follow it.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from snnleak import layout
from snnleak.errors import ConfigError
from snnleak.neurons.foreign import neuron_modules

README_SECTION = "see docs/own-models.md"


def is_plugin(model: str) -> bool:
    return ":" in model


def load_factory(ref: str) -> Callable[..., nn.Module]:
    """``file.py:factory`` or ``package.module:factory`` -> the factory (one clear error)."""
    where, _, name = ref.rpartition(":")
    if not where or not name:
        raise ConfigError(
            f"--model {ref!r}: write path/to/file.py:factory or package.module:factory"
        )
    if where.endswith(".py"):
        path = Path(where).expanduser()
        if not path.is_file():
            raise ConfigError(f"--model {ref!r}: no such file {path}")
        module_name = f"snnleak_plugin_{abs(hash(str(path.resolve())))}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise ConfigError(
                    f"--model {ref!r}: importing {path} failed ({type(exc).__name__}: {exc})"
                ) from exc
            sys.modules[module_name] = module
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise ConfigError(
                f"--model {ref!r}: cannot import {where} ({type(exc).__name__}: {exc})"
            ) from exc
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ConfigError(f"--model {ref!r}: {where} has no callable {name!r}")
    return factory


def build(
    ref: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    timesteps: int,
    seed: int,
) -> nn.Module:
    """The plug-in victim, initialised from ``seed`` (torch's global RNG, forked) on the CPU."""
    factory = load_factory(ref)
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.manual_seed(seed)
        try:
            model = factory(tuple(input_shape), num_classes, timesteps)
        except Exception as exc:
            raise ConfigError(
                f"--model {ref!r}: factory(input_shape, num_classes, timesteps) raised "
                f"{type(exc).__name__}: {exc}; {README_SECTION}"
            ) from exc
    return model


def contract_problems(
    model: object, input_shape: tuple[int, ...], num_classes: int, modality: str
) -> list[str]:
    """Every way ``model`` breaks the victim contract (empty: it is a victim). The forward
    checks run on a copy, so the victim's buffers (batch-norm statistics) stay as built."""
    if not isinstance(model, nn.Module):
        return [f"the factory must return an nn.Module, not {type(model).__name__}"]
    model = copy.deepcopy(model)
    problems = []
    if not hasattr(model, "timesteps"):
        problems.append("an attribute 'timesteps' (its T, or None for an ANN)")
    elif model.timesteps is not None and (
        isinstance(model.timesteps, bool) or not isinstance(model.timesteps, int)
    ):
        problems.append(f"'timesteps' must be an int or None, not {model.timesteps!r}")
    params = list(model.parameters())
    if len(params) < 2:
        problems.append("parameters ending with a classifier weight and bias")
    else:
        w, b = params[-2], params[-1]
        if w.dim() != 2 or w.shape[0] != num_classes or tuple(b.shape) != (num_classes,):
            problems.append(
                f"its last two parameters must be the classifier's weight [{num_classes}, D] "
                f"and bias [{num_classes}], got {list(w.shape)} and {list(b.shape)}"
            )
    x = torch.rand(layout.batch_shape(input_shape, 2, modality), device="cpu")
    try:
        model.train()
        out = model(x.to(params[0].device) if params else x)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
            shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            problems.append(
                f"forward of a batch of 2 must give logits [2, {num_classes}], got {shape}"
            )
        elif params:
            (g,) = torch.autograd.grad(out.square().sum(), params[-2], create_graph=True)
            if not g.requires_grad:
                problems.append("logits differentiable twice (gradient matching needs it)")
            if _carries_state(model, x.to(out.device)):
                problems.append(STATE_HINT)
    except Exception as exc:
        problems.append(
            f"forward of a batch of 2 items to run (it raised {type(exc).__name__}: {exc})"
        )
    return problems


STATE_HINT = (
    "the same logits for the same batch twice: its neuron state carries over from one forward "
    "into the next (reset it at the start of forward: snnTorch `mem = lif.init_leaky()` or "
    "`utils.reset(net)`, SpikingJelly `functional.reset_net(self)`, Norse: pass no state)"
)


def _carries_state(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether two forwards of one batch differ, with the random draws (dropout, Poisson
    coding) made equal: state kept between forwards, which an attack's every evaluation would
    see change under it."""
    outs = []
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        for _ in range(2):
            torch.manual_seed(0)
            outs.append(model(x))
    return not torch.allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


def check(ref: str, model: object, input_shape, num_classes: int, modality: str) -> nn.Module:
    problems = contract_problems(model, tuple(input_shape), num_classes, modality)
    if problems:
        raise ConfigError(
            f"--model {ref!r} is not a victim: it needs "
            + "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
            + f"; {README_SECTION}"
        )
    return model


# the AttackSpec fields that describe snnleak's own victims only: a plug-in's record leaves
# them out (its own neurons are described instead, :func:`describe`)
BUILT_IN_FIELDS = (
    "backend",
    "neuron",
    "surrogate",
    "surrogate_alpha",
    "encoding",
    "victim_init",
    "detach_reset",
    "smooth_forward",
)


def _plain(value):
    """A value as a record holds it: numbers, strings, lists; a function or module by name."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, torch.Tensor):
        return float(value) if value.numel() == 1 else value.detach().cpu().tolist()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # Norse's parameter tuples
        return {f: _plain(getattr(value, f)) for f in value._fields}
    if hasattr(value, "__dataclass_fields__"):
        return {f: _plain(getattr(value, f)) for f in value.__dataclass_fields__}
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{getattr(value, '__module__', type(value).__module__)}.{name}"


def _settings(module: nn.Module) -> dict:
    """A neuron module's settings: its public plain attributes, its scalar buffers and
    parameters (beta, threshold), its surrogate; not its state."""
    out = {}
    for key, value in vars(module).items():
        if key.startswith("_") or key in ("training", "state_function"):
            continue
        out[key] = _plain(value)
    for key, t in [*module._buffers.items(), *module._parameters.items()]:
        if t is not None and t.numel() == 1 and key not in ("mem", "syn", "spk", "v"):
            out[key] = float(t)
    for key in ("step_mode", "reset_mechanism"):  # properties: SpikingJelly's, snnTorch's
        if isinstance(getattr(type(module), key, None), property):
            out[key] = _plain(getattr(module, key))
    for key, child in module.named_children():  # SpikingJelly's surrogate function
        out[key] = {"class": _plain(type(child)), **_settings(child)}
    return out


def describe(ref: str, model: nn.Module) -> dict:
    """What a plug-in victim's record says of it: the factory (and its file's SHA-256), T,
    its size, how it was initialised, and each spiking neuron module with its class and
    settings (snnTorch, SpikingJelly, Norse or snnleak's own)."""
    import hashlib

    where = ref.rpartition(":")[0]
    path = Path(where).expanduser()
    neurons = [
        {"module": name, "class": _plain(type(m)), **_settings(m)}
        for name, m in neuron_modules(model)
    ]
    return {
        "factory": ref,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None,
        "timesteps": getattr(model, "timesteps", None),
        "parameters": sum(p.numel() for p in model.parameters()),
        "init": "the factory's own, torch's global RNG seeded from the trial's victim seed",
        "neurons": neurons,
    }
