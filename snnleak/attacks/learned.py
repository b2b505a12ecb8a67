r"""Learned inversion (after Learning To Invert, Wu et al. 2022): a decoder from updates to
items, trained on the attacker's own public data.

The attacker has the observed model (the :class:`~snnleak.threat.Observation`) and public data
of the same kind, disjoint from the clients' (here: a seeded sample of ``aux_items`` items, by
default all, of the split the victims' items are not from, less its rehearsal items:
:func:`rehearsal_items`). For each public item it computes the
update the observed model would send, and fits a decoder from update to item
(:mod:`snnleak.attacks.decoders`): Learning To Invert's MLP (``decoder="mlp"``, the default) or
a ridge regression (``"ridge"``, the baseline).

``decoder="features"`` decodes what the update gives exactly instead of its raw, loss-scaled
coordinates: for a batch of one, the last layer's input (the time-averaged spike counts of an
SNN's last hidden layer), :math:`h = (\partial\ell/\partial W)[k] / (\partial\ell/\partial
b)[k]` (:func:`~snnleak.attacks.analytic.observed_features`), beside the label iDLG reads.
For a batch of B > 1 each item's features and label are first separated out of the update
(:mod:`snnleak.attacks.separation`) and decoded one by one. Its training pairs need forward passes
only, so the public items are multiplied by seeded deformations
(:mod:`snnleak.attacks.augment`) and a wider MLP is trained on them (two hidden layers of
1,500, one-cycle Adam). Applied to the observed update it gives a
reconstruction on its own (``"learned"``); as the start of the smooth proxy
(:mod:`snnleak.attacks.proxy`) it gives the pipeline ``"learned-proxy"``, whose stages hand over
by the victim's matching loss.

The decoder is fitted once per observed model and public set: every trial of the paper's
single-gradient protocol has a victim of its own, so it is fitted per trial; updates observed on
one model (the clients of a federation round, ``--victims round``) share one fit, cached in the
process by the model's parameters, and on disk when the attack is given a cache folder
(:func:`fit_or_load`). A fit draws from a generator seeded by that fingerprint, so it is the
same whichever trial asks first.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from snnleak import layout
from snnleak.attacks.analytic import observed_features
from snnleak.attacks.augment import augmented
from snnleak.attacks.config import DECODERS, REHEARSAL_ITEMS
from snnleak.attacks.decoders import (
    FEATURES_MLP,
    MLPDecoder,
    MLPSettings,
    RidgeDecoder,
    feature_input,
    public_features,
    public_updates,
)
from snnleak.attacks.iterates import IterateTracker, finish
from snnleak.attacks.primitives import infer_label
from snnleak.attacks.proxy import ProxyConfig, SmoothProxy
from snnleak.attacks.separation import separate
from snnleak.attacks.victims import check_alike, stack_victims, stacked_matching_loss
from snnleak.errors import ConfigError
from snnleak.threat import Observation, Reconstruction


@dataclass(frozen=True)
class LearnedConfig:
    aux_items: int = 256
    decoder: str = "mlp"
    ridge: float = 1e-2  # relative to the mean squared feature
    mlp: MLPSettings = field(default_factory=MLPSettings)
    features_mlp: MLPSettings = FEATURES_MLP  # the features decoder's MLP
    augment: int = 7  # the features decoder: deformed copies of each public item (augment.py)
    then_proxy: bool = False
    proxy: ProxyConfig = field(default_factory=ProxyConfig)

    def __post_init__(self) -> None:
        if self.aux_items < 2 or not self.ridge > 0:
            raise ConfigError("learned inversion needs aux_items >= 2 and ridge > 0")
        if self.decoder not in DECODERS:
            raise ConfigError(
                f"unknown decoder {self.decoder!r}; choose one of: {', '.join(DECODERS)}"
            )


def model_key(model: torch.nn.Module) -> str:
    """A fingerprint of the observed model: one decoder fit per model. Its class and ``repr``
    (the architecture, the neurons, T) and every parameter and buffer: two victims drawn from
    one seed share their weights whether they spike or not (an SNN-LeNet and a LeNet, or one SNN
    at two T), and must not share a decoder."""
    h = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    h.update(repr(model).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


_LAST_FIT: dict[tuple, object] = {}  # this process's most recent fits, oldest first
KEPT_FITS = 4  # observed models whose decoders are kept (learned, learned-proxy; ANN, SNN)


def _aux_key(items: list, config: LearnedConfig, batch: int) -> str:
    settings = (config.decoder, config.ridge, config.mlp, batch)
    if config.decoder == "features":
        settings = (config.decoder, config.features_mlp, config.augment)
    h = hashlib.sha256(repr(settings).encode())
    for x, y in items:
        h.update(x.detach().cpu().contiguous().numpy().tobytes())
        h.update(str(int(y)).encode())
    return h.hexdigest()


def rehearsal_items(available: int) -> list[int]:
    """The public items no decoder trains on: a seeded sample of ``REHEARSAL_ITEMS`` (at most a
    quarter of the split), which the attacker keeps to rehearse its attacks on, as its own
    clients whose truth it knows (``reproduce adaptive``'s rehearsed pick)."""
    k = min(REHEARSAL_ITEMS, available // 4)
    rng = torch.Generator().manual_seed(1)
    return torch.randperm(available, generator=rng, device="cpu")[:k].sort().values.tolist()


def fit_pool(available: int) -> int:
    """How many public items a decoder may train on: all but the rehearsal items."""
    return available - len(rehearsal_items(available))


def public_subset(available: int, n: int) -> torch.Tensor:
    """The ``n`` public items a decoder trains on: a seeded sample of the split without its
    rehearsal items, not its first ``n`` (a split stored in class order would give the first
    classes only)."""
    kept = set(rehearsal_items(available))
    pool = torch.tensor(
        [i for i in range(available) if i not in kept], dtype=torch.long, device="cpu"
    )
    if n >= len(pool):
        return pool
    rng = torch.Generator().manual_seed(0)
    return pool[torch.randperm(len(pool), generator=rng, device="cpu")[:n].sort().values]


FIT_FORMAT = 1  # the layout of a fit on disk: a fit of another format is never read back


def fit_or_load(cache: Path | None, key: tuple, fit) -> tuple[object, float, bool]:
    """``(decoder, seconds, fitted_here)``: the fit of ``key`` from ``cache`` (a folder), or
    ``fit()``'s, written there atomically. The key holds the observed model's fingerprint, the
    public items and the decoder's configuration, so a rerun or a resumed study never refits
    and never reads another model's decoder; a lock per key makes a second process wait for
    the first one's fit instead of repeating it. ``seconds``: the fit's own time, when made."""
    if cache is None:
        return (*fit(), True)
    from filelock import FileLock

    from snnleak.io import save_atomic

    name = hashlib.sha256(repr((FIT_FORMAT, key)).encode()).hexdigest()[:24]
    path = Path(cache) / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists():
            blob = torch.load(path, weights_only=False)  # written by this function only
            return blob["decoder"], blob["seconds"], False
        decoder, seconds = fit()
        save_atomic({"decoder": decoder, "seconds": seconds, "key": repr(key)}, path)
    return decoder, seconds, True


class LearnedInversion:
    name = "learned"

    def __init__(self, config: LearnedConfig, aux, cache: Path | None = None) -> None:
        """``aux``: the attacker's public split (``split[i] -> (item, label)``); ``cache``: a
        folder that keeps the fits across runs and processes (:func:`fit_or_load`)."""
        if fit_pool(len(aux)) < config.aux_items:
            raise ConfigError(
                f"learned inversion asks for {config.aux_items} public items, but the "
                f"auxiliary split has {fit_pool(len(aux))} besides its rehearsal items"
            )
        self.config, self.aux, self.cache = config, aux, cache
        self._fitted: dict[tuple, object] = {}  # (model fingerprint, B) -> its decoder
        self.fit_seconds = 0.0

    def decoder_for(self, obs: Observation):
        """The decoder of the observed model and client batch size, fitted on first use (the
        features decoder decodes one item at a time, so one fit serves every batch size)."""
        cfg = self.config
        model = self._model(obs)
        batch = model[1]
        if model not in self._fitted:
            items = [self.aux[int(i)] for i in public_subset(len(self.aux), cfg.aux_items)]
            key = (model, _aux_key(items, cfg, batch))
            if key not in _LAST_FIT:
                fit = lambda: self._fit(obs, items, model[0])  # noqa: E731
                decoder, seconds, fitted = fit_or_load(self.cache, key, fit)
                while len(_LAST_FIT) >= KEPT_FITS:
                    del _LAST_FIT[next(iter(_LAST_FIT))]
                _LAST_FIT[key] = (decoder, seconds)
                self.fit_seconds += seconds if fitted else 0.0
            self._fitted = {model: _LAST_FIT[key]}
        return self._fitted[model][0]

    def _model(self, obs: Observation) -> tuple[str, int]:
        """What a fit is kept by: the observed model, and the batch size its decoder reads."""
        return model_key(obs.model), 1 if self.config.decoder == "features" else obs.batch_size

    def _fit(self, obs: Observation, items: list, fingerprint: str):
        """One decoder fitted on ``items``' updates on the observed model, and its seconds."""
        cfg = self.config
        start = time.perf_counter()
        rng = torch.Generator().manual_seed(int(fingerprint[:15], 16))
        if cfg.decoder == "features":
            items = augmented(items, cfg.augment)
            inputs, targets = public_features(obs.model, items, obs.num_classes)
            decoder = MLPDecoder(inputs, targets, cfg.features_mlp, rng)
        else:
            updates, targets = public_updates(obs.model, items, obs.modality, obs.batch_size)
            if cfg.decoder == "ridge":
                decoder = RidgeDecoder(updates, targets, cfg.ridge)
            else:
                decoder = MLPDecoder(updates, targets, cfg.mlp, rng)
        return decoder, time.perf_counter() - start

    def details(self, obs: Observation) -> dict:
        """The public-set size, the decoder and its one fit's time, for the record."""
        _, seconds = self._fitted[self._model(obs)]
        out = {
            "decoder": self.config.decoder,
            "public_items": self.config.aux_items,
            "fit_seconds": round(seconds, 2),
        }
        if obs.batch_size > 1 and self.config.decoder != "features":
            # the pairs: B shuffles of the public items cut into batches
            out["public_batches"] = obs.batch_size * (self.config.aux_items // obs.batch_size)
        return out

    def decode(
        self, obs: Observation, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The decoder's estimate of the client's batch, its labels and what the record keeps
        of the decoding (the separation's relative residual at B > 1: ~0 when the features
        explain the update); at B > 1 its items in the order of their labels
        (:mod:`snnleak.attacks.decoders`)."""
        decoder = self.decoder_for(obs)
        kept = {}
        if self.config.decoder != "features":  # the raw update
            label = infer_label(obs)
            update = torch.cat([g.reshape(-1) for g in obs.gradients])[None]
        elif obs.batch_size == 1:  # the exact features, read off the update, beside the label
            label = infer_label(obs)
            update = feature_input(observed_features(obs)[None], label, obs.num_classes)
        else:  # each item's features and the batch's labels, separated out of the update
            found = separate(obs)
            label, kept = found.labels.to(obs.device), {"separation_residual": found.residual}
            h = found.features.to(obs.device, obs.gradients[0].dtype)
            update = feature_input(h, label, obs.num_classes)
        shape = layout.batch_shape(obs.input_shape, obs.batch_size, obs.modality)
        # one decoded row per update row: the whole batch, or one item per separated item
        x = torch.stack([decoder(u) for u in update]).reshape(shape).to(obs.gradients[0].dtype)
        return (x.clamp(0, 1) if obs.modality == "image" else x.clamp_min(0)), label, kept

    def _decoded(self, loss: float, x: torch.Tensor, label, modality: str) -> Reconstruction:
        """The decoder's estimate as the reconstruction: no step, its victim loss recorded."""
        track = IterateTracker()
        track.record(loss, (x, label))
        return finish(track, 0, self.config.proxy.threshold, (x, label), modality)

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction:
        return self.reconstruct_trials([obs], [rng])[0]

    def reconstruct_trials(
        self, observations: list[Observation], rngs: list[torch.Generator]
    ) -> list[Reconstruction]:
        """Each observation attacked on its own: the decoders first (one fit per observed
        model, each fit one computation over its public items), then the trials' matching
        losses, or their proxy pipelines, as one computation over K rows."""
        check_alike(observations)
        decoded, details = [], []  # each fit's details read as it is the one kept
        for o, g in zip(observations, rngs, strict=True):
            decoded.append(self.decode(o, g))
            details.append({**self.details(o), **decoded[-1][2]})
        x = torch.stack([d[0] for d in decoded])
        if self.config.then_proxy:
            recs = SmoothProxy(self.config.proxy).reconstruct_trials(observations, rngs, inits=x)
        else:
            labels = torch.stack([d[1] for d in decoded])
            stack = stack_victims(observations)
            losses = stacked_matching_loss(stack, x, labels, create_graph=False).tolist()
            modality = observations[0].modality
            recs = [self._decoded(loss, x[i], labels[i], modality) for i, loss in enumerate(losses)]
        return [
            replace(rec, details={**rec.details, **d}) for rec, d in zip(recs, details, strict=True)
        ]
