"""The victim evaluator: K trials' victims asked one question together, "which update would
this dummy have produced?", with each trial's observed update beside the answer.

An attack over K trial rows sees its victims only through this interface, so one attack serves
every victim:

- :class:`StackedVictims`: built-in LeNet / LeNet5SNN victims (directly coded, one gradient per
  update) as one :class:`~snnleak.models.stacked.StackedLeNet`: a round of evaluations is one
  forward and two backward passes for all K trials.
- :class:`EachVictim`: any other victim (a plug-in model, a rate-coded SNN, a FedAvg client
  whose local steps the attack simulates): each trial's update computed on its own model, one
  after the other, and stacked.

:func:`stack_victims` picks the first where it applies. Both return gradients with a leading
trial axis, in the evaluator's ``order`` (``order[j']``: the stacked index of the solo model's
j'-th parameter), so :func:`stacked_matching_loss` weighs each trial's layers as a solo trial
does.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from snnleak.attacks.rows import take_rows
from snnleak.errors import ConfigError
from snnleak.gradients import dummy_gradients
from snnleak.local_training import pseudo_gradient
from snnleak.models.lenet import LeNet
from snnleak.models.lenet_snn import LeNet5SNN
from snnleak.models.stacked import StackedLeNet
from snnleak.threat import Observation


def dummy_update(obs: Observation, x: torch.Tensor, target: torch.Tensor, update_attack: str):
    """The update the dummy data would produce on ``obs.model``: one gradient (FedSGD, or a
    multi-step update under ``approx``), or the client's local steps run on it (``simulate``)."""
    if obs.local is None or update_attack == "approx":
        return dummy_gradients(obs.model, x, target)
    return pseudo_gradient(obs.model, x, target, obs.modality, obs.local, create_graph=True)


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError("the analytic attack needs a model whose last layer is nn.Linear")
    return linears[-1]


def model_features(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The input of ``model``'s last linear layer at ``x``, ``[B, D]`` (averaged over the time
    steps a spiking model feeds it)."""
    seen = []
    hook = last_linear(model).register_forward_hook(lambda m, i, o: seen.append(i[0]))
    try:
        model(x)
    finally:
        hook.remove()
    h = seen[0]
    return h.reshape(-1, batch_size, h.shape[-1]).mean(0)


class StackedVictims:
    """The K victims as one :class:`StackedLeNet`: ``params`` its parameters, ``true`` the
    observed gradients stacked like them. Unpacks as ``(model, params, true, order)``."""

    graphable = True  # an evaluation reads nothing back to the host: CUDA graphs can replay it

    def __init__(self, observations: list[Observation], models=None) -> None:
        self.model = StackedLeNet(models or [o.model for o in observations]).train()
        self.params = self.model.ordered_parameters()
        n = len(self.model.conv_w)
        grads = [o.gradients for o in observations]
        self.true = [torch.stack([g[2 * i] for g in grads]) for i in range(n)]
        self.true += [torch.stack([g[2 * i + 1] for g in grads]) for i in range(n)]
        self.true += [torch.stack([g[-2] for g in grads]), torch.stack([g[-1] for g in grads])]
        self.order = [j for i in range(n) for j in (i, n + i)] + [2 * n, 2 * n + 1]

    def __iter__(self):
        return iter((self.model, self.params, self.true, self.order))

    def gradients(self, x, target, create_graph: bool = True, rows=None):
        model, params, true = self.model, self.params, self.true
        if rows is not None:
            params = model.rows(rows)
            true = [take_rows(t, rows) for t in true]
        k = x.shape[0]
        logits = model(x.transpose(0, 1) if x.dim() == 6 else x, params)  # [K, B, O]
        if target.is_floating_point():
            ce = torch.sum(-target * F.log_softmax(logits, -1), -1).mean(1)
        else:
            flat = logits.reshape(-1, logits.shape[-1])
            ce = F.cross_entropy(flat, target.reshape(-1), reduction="none").reshape(k, -1).mean(1)
        return torch.autograd.grad(ce.sum(), params, create_graph=create_graph), true

    def features(self, x, rows=None):
        """Each trial's last-layer input ``[K, B, F]`` at its dummy (``rows``: those trials')."""
        return self.model.features(x, self.params if rows is None else self.model.rows(rows))


class EachVictim:
    """Any K victims, each trial's update computed on its own model (:func:`dummy_update`),
    one after the other, and stacked; ``order`` is the models' own parameter order."""

    graphable = False  # a foreign model may read the host mid-step

    def __init__(
        self, observations: list[Observation], models=None, update_attack: str = "approx"
    ) -> None:
        if models is not None:
            observations = [replace(o, model=m) for o, m in zip(observations, models, strict=True)]
        self.observations, self.update_attack = observations, update_attack
        n = len(observations[0].gradients)
        self.true = [torch.stack([o.gradients[j] for o in observations]) for j in range(n)]
        self.order = list(range(n))

    def gradients(self, x, target, create_graph: bool = True, rows=None):
        trials = range(len(self.observations)) if rows is None else rows.tolist()
        per = []
        for n, i in enumerate(trials):
            grads = dummy_update(self.observations[i], x[n], target[n], self.update_attack)
            per.append(grads if create_graph else [g.detach() for g in grads])
        grads = [torch.stack(layer) for layer in zip(*per, strict=True)]
        return grads, [take_rows(t, rows) for t in self.true]

    def features(self, x, rows=None):
        """Each trial's last-layer input ``[K, B, F]`` at its dummy (``rows``: those trials')."""
        trials = range(len(self.observations)) if rows is None else rows.tolist()
        obs = self.observations
        return torch.stack(
            [model_features(obs[i].model, x[n], obs[i].batch_size) for n, i in enumerate(trials)]
        )


