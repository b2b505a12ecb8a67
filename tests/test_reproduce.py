"""``snnleak reproduce``: presets, tables, resume after an interrupt, Ray == local, the CLI."""

from dataclasses import replace

import pytest
from click.testing import CliRunner

from snnleak import leakage
from snnleak.cli import cli
from snnleak.errors import ConfigError
from snnleak.reporting import Stat, Table, to_csv, to_latex, to_markdown
from snnleak.reproduce import Run, load_preset, reproduce
from snnleak.reproduce import plan as planning
from snnleak.reproduce.figures import threshold_sweep
from snnleak.reproduce.optimiser_plan import Optimiser
from snnleak.reproduce.preset import FigurePlan, preset_text, with_samples
from snnleak.reproduce.tables import table5
from snnleak.trials.records import read_records, record_key, trial_key

VOLATILE = ("seconds",)  # wall time: the only field allowed to differ between equal runs


def tiny(**table4):
    """The quick preset cut to a run of seconds: Table IV on digits only, 2 items per cell."""
    q = load_preset("quick")
    t4 = dict(
        samples=2,
        timesteps=2,
        lbfgs_max_iter=4,
        batch_trials=2,
        iterations=(("dlg", 2), ("idlg", 2), ("grnn", 3)),
        datasets=(("MNIST", "digits"),),
    )
    t4.update(table4)
    return replace(q, table4=replace(q.table4, **t4), figures=FigurePlan(1))


@pytest.fixture(scope="module")
def judges(tmp_path_factory):
    from snnleak.judges import load_judge

    cache = tmp_path_factory.mktemp("cache")
    load_judge("digits", cache_dir=cache, log=lambda m: None)
    return cache


@pytest.fixture(scope="module")
def full(tmp_path_factory, judges):
    """An uninterrupted tiny run, trials one after another in this process."""
    out = tmp_path_factory.mktemp("full")
    return out, reproduce(Run("table4", tiny(), out, cache_dir=judges, workers=1))


def _records(out):
    return sorted(
        (
            {k: v for k, v in r.items() if k not in VOLATILE}
            for r in read_records(out / "records.jsonl")
        ),
        key=record_key,
    )


