"""``batch_trials = "auto"``: resolved for the device before a run is planned, one clear error
where it is wrong; the dry run times the batched step the run will take."""

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from snnleak.cli import cli
from snnleak.device import CPU
from snnleak.errors import ConfigError
from snnleak.reproduce import load_preset
from snnleak.reproduce.batching import CPU_BATCH, AutoBatch, batch_of, resolve_batches
from snnleak.reproduce.cost import estimate, summary
from snnleak.reproduce.plan import cells_for
from snnleak.reproduce.preset import FigurePlan, preset_text


def test_both_presets_choose_the_trials_together_per_cell_for_the_device():
    for name in ("quick", "paper"):
        preset = load_preset(name)
        assert preset.table4.batch_trials == preset.table5.batch_trials == "auto"
    paper = resolve_batches(load_preset("paper"), CPU)
    cells = [c for c in cells_for("all", paper, "fused") if c.table in ("table4", "table5")]
    by_dataset = {c.spec.dataset: c.batch_trials for c in cells}
    # LFW's 5,749-class classifier and event data run one trial at a time on the CPU
    assert by_dataset == {"mnist": 16, "cifar100": 16, "lfw": 1, "dvsgesture": 1}
    quick = resolve_batches(load_preset("quick"), CPU)
    samples = load_preset("quick").table4.samples
    assert {c.batch_trials for c in cells_for("table4", quick, "fused")} == {min(16, samples)}


def test_a_plan_without_a_device_slices_as_the_cpu():
    cells = cells_for("table4", load_preset("quick"), "fused")
    assert {c.batch_trials for c in cells} == {min(CPU_BATCH, load_preset("quick").table4.samples)}


def test_auto_fits_the_memory():
    from snnleak.attacks import spec_of
    from snnleak.data import info_of
    from snnleak.reproduce.batching import MEMORY_SHARE
    from snnleak.trials.memory import step_memory

    spec = spec_of("dlg", "snn", "digits")
    one = step_memory(spec, info_of("digits"), 1)
    assert batch_of(AutoBatch(True, int(3.5 * one / MEMORY_SHARE)), 100, spec) == 3
    assert batch_of(AutoBatch(True, int(7.5 * one / MEMORY_SHARE), graphs=True), 100, spec) == 3
    assert batch_of(AutoBatch(True, 0), 100, spec) == 1  # the memory check says what to lower
    assert batch_of(AutoBatch(False, 2**40), 100, spec) == CPU_BATCH
    assert batch_of(AutoBatch(True, 2**50), 1000, spec) == 512  # GPU_MAX
    assert batch_of(8, 3, spec) == 3


@pytest.mark.parametrize("value", ['"many"', "0", "2.5"])
def test_a_bad_batch_trials_setting_is_one_clear_error(tmp_path, value):
    text = preset_text("quick").replace('batch_trials = "auto"', f"batch_trials = {value}", 1)
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"table4.batch_trials must be 'auto' or an integer"):
        load_preset(str(path))


def test_the_dry_run_times_the_k_trial_step_and_counts_machines():
    q = load_preset("quick")
    t4 = replace(
        q.table4,
        samples=4,
        timesteps=2,
        lbfgs_max_iter=2,
        batch_trials=2,
        iterations=(("dlg", 2), ("idlg", 2), ("grnn", 2)),
        datasets=(("MNIST", "digits"),),
    )
    preset = replace(q, table4=t4, figures=FigurePlan(1))
    rows = estimate("table4", preset, "fused", CPU, steps=1)
    by_attack = {(r.attack, r.model): r for r in rows}
    assert by_attack[("idlg", "snn")].batch == 2 and by_attack[("grnn", "ann")].batch == 2
    assert all(r.seconds_per_step > 0 and r.trials_per_hour > 0 for r in rows)
    text = summary(rows, CPU)
    assert "| K |" in text and "To finish in 24 hours:" in text


def test_attack_takes_batch_trials_auto(tmp_path):
    args = ["attack", "--attack", "idlg", "--model", "ann", "--dataset", "digits"]
    args += ["--samples", "2", "--iterations", "1", "--batch-trials", "auto"]
    args += ["--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(r) for r in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    assert [r["batch_trials"] for r in records] == [2, 2]
    bad = CliRunner().invoke(cli, [*args[:-4], "--batch-trials", "lots", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "neither a number of trials nor 'auto'" in bad.output


def test_auto_runs_learned_attacks_on_fresh_victims_one_at_a_time():
    from snnleak.attacks import spec_of
    from snnleak.reproduce.batching import AutoBatch, batch_of
    from snnleak.reproduce.sections import AUTO

    cpu = AutoBatch(False, 8 << 30)
    for setting in (AUTO, cpu):
        assert batch_of(setting, 32, spec_of("learned", "snn", "digits")) == 1
        assert batch_of(setting, 32, spec_of("learned", "snn", "digits", victims="round")) > 1
        assert batch_of(setting, 32, spec_of("analytic", "snn", "digits")) > 1
    assert batch_of(4, 32, spec_of("learned-proxy", "snn", "digits")) == 4


def test_planning_knows_the_real_sets_shapes_without_reading_them():
    from snnleak import data

    for name, shape, classes in (("mnist", (1, 28, 28), 10), ("dvsgesture", (20, 2, 128, 128), 11)):
        info = data.info_of(name)  # no root given: a real set is never read here
        assert (info.input_shape, info.num_classes) == (shape, classes)
    assert data.info_of("digits") == data.load("digits", "test").info


@pytest.mark.parametrize(
    "script", ["paper_cost.py", "feature_refinement.py", "accelerate_speed.py"]
)
def test_the_experiments_scripts_import(script):
    import subprocess
    import sys
    from pathlib import Path

    path = Path(__file__).parents[1] / "experiments" / script
    done = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
