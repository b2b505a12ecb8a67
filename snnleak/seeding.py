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


def victim_rng(seed: int, index: int, victims: str = "fresh") -> torch.Generator:
    """The generator of trial ``index``'s victim weights: its own (``fresh``), or the one model
    every trial of the run shares (``round``: the clients of one federation round)."""
    return _rng(f"{seed}/round/victim") if victims == "round" else trial_rng(seed, index, "victim")


def client_rng(seed: int, client: int, round_: int, purpose: str) -> torch.Generator:
    """The CPU generator of a federation client's draws for ``purpose`` in a round (its batch,
    its encoding, its defense's noise)."""
    return _rng(f"{seed}/client{client}/round{round_}/{purpose}")


def derived_seed(rng: torch.Generator) -> int:
    """A seed drawn from ``rng``: for a generator of its own that must not replay ``rng``."""
    return int(torch.randint(0, 2**62, (1,), generator=rng, device="cpu"))
