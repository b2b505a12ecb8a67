r"""Decoders from an update to the item it came from, fitted on the attacker's public items.

The training pairs are each public item's update **on the observed model** (what the model a
client received would send for that item) and the item itself. Updates are flattened and
standardised per coordinate with the public items' mean and spread; items are flattened.

- :class:`RidgeDecoder`: ridge regression, solved in closed form in the dual (items << update
  coordinates): exact and fast, linear in the update.
- :class:`MLPDecoder`: Learning To Invert's (Wu et al. 2022) decoder, a two-layer MLP
  (update -> ``hidden`` ReLU units -> item through a sigmoid), trained with Adam on a mean
  squared error, with early stopping on a held-out tenth of the public items.

:func:`public_updates` computes the public items' updates in chunks, each chunk through K
copies of the model stacked into one computation (:class:`~snnleak.models.stacked.StackedLeNet`:
one forward and one backward give K per-item gradients), or one item at a time for a model
that cannot be stacked (a plug-in, a stochastic encoder).

**Client batches** (B > 1): the pairs are public *batches* and the update of each (the mean
loss's gradient, as a client sends it). :func:`public_batches` forms them from B seeded
shuffles of the public items, so every item is in B batches and there are as many pairs as
items. A batch's items are decoded in a fixed order, by label (ties in the order drawn): the
order :func:`~snnleak.attacks.labels.recover_labels` gives the attacker's labels in, readable
off the update, so that output slot i has a meaning the decoder can learn. The evaluation
matches items to the private ones by least MSE, whatever their order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnleak import layout
from snnleak.attacks.victims import stackable_models
from snnleak.errors import ConfigError
from snnleak.gradients import parameter_gradients

CHUNK = 32  # items per stacked computation of public updates


def _flat(grads) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def public_batches(
    items: list[tuple[torch.Tensor, int]], batch: int, seed: int = 2
) -> list[list[tuple[torch.Tensor, int]]]:
    """``items`` as client batches of ``batch``: each of ``batch`` seeded shuffles cut into
    batches (a remainder dropped), every batch's items sorted by label (stable)."""
    if batch == 1:
        return [[item] for item in items]
    if len(items) < batch:
        raise ConfigError(f"{len(items)} public items cannot make a batch of {batch}")
    rng = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batch):
        order = torch.randperm(len(items), generator=rng, device="cpu").tolist()
        for start in range(0, len(order) - batch + 1, batch):
            chosen = [items[i] for i in order[start : start + batch]]
            out.append(sorted(chosen, key=lambda item: int(item[1])))
    return out


