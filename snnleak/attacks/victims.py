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

:func:`stack_victims` picks the first where it applies. Both return each trial's update as
one row, ``[K, P]``: its parameters' gradients flattened in the solo model's parameter order,
beside the observed update in the same layout (``observed``). An attack's losses are then row
reductions, the same few ops for every architecture (:func:`stacked_matching_loss`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from snnleak.attacks.rows import take_rows
from snnleak.errors import ConfigError
from snnleak.gradients import dummy_gradients, layer_weights
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


def observed_rows(observations: list[Observation]) -> torch.Tensor:
    """Each trial's observed update as one row ``[K, P]``, in its model's parameter order."""
    return torch.stack([torch.cat([g.reshape(-1) for g in o.gradients]) for o in observations])


def update_weights(observations: list[Observation], norm: str) -> torch.Tensor | None:
    """Each trial's layer weights (:func:`~snnleak.gradients.layer_weights`, from its observed
    update only) spread over its update's entries, ``[K, P]``; None for ``norm="none"``."""
    per_trial = [layer_weights(list(o.gradients), norm) for o in observations]
    if per_trial[0] is None:
        return None
    first = observations[0].gradients
    sizes = torch.tensor([g.numel() for g in first], device=first[0].device)
    weights = torch.tensor(per_trial, dtype=first[0].dtype, device=first[0].device)
    return weights.repeat_interleave(sizes, dim=1)


class StackedVictims:
    """The K victims as one :class:`StackedLeNet`: ``params`` its parameters, ``observed``
    the observed updates as rows (:func:`observed_rows`)."""

    graphable = True  # an evaluation reads nothing back to the host: CUDA graphs can replay it

    def __init__(self, observations: list[Observation], models=None) -> None:
        self.model = StackedLeNet(models or [o.model for o in observations]).train()
        self.params = self.model.ordered_parameters()
        self.order = self.model.solo_order()
        self.observed = observed_rows(observations)

    def gradients(self, x, target, create_graph: bool = True, rows=None):
        model, params = self.model, self.params
        if rows is not None:
            params = model.rows(rows)
        k, b = x.shape[0], x.shape[-4]
        logits = model(x.transpose(0, 1) if x.dim() == 6 else x, params)  # [K, B, O]
        # the trials' losses summed: each trial's mean over its B items, 1/B of one sum
        if target.is_floating_point():
            ce = torch.sum(-target * F.log_softmax(logits, -1))
        else:
            flat = logits.reshape(-1, logits.shape[-1])
            ce = F.cross_entropy(flat, target.reshape(-1), reduction="sum")
        ce = ce / b if b > 1 else ce
        grads = torch.autograd.grad(ce, params, create_graph=create_graph)
        updates = torch.cat([grads[j].reshape(k, -1) for j in self.order], 1)
        return updates, take_rows(self.observed, rows)

    def features(self, x, rows=None):
        """Each trial's last-layer input ``[K, B, F]`` at its dummy (``rows``: those trials')."""
        return self.model.features(x, self.params if rows is None else self.model.rows(rows))


class EachVictim:
    """Any K victims, each trial's update computed on its own model (:func:`dummy_update`),
    one after the other, and stacked."""

    graphable = False  # a foreign model may read the host mid-step

    def __init__(
        self, observations: list[Observation], models=None, update_attack: str = "approx"
    ) -> None:
        if models is not None:
            observations = [replace(o, model=m) for o, m in zip(observations, models, strict=True)]
        self.observations, self.update_attack = observations, update_attack
        self.observed = observed_rows(observations)

    def gradients(self, x, target, create_graph: bool = True, rows=None):
        trials = range(len(self.observations)) if rows is None else rows.tolist()
        per = []
        for n, i in enumerate(trials):
            grads = dummy_update(self.observations[i], x[n], target[n], self.update_attack)
            row = torch.cat([g.reshape(-1) for g in grads])
            per.append(row if create_graph else row.detach())
        return torch.stack(per), take_rows(self.observed, rows)

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
    """Each trial's update at its dummy and its observed one, as rows: ``(updates [K, P],
    observed [K, P])``, in the solo model's parameter order. ``x``: dummies
    ``[K, B, C, H, W]`` (or events ``[K, T, B, C, H, W]``); ``target``: hard labels ``[K, B]``
    or probabilities ``[K, B, classes]``. With ``rows`` (indices), only those trials: ``x``
    and ``target`` hold theirs, and so do the results."""
    return stack.gradients(x, target, create_graph, rows)


def stacked_matching_loss(stack, x, target, weights=None, create_graph: bool = True, rows=None):
    """Every trial's matching loss ``[K]``, its squared distance to the observed update
    (:func:`trial_gradients` for the arguments); ``weights``, when given, ``[K, P]`` weights
    of the entries (:func:`update_weights`)."""
    updates, observed = trial_gradients(stack, x, target, create_graph, rows)
    squares = (updates - observed) ** 2
    if weights is not None:
        squares = squares * take_rows(weights, rows)
    return squares.sum(1)


def check_alike(observations: list[Observation]) -> None:
    obs0 = observations[0]
    if any(
        o.input_shape != obs0.input_shape or o.batch_size != obs0.batch_size for o in observations
    ):
        raise ConfigError("trials run together must share input shape and batch size")