def stackable(observations: list[Observation], models=None, update_attack: str = "approx"):
    """Whether :class:`StackedVictims` serves these trials: built-in LeNets of one
    architecture and neurons, directly coded, each update one gradient."""
    models = models or [o.model for o in observations]
    if any(o.local is not None and update_attack != "approx" for o in observations):
        return False
    return stackable_models(models)


def stackable_models(models: list[nn.Module]) -> bool:
    """Whether one :class:`StackedLeNet` computes these models: built-in LeNets of one
    architecture and neurons, directly coded."""
    first = models[0]
    if type(first) not in (LeNet, LeNet5SNN) or any(type(m) is not type(first) for m in models):
        return False
    if any(m.in_shape != first.in_shape or m.num_classes != first.num_classes for m in models):
        return False
    if isinstance(first, LeNet5SNN):
        neurons = [n.params for n in first.neurons]
        return all(
            m.encoding == "direct"
            and m.timesteps == first.timesteps
            and m.backend == first.backend
            and [n.params for n in m.neurons] == neurons
            for m in models
        )
    return True


def stack_victims(observations: list[Observation], models=None, update_attack="approx"):
    """The K trials' victim evaluator: :class:`StackedVictims` where it applies
    (:func:`stackable`), else :class:`EachVictim`. ``models`` stand in for the observed ones
    (the attacker's copies of them, a smooth proxy's); ``update_attack``: as
    :func:`dummy_update` (a FedAvg client's local steps simulated, or one gradient)."""
    if stackable(observations, models, update_attack):
        return StackedVictims(observations, models)
    return EachVictim(observations, models, update_attack)


def trial_gradients(stack, x, target, create_graph: bool = True, rows=None):
    """Each trial's update at its dummy and its observed one: ``(grads, true)``, stacked, in
    the evaluator's order. ``x``: dummies ``[K, B, C, H, W]`` (or events
    ``[K, T, B, C, H, W]``); ``target``: hard labels ``[K, B]`` or probabilities
    ``[K, B, classes]``. With ``rows`` (indices), only those trials: ``x`` and ``target`` hold
    theirs, and so do the results."""
    return stack.gradients(x, target, create_graph, rows)


def stacked_matching_loss(stack, x, target, weights=None, create_graph: bool = True, rows=None):
    """Every trial's matching loss ``[K]`` (:func:`trial_gradients` for the arguments);
    ``weights[j]``, when given, the ``[K]`` weights of the j-th stacked term
    (:func:`~snnleak.gradients.layer_weights`)."""
    grads, true = trial_gradients(stack, x, target, create_graph, rows)
    dims = [tuple(range(1, t.dim())) for t in true]
    terms = [((grads[j] - true[j]) ** 2).sum(dims[j]) for j in stack.order]
    if weights is not None:
        order = stack.order
        terms = [take_rows(weights[j], rows) * term for j, term in zip(order, terms, strict=True)]
    return sum(terms)


def check_alike(observations: list[Observation]) -> None:
    obs0 = observations[0]
    if any(
        o.input_shape != obs0.input_shape or o.batch_size != obs0.batch_size for o in observations
    ):
        raise ConfigError("trials run together must share input shape and batch size")