def public_updates(
    model: nn.Module, items: list[tuple[torch.Tensor, int]], modality: str, batch: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(updates [n, P], items [n, B * D])``: the flattened update on ``model`` (the gradient
    of the mean cross entropy at the items and their labels) of each public batch of
    :func:`public_batches` (one item each at ``batch`` 1), and its items, flattened."""
    model.train()
    ref = next(model.parameters())
    batches = public_batches(items, batch)
    feats = []
    if stackable_models([model]) and modality == "image":
        from snnleak.models.stacked import StackedLeNet

        per_chunk = max(1, CHUNK // batch)
        for start in range(0, len(batches), per_chunk):
            chunk = batches[start : start + per_chunk]
            stacked = StackedLeNet([model] * len(chunk)).train()
            x = torch.stack([torch.stack([x for x, _ in b]) for b in chunk])  # [K, B, ...]
            x = x.to(ref.device, ref.dtype)
            y = torch.tensor([[y for _, y in b] for b in chunk], device=ref.device)
            logits = stacked(x)  # [K, B, O]: batch k through copy k
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum") / batch
            grads = torch.autograd.grad(loss, stacked.ordered_parameters())
            feats += [_flat(g) for g in stacked.trial_parameters(list(grads))]
    else:
        for b in batches:
            xb = layout.stack([x for x, _ in b], modality).to(ref.device, ref.dtype)
            label = torch.tensor([y for _, y in b], device=ref.device)
            feats.append(_flat(parameter_gradients(model, xb, label)))
    targets = [torch.cat([x.reshape(-1) for x, _ in b]) for b in batches]
    return torch.stack(feats).detach(), torch.stack(targets).to(ref.device, ref.dtype)


@dataclass(frozen=True)
class Standardiser:
    mean: torch.Tensor
    std: torch.Tensor

    @staticmethod
    def fit(g: torch.Tensor) -> Standardiser:
        return Standardiser(g.mean(0), g.std(0).clamp_min(1e-12))

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        return (g - self.mean) / self.std


class RidgeDecoder:
    """Ridge regression from the standardised update to the item (dual form)."""

    def __init__(self, updates: torch.Tensor, items: torch.Tensor, ridge: float) -> None:
        g, t = updates.double(), items.double()
        self.scale = Standardiser.fit(g)
        z = self.scale(g)
        self.mean_x = t.mean(0)
        gram = z @ z.T
        lam = ridge * float(gram.diagonal().mean())
        eye = torch.eye(len(z), dtype=z.dtype, device=z.device)
        coef = torch.linalg.solve(gram + lam * eye, t - self.mean_x)
        self.weights = z.T @ coef

    def __call__(self, update: torch.Tensor) -> torch.Tensor:
        return self.scale(update.double()) @ self.weights + self.mean_x


@dataclass(frozen=True)
class MLPSettings:
    hidden: int = 1000
    epochs: int = 60
    lr: float = 1e-4
    weight_decay: float = 1e-5
    batch: int = 64
    patience: int = 10  # epochs without a better held-out loss before stopping
    held_out: float = 0.1  # the fraction of public items early stopping watches
    layers: int = 1  # hidden layers of ``hidden`` ReLU units
    schedule: str = "constant"  # the learning rate: constant, or one cycle peaking at ``lr``


# the features decoder's MLP: two hidden layers of 1,500, one-cycle Adam over 20 epochs
FEATURES_MLP = MLPSettings(
    hidden=1500,
    epochs=20,
    lr=2e-3,
    weight_decay=0.0,
    batch=128,
    patience=20,
    layers=2,
    schedule="onecycle",
)


def public_features(
    model: nn.Module, items: list[tuple[torch.Tensor, int]], classes: int, chunk: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs [n, D + classes], items [n, C*H*W])``: each public image's last-layer input on
    ``model`` (what :func:`~snnleak.attacks.analytic.observed_features` reads off a client's
    update exactly) beside its one-hot label, and the image, flattened. Forward passes only,
    ``chunk`` items at a time."""
    from snnleak.attacks.victims import model_features

    model.train()
    ref = next(model.parameters())
    x = torch.stack([x for x, _ in items]).to(ref.device, ref.dtype)
    y = torch.tensor([y for _, y in items], device=ref.device)
    with torch.no_grad():
        h = torch.cat(
            [
                model_features(model, x[s : s + chunk], len(x[s : s + chunk]))
                for s in range(0, len(x), chunk)
            ]
        )
    return feature_input(h, y, classes), x.flatten(1)


def feature_input(h: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """The features decoder's input: features ``[n, D]`` beside one-hot labels."""
    return torch.cat([h, F.one_hot(labels, classes).to(h.dtype)], 1)


class MLPDecoder:
    """Learning To Invert's MLP decoder, trained on the public pairs (see the module
    docstring); the weights of the epoch with the lowest held-out loss are kept."""

    def __init__(
        self,
        updates: torch.Tensor,
        items: torch.Tensor,
        settings: MLPSettings,
        rng: torch.Generator,
    ) -> None:
        g, t = updates.float(), items.float()
        self.scale = Standardiser.fit(g)
        z = self.scale(g)
        n = len(z)
        order = torch.randperm(n, generator=rng, device="cpu").to(z.device)
        cut = max(1, round(settings.held_out * n))
        val, train = order[:cut], order[cut:]
        torch_seed = int(torch.randint(0, 2**62, (1,), generator=rng, device="cpu"))
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            torch.manual_seed(torch_seed)
            widths = [z.shape[1]] + [settings.hidden] * settings.layers
            pairs = itertools.pairwise(widths)
            hidden = [m for a, b in pairs for m in (nn.Linear(a, b), nn.ReLU())]
            net = nn.Sequential(*hidden, nn.Linear(settings.hidden, t.shape[1]), nn.Sigmoid())
        self.net = net.to(z.device)
        opt = torch.optim.Adam(
            self.net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        schedule = None
        if settings.schedule == "onecycle":
            steps = settings.epochs * -(-len(train) // settings.batch)
            schedule = torch.optim.lr_scheduler.OneCycleLR(opt, settings.lr, total_steps=steps)
        best, best_state, waited = float("inf"), None, 0
        self.epochs = 0
        for _ in range(settings.epochs):
            self.epochs += 1
            self.net.train()
            shuffled = train[torch.randperm(len(train), generator=rng, device="cpu")]
            for start in range(0, len(shuffled), settings.batch):
                idx = shuffled[start : start + settings.batch]
                loss = F.mse_loss(self.net(z[idx]), t[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                with torch.device("cpu"):  # torch < 2.12 makes Adam's counter on the default
                    opt.step()
                if schedule is not None:
                    schedule.step()
            self.net.eval()
            with torch.no_grad():
                held = float(F.mse_loss(self.net(z[val]), t[val]))
            if held < best:
                best, waited = held, 0
                best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
            else:
                waited += 1
                if waited >= settings.patience:
                    break
        self.net.load_state_dict(best_state)
        self.net.eval()
        self.held_out_loss = best  # the decoder's own error on public items it did not fit

    def __call__(self, update: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(self.scale(update.float()).unsqueeze(0))[0]
