"""Item-level leakage over records: what every table shows beside SSIM and the judge's ASR.

The evaluation writes, per private item, its identification against the clients' split and the
prior baselines of its recovered label (:mod:`snnleak.evaluation.reference`). Here they become
table cells:

- **identification**: the top-1 and top-5 rates, the fraction of private items whose
  reconstruction ranks the item itself first (among the first five) of every item of the split
  the clients come from, by SSIM for images and MSE for events, with the chance level k / pool;
- **beats the oracle prior**: on how many items the reconstruction is closer to the truth than
  the best the label plus the public set give (chosen with the truth: an upper bound);
- **the prior baselines as rows**: *label only* (the public class mean of the recovered label)
  and *label + public set, oracle*.

ASR stays (the paper's metric); it measures the class, which the label alone gives away.
"""

from __future__ import annotations

from snnleak.reporting import Stat, median

ID_COLUMNS = ("Top-1 id (%)", "Top-5 id (%)", "Chance top-1/top-5 (%)", "Beats oracle prior")
ID_NOTE = (
    "Top-1/top-5 id: the share of private items that the reconstruction ranks first (in the "
    "first five) among every item of the split the clients come from, by SSIM (events: MSE); "
    "chance is 1/pool (5/pool). Beats oracle prior: items whose reconstruction is closer to the "
    "truth than the best same-class public item or class mean (picked with the truth). ASR "
    "is the judge's verdict on the class, which the recovered label alone already gives."
)
LABEL_ONLY = "Prior: label only (public class mean)"
ORACLE = "Prior: label + public set, oracle (upper bound)"
PRIOR_NOTE = (
    f"{LABEL_ONLY}: no reconstruction, the mean of the attacker's public items of the "
    f"recovered label. {ORACLE}: the best of those items and their mean by SSIM to the truth "
    "(events: MSE), which only the truth can pick; what the label plus public data give at most."
)


def _field(record: dict, name: str, iterate: str) -> dict | None:
    source = record if iterate == "last" else record.get("best_iterate") or {}
    return source.get(name)


def _items(records: list[dict], name: str, iterate: str = "last") -> list[dict]:
    """Every private item's entry of ``name`` (``identification`` or ``prior``) over the
    records that have it (records written before these fields existed have none), each with
    the broadcast model its record attacked (``"broadcast"``; None for fresh victims)."""
    out = []
    for r in records:
        block = _field(r, name, iterate)
        if block:
            out += [{**it, "broadcast": r.get("broadcast")} for it in block["items"]]
    return out


def measure(items: list[dict]) -> str:
    """The rank identification is read by: SSIM (images), else MSE (events)."""
    return "ssim" if any(it.get("rank_ssim") is not None for it in items) else "mse"


def top_k(records: list[dict], k: int, iterate: str = "last") -> Stat | None:
    """The share (%) of private items identified within the first ``k`` of the pool; its CI
    resamples the broadcast models, then the items, when the records span several."""
    items = _items(records, "identification", iterate)
    key = f"rank_{measure(items)}"
    items = [it for it in items if it.get(key) is not None]
    return Stat.of(
        [100.0 * (it[key] <= k) for it in items], groups=[it["broadcast"] for it in items]
    )


def chance(records: list[dict], k: int) -> float | None:
    """The top-``k`` chance level (%): k / pool, averaged over the items."""
    items = _items(records, "identification")
    if not items:
        return None
    return 100.0 * sum(min(k, it["candidates"]) / it["candidates"] for it in items) / len(items)


def beats_oracle(records: list[dict], iterate: str = "last") -> str:
    """``k/n``: the items whose reconstruction beats the oracle prior."""
    won = [it.get("beats_oracle") for it in _items(records, "prior", iterate)]
    won = [w for w in won if w is not None]
    return f"{sum(won)}/{len(won)}" if won else "-"


def id_cells(records: list[dict], iterate: str = "last") -> tuple:
    """The values of :data:`ID_COLUMNS` for ``records``."""
    one, five = chance(records, 1), chance(records, 5)
    level = None if one is None else f"{one:.2g} / {five:.2g}"
    return (
        top_k(records, 1, iterate),
        top_k(records, 5, iterate),
        level,
        beats_oracle(records, iterate),
    )


def prior_values(records: list[dict], which: str, metric: str) -> list:
    """One prior's per-item values: ``which`` is ``label_only`` or ``oracle``; ``metric`` is
    ``ssim``, ``mse`` or ``success`` (label only, when a judge ran: as 0/100)."""
    values = [it.get(f"{which}_{metric}") for it in _items(records, "prior")]
    if metric == "success":
        return [None if v is None else 100.0 * v for v in values]
    return values


def prior_summary(records: list[dict]) -> dict[str, dict]:
    """Per prior (:data:`LABEL_ONLY`, :data:`ORACLE`): its SSIM and MSE (Stat), median SSIM
    and ASR (%, label only), over the items of ``records``; empty without prior fields."""
    if not _items(records, "prior"):
        return {}
    out = {}
    for name, which in ((LABEL_ONLY, "label_only"), (ORACLE, "oracle")):
        ssim = prior_values(records, which, "ssim")
        out[name] = {
            "n": len(ssim),
            "ssim": Stat.of(ssim),
            "median_ssim": median(ssim),
            "mse": Stat.of(prior_values(records, which, "mse")),
            "asr": Stat.of(prior_values(records, which, "success"))
            if which == "label_only"
            else None,
        }
    return out
