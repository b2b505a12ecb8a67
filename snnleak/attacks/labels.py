"""The labels of a client batch of B > 1 items, read off its update by the attacker.

- **Labels.** With B > 1 iDLG's single-label rule does not apply. The bias gradient of the
  classifier is ``g_k = mean_i (p_ik - [y_i = k])``, so class k appears
  ``n_k = B (pbar_k - g_k)`` times, with ``pbar_k`` the batch's mean softmax output. The attacker
  estimates ``pbar`` by running the server's copy of the model on random inputs (it knows the
  model, not the data: a label-count estimator of Wainakh et al.'s LLG family). A class with a
  negative bias gradient is in the batch (every softmax output is below 1), so it gets at least
  one; the rest of B goes, one at a time, to the largest remaining estimate.

Which items the client's batch holds is the client's (:mod:`snnleak.client`); how the
reconstruction is scored against them, the evaluation's (:mod:`snnleak.evaluation`).
"""

from __future__ import annotations

import torch

from snnleak import layout
from snnleak.threat import Observation


def label_counts(obs: Observation, probes: int = 32, seed: int = 0) -> torch.Tensor:
    """How many times each class appears in the client's batch, from the classifier's bias
    gradient and the model's mean output on random inputs: ``[K]`` integers summing to B."""
    b = obs.batch_size
    g = obs.gradients[-1].detach().double().cpu()  # the classifier's bias gradient [K]
    gen = torch.Generator().manual_seed(seed)
    shape = layout.batch_shape(obs.input_shape, probes, obs.modality)
    probe = torch.rand(shape, generator=gen, device="cpu", dtype=obs.gradients[0].dtype)
    with torch.no_grad():
        pbar = torch.softmax(obs.model(probe.to(obs.device)), -1).double().mean(0).cpu()
    raw = b * (pbar - g)  # the estimated counts
    # a class with a negative bias gradient is in the batch (p < 1 for every item): it gets at
    # least one; the rest of B goes by the largest remaining estimates
    present = torch.nonzero(g < 0).flatten()
    if len(present) > b:
        present = present[torch.argsort(g[present])[:b]]
    counts = torch.zeros_like(raw)
    counts[present] = 1
    for _ in range(b - len(present)):
        counts[torch.argmax(raw - counts)] += 1
    return counts.long()


def recover_labels(obs: Observation) -> torch.Tensor:
    """The batch's labels ``[B]`` (sorted by class) from :func:`label_counts`."""
    counts = label_counts(obs)
    labels = torch.repeat_interleave(torch.arange(len(counts)), counts)
    return labels.to(obs.device)
