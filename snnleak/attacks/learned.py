r"""Learned inversion (after Learning To Invert, Wu et al. 2022): a decoder from gradients to
inputs, trained on the attacker's own public data.

The attacker has the global model (the :class:`~snnleak.threat.Observation`) and
public data of the same kind, disjoint from the clients' (here: the first ``aux_items`` items,
by default all, of the other split of the victims' dataset: the test split when the victims'
items are training items, as by default). For each public item
it computes the update the model would send, and fits a decoder from that update to the item:
ridge regression on the standardised, flattened gradients (a closed form, so it is exact and
fast on CPU; Learning To Invert trains an MLP on many more examples). Applied to the observed
update it gives a reconstruction on its own (``"learned"``); as the initialisation of the
smooth proxy (:mod:`snnleak.attacks.proxy`) it gives the pipeline ``"learned-proxy"``.

Because each trial has its own freshly initialised victim, the decoder is fitted per trial,
on that victim's weights, as an attacker facing that model would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from snnleak import layout
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label
from snnleak.attacks.proxy import ProxyConfig, SmoothProxy
from snnleak.errors import ConfigError
from snnleak.gradients import matching_loss, parameter_gradients
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class LearnedConfig:
    aux_items: int = 256
    ridge: float = 1e-2  # relative to the mean squared feature
    then_proxy: bool = False
    proxy: ProxyConfig = field(default_factory=ProxyConfig)

    def __post_init__(self) -> None:
        if self.aux_items < 2 or not self.ridge > 0:
            raise ConfigError("learned inversion needs aux_items >= 2 and ridge > 0")


def _flat(grads) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def fit_decoder(
    model, items: list[tuple[torch.Tensor, int]], modality: str, ridge: float
) -> tuple[torch.Tensor, ...]:
    """Ridge regression from the standardised flattened update to the flattened item:
    ``(mean_g, std_g, weights, mean_x)``, solved in the dual (items << features)."""
    model.train()
    ref = next(model.parameters())
    feats, targets = [], []
    for x, y in items:
        xb = layout.as_batch(x, modality).to(ref.device, ref.dtype)
        label = torch.tensor([y], device=ref.device)
        feats.append(_flat(parameter_gradients(model, xb, label)))
        targets.append(x.reshape(-1).to(ref.device, feats[-1].dtype))
    g, t = torch.stack(feats).double(), torch.stack(targets).double()
    mean_g, std_g = g.mean(0), g.std(0).clamp_min(1e-12)
    z = (g - mean_g) / std_g
    mean_x = t.mean(0)
    gram = z @ z.T
    lam = ridge * float(gram.diagonal().mean())
    alpha = torch.linalg.solve(
        gram + lam * torch.eye(len(z), dtype=z.dtype, device=z.device), t - mean_x
    )
    return mean_g, std_g, z.T @ alpha, mean_x


class LearnedInversion:
    name = "learned"

    def __init__(self, config: LearnedConfig, aux) -> None:
        """``aux``: the attacker's public split (``split[i] -> (item, label)``)."""
        if len(aux) < config.aux_items:
            raise ConfigError(
                f"learned inversion asks for {config.aux_items} public items, but the "
                f"auxiliary split has {len(aux)}"
            )
        self.config, self.aux = config, aux

    def decode(self, obs: Observation) -> torch.Tensor:
        cfg = self.config
        if obs.batch_size != 1:
            raise ConfigError("learned inversion decodes one item's update: batch size 1 only")
        items = [self.aux[i] for i in range(cfg.aux_items)]
        mean_g, std_g, weights, mean_x = fit_decoder(obs.model, items, obs.modality, cfg.ridge)
        z = (_flat(obs.gradients).double() - mean_g) / std_g
        x = (z @ weights + mean_x).reshape(obs.input_shape).to(obs.gradients[0].dtype)
        x = layout.as_batch(x, obs.modality)
        return x.clamp(0, 1) if obs.modality == "image" else x.clamp_min(0)

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        x = self.decode(obs)
        if self.config.then_proxy:
            return SmoothProxy(self.config.proxy).reconstruct(obs, rng, init=x)
        label = infer_label(obs)
        track = IterateTracker()
        loss = float(matching_loss(obs.model, x, label, list(obs.gradients)).detach())
        track.observe(loss, (x, label))
        return finish(track, 0, self.config.proxy.threshold, (x, label), obs.modality)
