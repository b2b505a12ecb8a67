"""The quick preset, pinned by what holds on any CPU.

An attack is a chaotic optimisation (L-BFGS through a spiking network): its exact outcome moves
with the CPU, the BLAS build and the thread count, so no number it produces is pinned here.
What is pinned instead:

- Table IV on a slice (digits, 2 items): the paper's columns and rows, every record with the full
  schema, the iDLG label rule exact, the ANN reconstructing under iDLG (median SSIM >= 0.9),
  and the paper's qualitative claim that the spiking twin does not, under its protocol.
- Table VI, a deterministic computation (seeded synthetic events, pairwise l2 norms): its
  numbers are pinned to 1e-6, a published-number regression in the pyhf sense.
"""

from dataclasses import replace

import pytest

from snnleak import leakage
from snnleak.reproduce import Run, load_preset, reproduce
from snnleak.reproduce.preset import FigurePlan
from snnleak.trials.records import RECORD_FIELDS, read_records

TABLE4_COLUMNS = ("Attack", "Model", "ASR (%)", "MSE", "SSIM", "PSNR (dB)")
# Table VI of the quick preset (dvs-synth, 8 items per class): mean, std, min, max of the
# pairwise l2 norms; deterministic, so any change here is a change of data or metric. The quick
# preset counts self-pairs (the paper's convention); without them, intra-class is the second row.
TABLE6 = {
    "Intra-class": (89.06189601543771, 51.38032841883353, 0.0, 182.75119698650403),
    "Inter-class": (147.3773595560341, 18.50081939866701, 103.33440859655606, 211.6695537860842),
}
INTRA_WITHOUT_SELF_PAIRS = (
    119.40173811883035,
    12.918891312610034,
    76.62897624267207,
    182.75119698650403,
)


@pytest.fixture(scope="module")
def table4_slice(tmp_path_factory):
    from snnleak.judges import load_judge

    cache = tmp_path_factory.mktemp("cache")
    load_judge("digits", cache_dir=cache, log=lambda m: None)
    quick = load_preset("quick")
    sliced = replace(
        quick,
        table4=replace(quick.table4, samples=2, datasets=(("MNIST", "digits"),)),
        figures=FigurePlan(1),
    )
    out = tmp_path_factory.mktemp("out")
    (table,) = reproduce(Run("table4", sliced, out, cache_dir=cache)).tables
    return table, read_records(out / "records.jsonl")


def test_table4_has_the_papers_columns_and_rows(table4_slice):
    table, _ = table4_slice
    assert all(c in table.columns for c in TABLE4_COLUMNS), table.columns
    col = {c: i for i, c in enumerate(table.columns)}
    rows = {(r[col["Attack"]], r[col["Model"]]) for r in table.rows}
    attacks = ("DLG", "iDLG", "GRNN", leakage.LABEL_ONLY, leakage.ORACLE)
    assert rows == {(a, m) for a in attacks for m in ("LeNet", "SNN-LeNet")}


def test_every_record_has_the_full_schema(table4_slice):
    _, records = table4_slice
    assert len(records) == 12
    for r in records:
        assert set(RECORD_FIELDS) <= set(r), set(RECORD_FIELDS) - set(r)
        assert r["split"] == "train" and r["versions"]["torch"]
        assert r["loss_initial"] is not None and len(r["loss_trajectory"]) >= 2
        assert set(r["best_iterate"]) >= {"mse", "ssim", "success", "recovered_label"}


def test_idlg_labels_are_exact_on_both_models(table4_slice):
    _, records = table4_slice
    idlg = [r for r in records if r["attack"] == "idlg"]
    assert len(idlg) == 4 and all(r["label_correct"] for r in idlg)


def test_the_ann_reconstructs_and_the_snn_resists_the_papers_attacks(table4_slice):
    """iDLG's last iterate reconstructs on LeNet (median SSIM >= 0.9); on SNN-LeNet neither
    attack gets anywhere near, even by its best iterate. (DLG at the quick budget of 30 steps
    does not reliably converge on LeNet: tests/test_attacks.py checks it reconstructs with a
    line search.)"""
    _, records = table4_slice

    def median_ssim(attack, model, iterate):
        values = sorted(
            r["ssim"] if iterate == "last" else r["best_iterate"]["ssim"]
            for r in records
            if r["attack"] == attack and r["model"] == model
        )
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    assert median_ssim("idlg", "ann", "last") >= 0.9
    assert median_ssim("idlg", "snn", "best") < median_ssim("idlg", "ann", "last") - 0.5
    for attack in ("dlg", "idlg"):
        assert median_ssim(attack, "snn", "best") < 0.3


def test_table6_is_pinned(tmp_path):
    (table,) = reproduce(Run("table6", load_preset("quick"), tmp_path)).tables
    col = {c: i for i, c in enumerate(table.columns)}
    got = {
        r[col["Type"]]: tuple(r[col[k]] for k in ("Mean", "Std", "Min", "Max")) for r in table.rows
    }
    assert set(got) == set(TABLE6)
    for kind, values in TABLE6.items():
        assert got[kind] == pytest.approx(values, rel=1e-6, abs=1e-9), kind
    from snnleak import data, metrics
    from snnleak.reproduce.outputs import table6_items

    x, y = table6_items(data.load("dvs-synth", "test"), 0)
    intra = metrics.class_l2_statistics(x, y, self_pairs=False)["intra"]
    assert intra == pytest.approx(INTRA_WITHOUT_SELF_PAIRS, rel=1e-6)
