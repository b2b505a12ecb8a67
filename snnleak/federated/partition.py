"""Sharing a training set out among clients: IID, or Dirichlet(alpha) label skew."""

from __future__ import annotations

import numpy as np

from snnleak.errors import ConfigError

PARTITIONS = ("iid", "dirichlet")


def partition(
    labels: list[int], clients: int, kind: str, dirichlet_alpha: float, seed: int
) -> list[list[int]]:
    """Disjoint item indices per client. ``iid``: a seeded shuffle cut into equal parts;
    ``dirichlet``: for every class, its items are shared out in proportions drawn from
    Dirichlet(alpha) (small alpha: each client sees few classes)."""
    if kind not in PARTITIONS:
        raise ConfigError(f"--partition must be one of {', '.join(PARTITIONS)}, got {kind!r}")
    if clients < 1 or clients > len(labels):
        raise ConfigError(f"--clients must be 1 to {len(labels)} here, got {clients}")
    rng = np.random.default_rng(seed)
    if kind == "iid":
        order = rng.permutation(len(labels))
        return [sorted(part.tolist()) for part in np.array_split(order, clients)]
    if not dirichlet_alpha > 0:
        raise ConfigError(
            f"--dirichlet-alpha must be positive for a Dirichlet partition, got {dirichlet_alpha}"
        )
    parts: list[list[int]] = [[] for _ in range(clients)]
    y = np.asarray(labels)
    for c in np.unique(y):
        items = rng.permutation(np.flatnonzero(y == c))
        shares = rng.dirichlet(np.full(clients, dirichlet_alpha))
        cuts = (np.cumsum(shares)[:-1] * len(items)).astype(int)
        for k, chunk in enumerate(np.split(items, cuts)):
            parts[k].extend(chunk.tolist())
    empty = [k for k, p in enumerate(parts) if not p]
    for k in empty:  # every client holds at least one item: take one from the largest
        donor = max(range(clients), key=lambda j: len(parts[j]))
        parts[k].append(parts[donor].pop())
    return [sorted(p) for p in parts]
