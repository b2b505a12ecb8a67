"""Where every random draw of a run comes from: one seeded ``torch.Generator`` per purpose.

A trial's draws (its victim's weights, the client's batch and encoding, the defense's noise, the
attack's start) each come from their own rng, derived from ``(seed, index, purpose)`` by a
hash: independent of the order trials run in, of the device, and of one another. A federation's
client draws from generators derived from ``(seed, client, round, purpose)``: its own, different
for every client and round, and never the server's.
"""

from __future__ import annotations

import hashlib

import torch


def _rng(key: str) -> torch.Generator:
    digest = hashlib.sha256(key.encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def trial_rng(seed: int, index: int, purpose: str) -> torch.Generator:
    """The CPU generator of trial ``index``'s draws for ``purpose`` (victim, batch, defense,
    attack, ...)."""
    return _rng(f"{seed}/{index}/{purpose}")


def victim_rng(
    seed: int, index: int, victims: str = "fresh", broadcasts: int = 1
) -> torch.Generator:
    """The generator of trial ``index``'s victim weights: its own (``fresh``), or the broadcast
    model of the round it is a client of (``round``): model ``index mod broadcasts``, the first
    of which is the one model of a run with a single broadcast."""
    if victims != "round":
        return trial_rng(seed, index, "victim")
    r = index % broadcasts
    return _rng(f"{seed}/round/victim" if r == 0 else f"{seed}/round{r}/victim")


def client_rng(seed: int, client: int, round_: int, purpose: str) -> torch.Generator:
    """The CPU generator of a federation client's draws for ``purpose`` in a round (its batch,
    its encoding, its defense's noise)."""
    return _rng(f"{seed}/client{client}/round{round_}/{purpose}")


def derived_seed(rng: torch.Generator) -> int:
    """A seed drawn from ``rng``: for a generator of its own that must not replay ``rng``."""
    return int(torch.randint(0, 2**62, (1,), generator=rng, device="cpu"))
