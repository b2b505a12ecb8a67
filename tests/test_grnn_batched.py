"""GRNN trials batched over K: the same trials as solo runs, up to float rounding."""

from __future__ import annotations

import pytest

from snnleak import data
from snnleak.attacks import AttackSpec
from snnleak.trials.runner import run_unit


@pytest.mark.parametrize(
    ("model", "wasserstein", "generator"),
    [("ann", "sorted", "glu"), ("snn", "original", "glu"), ("snn", "original", "upsample")],
)
def test_batched_grnn_equals_solo(model, wasserstein, generator):
    spec = AttackSpec(
        "grnn",
        model,
        "digits",
        backend="fused",
        timesteps=3,
        iterations=3,
        grnn_wasserstein=wasserstein,
        grnn_generator=generator,
    )
    split = data.load("digits", "train")
    solo = [run_unit(spec, split, [i], 0, judge=None)[0] for i in (0, 1, 2)]
    batched = run_unit(spec, split, [0, 1, 2], 0, judge=None)
    for a, b in zip(solo, batched, strict=True):
        ra, rb = a.record, b.record
        assert rb["batch_trials"] == 3 and ra["steps"] == rb["steps"] == 3
        assert rb["loss_trajectory"] == pytest.approx(ra["loss_trajectory"], rel=1e-4)
        assert rb["recovered_label"] == ra["recovered_label"]
        assert (b.reconstruction - a.reconstruction).abs().max() < 1e-3  # RMSprop: tiny / tiny


def test_batched_grnn_on_events_starts_where_solo_does():
    spec = AttackSpec("grnn", "snn", "dvs-synth", backend="fused", iterations=1)
    split = data.load("dvs-synth", "train")
    solo = [run_unit(spec, split, [i], 0, judge=None)[0].record for i in (0, 1)]
    batched = [t.record for t in run_unit(spec, split, [0, 1], 0, judge=None)]
    for a, b in zip(solo, batched, strict=True):
        assert b["loss_initial"] == pytest.approx(a["loss_initial"], rel=1e-5)