def test_the_presets_parse():
    quick, paper = load_preset("quick"), load_preset("paper")
    assert dict(quick.table4.datasets) == {
        "MNIST": "mnist-5k",
        "CIFAR-100": "patches",
        "LFW": "lfw-subset",
    }
    assert quick.ablations.dataset == quick.defenses.dataset == "mnist-5k"
    assert quick.sweep.datasets[0] == "mnist-5k"
    assert dict(paper.table4.datasets) == {"MNIST": "mnist", "CIFAR-100": "cifar100", "LFW": "lfw"}
    assert paper.table4.samples == 1000 and paper.table4.iterations_of("grnn") == 1000
    assert paper.table5.thresholds == (0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    more = with_samples(quick, 32)
    assert more.table4.samples == more.adaptive.samples == more.ablations.samples == 32
    assert more.table5.samples == 32 and more.sweep == quick.sweep


@pytest.mark.parametrize(
    "edit, message",
    [
        (("seed = 0", "seed = 0\nspeed = 1"), "unknown key 'speed'"),
        (("samples = 4            #", "#"), "table4: missing key 'samples'"),
        (
            ('MNIST = "mnist-5k"', 'MNIST = "digitz"'),
            "table4.datasets.MNIST: unknown dataset 'digitz'",
        ),
        (
            ('dataset = "dvs-synth"  #', 'dataset = "digits"  #'),
            "table5.dataset: 'digits' is not an event",
        ),
        (("dlg = 30", "dlg = 0"), "table4.iterations.dlg must be at least 1"),
        (("dlg = 30", 'dlg = "many"'), "table4.iterations.dlg must be a int"),
        (("thresholds = [0.1", "thresholds = [1.5"), "table5.thresholds must be values in (0, 1)"),
        (("[figures]", "[figures"), "not valid TOML"),
    ],
)
def test_a_bad_preset_is_one_clear_error(tmp_path, edit, message):
    text = preset_text("quick")
    assert edit[0] in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_preset(str(path))
    with pytest.raises(ConfigError, match="no preset 'nope'"):
        load_preset("nope")


def test_table_renderers():
    t = Table(
        "t",
        "A 100% caption",
        ("Name", "ASR (%)", "n"),
        (("a_b", Stat(50.0, 25.0, 75.0), 3),),
        ("note",),
    )
    assert "| a_b | 50.00 [25.00, 75.00] | 3 |" in to_markdown(t) and "- note" in to_markdown(t)
    assert to_csv(t).splitlines() == [
        "Name,ASR (%),ASR (%) CI low,ASR (%) CI high,ASR (%) non-finite left out,n",
        "a_b,50.0,25.0,75.0,0,3",
    ]
    # a mean that left non-finite values out says how many
    assert Stat.of([1.0, float("inf"), 3.0]) == Stat(2.0, 1.0, 3.0, 1)
    assert "2.00 [1.00, 3.00] (1 non-finite left out)" in to_markdown(
        Table("t", "c", ("x",), ((Stat(2.0, 1.0, 3.0, 1),),))
    )
    tex = to_latex(t)
    assert r"A 100\% caption" in tex and r"a\_b & 50.00 {[}25.00, 75.00{]} & 3 \\" in tex


def test_table5_pairs_both_algorithms_per_threshold(tmp_path):
    preset = load_preset("quick")
    cells = planning.table5_cells(preset, "fused")
    chosen = {c: [0, 1] for c in cells}
    by_key = {}
    for cell in cells:
        for spec in cell.specs():
            for i in (0, 1):
                by_key[trial_key(spec, i, 0)] = {
                    "sample_index": i,
                    "true_label": 1,
                    "judge_truth_label": 1,
                    "success": (i == 0) == (spec.settings.threshold.mode == "post"),
                    "l2": 10.0 * spec.settings.threshold.level,
                }
    from snnleak import data

    info = data.load("dvs-synth", "test").info
    t = table5(cells, chosen, 0, by_key, info)
    optimisers = 1 + (preset.optimiser_of("snn", preset.table5.dataset) != Optimiser())
    assert len(t.rows) == 2 * len(preset.table5.thresholds) * optimisers  # DLG, iDLG
    col = {c: i for i, c in enumerate(t.columns)}
    first = t.rows[0]
    assert first[col["Threshold"]] == 0.1 and first[col["Attack"]] == "DLG"
    assert first[col["Post ASR (%)"]].mean == 50 and first[col["In ASR (%)"]].mean == 50
    assert first[col["Post l2"]].mean == pytest.approx(1.0)
    assert first[col["Paper post ASR (%)"]] == 9.41  # the paper's number beside ours
    assert any("dvs-synth" in n and "DVS128 Gesture" in n for n in t.notes)
    png = threshold_sweep(tmp_path / "fig5.png", t, "dvs-synth*", 100 / 6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_writes_records_tables_figures_and_a_manifest(judges, full):
    out, result = full
    assert result.new_records == result.records == 12  # 3 attacks x 2 models x 2 items
    (t4,) = result.tables
    assert [r[0] for r in t4.rows] == ["DLG", "DLG", "iDLG", "iDLG", "GRNN", "GRNN"] + [
        leakage.LABEL_ONLY,
        leakage.ORACLE,
    ] * 2  # the prior baselines of each model's items
    col = {c: i for i, c in enumerate(t4.columns)}
    for row in t4.rows[:6]:  # every attack row is identified against the 4 x 3 digits
        assert 0 <= row[col["Top-1 id (%)"]].mean <= row[col["Top-5 id (%)"]].mean <= 100
        assert row[col["Chance top-1/top-5 (%)"]] == f"{100 / 1438:.2g} / {500 / 1438:.2g}"
    oracle, label_only = t4.rows[7], t4.rows[6]
    assert oracle[col["SSIM"]].mean >= label_only[col["SSIM"]].mean
    for ext in ("md", "csv", "tex"):
        assert (out / "tables" / f"table4.{ext}").exists()
    manifest = (out / "manifest.json").read_text()
    assert '"seed": 0' in manifest and '"torch"' in manifest
    again = reproduce(Run("fig4", tiny(), out, cache_dir=judges, workers=1))
    assert again.new_records == 0  # the figure reuses the recorded trials
    assert (out / "figures" / "fig4.png").read_bytes()[:4] == b"\x89PNG"


def test_tables_only_rebuilds_the_tables_from_copied_records_and_runs_nothing(tmp_path, full):
    import shutil

    out, result = full
    copy = tmp_path / "copy"  # what a reader has: the records and arrays, no judge, no cache
    shutil.copytree(out, copy)
    again = reproduce(Run("table4", tiny(), copy, cache_dir=tmp_path / "empty", tables_only=True))
    assert again.new_records == 0 and not (tmp_path / "empty").exists()
    assert to_markdown(again.tables[0]) == to_markdown(result.tables[0])
    lines = (copy / "records.jsonl").read_text().splitlines(keepends=True)
    (copy / "records.jsonl").write_text("".join(lines[1:]))
    with pytest.raises(ConfigError, match=r"--tables-only: 1 of the 12 trials of table4 .* not in"):
        reproduce(Run("table4", tiny(), copy, tables_only=True))
    with pytest.raises(ConfigError, match="defenses chooses or trains as it goes"):
        reproduce(Run("defenses", tiny(), copy, tables_only=True))


def test_an_interrupted_run_resumes_without_duplicates(tmp_path, judges, full):
    seen = []

    def stop_after_five(record):
        seen.append(record)
        if len(seen) == 5:
            raise KeyboardInterrupt

    run = Run("table4", tiny(), tmp_path, cache_dir=judges, workers=2)
    with pytest.raises(KeyboardInterrupt):
        reproduce(run, on_record=stop_after_five)
    assert len(read_records(tmp_path / "records.jsonl")) == 5
    resumed = reproduce(run)
    assert resumed.new_records == 7
    keys = [record_key(r) for r in read_records(tmp_path / "records.jsonl")]
    assert len(keys) == len(set(keys)) == 12
    assert to_markdown(resumed.tables[0]) == to_markdown(full[1].tables[0])
    assert _records(tmp_path) == _records(full[0])  # a pool of 2 == one after another


def test_ray_gives_the_same_records_as_local(tmp_path, judges, full):
    pytest.importorskip("ray", reason="the dev set-up installs snnleak[ray]")
    result = reproduce(Run("table4", tiny(), tmp_path, cache_dir=judges, executor="ray", workers=2))
    assert result.new_records == 12
    assert _records(tmp_path) == _records(full[0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["table4", "--preset", "nope"], "error: no preset 'nope'"),
        (["table4", "--workers", "0"], "error: --workers must be at least 1"),
        (["adaptive", "--samples", "0"], "error: --samples must be at least 1"),
        (["table4", "--address", "10.0.0.1:6379"], "error: --address applies to --executor ray"),
        (["table4", "--backend", "gpu"], "error: Invalid value for '--backend': 'gpu'"),
        (
            ["all", "--preset", "paper"],
            "error: preset 'paper' reads mnist, cifar100, lfw, dvsgesture from disk",
        ),
    ],
)
def test_bad_reproduce_input_is_one_clear_line(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["reproduce", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(message), result.output
    assert not (tmp_path / "records.jsonl").exists()


def test_reproduce_table6_from_the_command_line(tmp_path):
    result = CliRunner().invoke(cli, ["reproduce", "table6", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Table VI" in result.output and "| Intra-class | 48 |" in result.output
    assert "stands in for DVS128 Gesture" in result.output
    assert (tmp_path / "tables" / "table6.csv").exists()


def test_ctrl_c_says_how_to_resume(tmp_path, monkeypatch):
    import snnleak.reproduce

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(snnleak.reproduce, "reproduce", interrupted)
    result = CliRunner().invoke(cli, ["reproduce", "table4", "--out", str(tmp_path)])
    assert result.exit_code == 130
    assert "interrupted: 0 trials recorded" in result.output
    assert "rerun the same command to resume" in result.output


def test_auto_trials_together_for_the_device_and_the_manifest_keeps_auto(tmp_path, judges):
    import json

    reproduce(Run("table4", tiny(batch_trials="auto"), tmp_path, cache_dir=judges, workers=1))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["preset"]["table4"]["batch_trials"] == "auto"
    records = read_records(tmp_path / "records.jsonl")
    assert {r["batch_trials"] for r in records} == {2}  # 16 on this CPU, at most the 2 items
