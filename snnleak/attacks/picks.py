"""The attacker's picks among its attacks' reconstructions, made with what it can observe.

- :func:`observable_pick`, item by item: the reconstruction that explains the observed update
  best (the lowest relative gradient mismatch on the victim, which needs no truth);
- :func:`rehearsed_choice`: the attack that did best on the attacker's own public items, run as
  clients on the same victims (it holds their truth, and reads no client's): by what it is
  after, the record (identification against its own split), then its picture (median SSIM).

They read records: a client's record is read for its ``relative_mismatch`` only, a rehearsal
record (one of the attacker's own items) for its scores. What only the truth can choose (the
best reconstruction by SSIM) is an upper bound, kept with the tables that label it so.
"""

from __future__ import annotations

from snnleak import leakage
from snnleak.reporting import median


def _mismatch(record: dict) -> float:
    m = record.get("relative_mismatch")
    return float("inf") if m is None else m


def observable_pick(per_attack: dict[str, dict[int, dict]]) -> dict[int, dict]:
    """Per item, among the attacks' records, the one with the lowest relative gradient
    mismatch on the victim: what the attacker observes (no ground truth)."""
    items = set().union(*(r.keys() for r in per_attack.values())) if per_attack else set()
    return {i: min((rs[i] for rs in per_attack.values() if i in rs), key=_mismatch) for i in items}


def rehearsed_choice(rehearsal: dict[str, dict[int, dict]]) -> str | None:
    """The attack that did best on the attacker's rehearsal items by what the attacker is
    after: the most items identified (top-1, against the rehearsal split), then the highest
    median SSIM (the first listed on a tie); None without rehearsal records."""
    scored = []
    for order, (attack, recs) in enumerate(rehearsal.items()):
        if not recs or any(r.get("ssim") is None for r in recs.values()):
            continue
        top1 = leakage.top_k(list(recs.values()), 1)
        scored.append(
            (
                -1.0 if top1 is None else top1.mean,
                median([r["ssim"] for r in recs.values()]),
                -order,
                attack,
            )
        )
    return max(scored)[3] if scored else None
