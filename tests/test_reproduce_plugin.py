"""``reproduce adaptive`` and ``sweep`` on a plug-in (``--model FILE.py:FACTORY``): the same
study, on the user's model, accelerated where exact."""

from __future__ import annotations

from dataclasses import replace

import pytest

from snnleak.errors import ConfigError
from snnleak.reproduce import Run, load_preset, reproduce
from snnleak.reproduce.plan import cells_for
from snnleak.reproduce.preset import AdaptivePlan, FigurePlan, with_model
from snnleak.reproduce.sweep import sweep_cells
from tests.plugin_sources import ST_PLUGIN

pytest.importorskip("snntorch")


def _tiny(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(ST_PLUGIN)
    quick = load_preset("quick")
    tiny = replace(
        quick,
        table4=replace(
            quick.table4,
            timesteps=2,
            lbfgs_max_iter=3,
            iterations=(("dlg", 2), ("idlg", 2), ("grnn", 2)),
            datasets=(("MNIST", "digits"),),
        ),
        adaptive=AdaptivePlan(
            samples=2, attacks=("idlg", "proxy", "learned"), iterations=1, decoder="ridge"
        ),
        figures=FigurePlan(1),
    )
    return with_model(tiny, f"{path}:make", accelerate=True), f"{path}:make"


def test_reproduce_adaptive_attacks_a_plugin_accelerated(tmp_path):
    from snnleak.judges import load_judge

    preset, ref = _tiny(tmp_path)
    cells = cells_for("adaptive", preset, preset.backend)
    assert {c.spec.model for c in cells} == {ref} and all(c.spec.victim.accelerate for c in cells)
    idlg = next(c for c in cells if c.spec.attack == "idlg")
    assert idlg.spec.settings.lbfgs.line_search == "strong_wolfe"  # a plug-in's default optimiser
    load_judge("digits", cache_dir=tmp_path / "cache", log=lambda m: None)
    result = reproduce(Run("adaptive", preset, tmp_path / "out", cache_dir=tmp_path / "cache"))
    (table,) = result.tables
    assert {r[3] for r in table.rows} == {ref}
    assert all(r[-1] is None and r[-2] is None for r in table.rows)  # no ANN twin, no gap
    assert any(n.startswith(f"MNIST on {ref}: iDLG: median SSIM") for n in table.notes)
    assert ref in table.caption and (tmp_path / "out" / "tables" / "adaptive.md").exists()


def test_sweep_tunes_a_plugin_and_other_targets_refuse_one(tmp_path):
    preset, ref = _tiny(tmp_path)
    cells = sweep_cells(preset, preset.backend)
    assert {c.spec.model for c in cells} == {ref}
    assert all(c.spec.victim.accelerate for c in cells)
    assert {c.spec.settings.lbfgs.line_search for c in cells} == {
        "none",
        "strong_wolfe",
    }  # the grid
    with pytest.raises(ConfigError, match="--model applies to reproduce adaptive and sweep"):
        cells_for("table4", preset, preset.backend)
    with pytest.raises(ConfigError, match="--model takes a plug-in"):
        with_model(preset, "snn")


def test_a_preset_holds_a_plugins_chosen_optimiser():
    from snnleak.reproduce.optimiser_plan import Optimiser, parse_optimisers
    from snnleak.reproduce.sweep import snippet

    choice = {("net.py:make", "digits"): Optimiser(0.1, "strong_wolfe", "layer")}
    line = snippet(choice)
    assert line.startswith('[optimiser."net.py:make".digits] lr = 0.1')
    table = {"net.py:make": {"digits": {"lr": 0.1, "line_search": "strong_wolfe"}}}
    assert parse_optimisers(table) == (
        (("net.py:make", "digits"), Optimiser(0.1, "strong_wolfe", "global")),
    )
