"""Fault injection against the one resumable loop: a short write, ENOSPC, EIO, a torn last line,
garbage lines, two runs on one folder, a kill between outputs and record, an unusable --out,
Ctrl-C, and the umask. Each fault is injected, never simulated by skipping the code."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
from click.testing import CliRunner

from snnleak.attacks import spec_of
from snnleak.cli import cli
from snnleak.io import FolderError, claim_folder
from snnleak.trials.outputs import ReconstructionFiles
from snnleak.trials.records import RecordLog, RecordWriteError, read_records, record_key
from snnleak.trials.runner import run_trials

VOLATILE = ("seconds",)
SPEC = spec_of("idlg", "ann", "digits", iterations=2)


def _record(i: int) -> dict:
    return {
        "attack": "dlg",
        "model": "ann",
        "backend": "fused",
        "dataset": "digits",
        "sample_index": i,
        "seed": 0,
        "config_id": "abc",
    }


def _records_of(path):
    return sorted(
        ({k: v for k, v in r.items() if k not in VOLATILE} for r in read_records(path)),
        key=record_key,
    )


@pytest.fixture
def failing_write(monkeypatch):
    """``os.write`` on records.jsonl writes ``first`` bytes, then fails with ``error``."""
    real = os.write

    def install(error: int, first: int):
        calls = []

        def write(fd, data):
            if not os.readlink(f"/proc/self/fd/{fd}").endswith("records.jsonl"):
                return real(fd, data)
            calls.append(len(data))
            if len(calls) == 1 and first:
                return real(fd, bytes(data[:first]))  # a short write
            raise OSError(error, os.strerror(error))

        monkeypatch.setattr(os, "write", write)
        return calls

    return install


@pytest.mark.parametrize(
    ("error", "first"), [(errno.ENOSPC, 7), (errno.ENOSPC, 0), (errno.EIO, 0), (errno.EIO, 3)]
)
def test_a_failed_append_leaves_no_torn_or_glued_line(tmp_path, failing_write, error, first):
    path = tmp_path / "records.jsonl"
    log = RecordLog(path)
    log.append(_record(0))
    before = path.read_bytes()
    failing_write(error, first)
    with pytest.raises(RecordWriteError) as info:
        log.append(_record(1))
    message = str(info.value)
    assert str(path) in message and os.strerror(error) in message and "\n" not in message
    assert path.read_bytes() == before  # truncated back to the last whole line


def test_a_short_write_that_goes_on_writes_the_whole_line(tmp_path, monkeypatch):
    real, path = os.write, tmp_path / "records.jsonl"
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:5])))  # 5 at a time
    RecordLog(path).append(_record(0))
    monkeypatch.undo()
    assert read_records(path) == [_record(0)]


def test_disk_full_during_an_attack_is_one_line_and_nonzero(tmp_path, failing_write, monkeypatch):
    _fast_digits_judge(monkeypatch)
    failing_write(errno.ENOSPC, 10)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, _attack_args(tmp_path, out, samples=2))
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: could not append a record to") and "records.jsonl" in last
    assert "No space left on device" in last
    assert not (out / "records.jsonl").exists() or (out / "records.jsonl").read_bytes() == b""


def test_a_torn_last_line_is_reported_cut_and_rerun(tmp_path):
    full = run_trials(SPEC, 3, 0, tmp_path / "full", judge=None)
    path = tmp_path / "records.jsonl"
    lines = (tmp_path / "full" / "records.jsonl").read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1] + lines[2][: len(lines[2]) // 2])  # killed mid-write
    warnings = []
    again = run_trials(SPEC, 3, 0, tmp_path, judge=None, warn=warnings.append)
    assert len(warnings) == 1 and "line 3 is incomplete" in warnings[0]
    assert "its trial runs again" in warnings[0]
    assert [r["sample_index"] for r in again] == [r["sample_index"] for r in full]
    assert _records_of(path) == _records_of(tmp_path / "full" / "records.jsonl")
    assert all(line.endswith(b"\n") for line in path.read_bytes().splitlines(keepends=True))


@pytest.mark.parametrize(
    ("garbage", "problem"),
    [
        (b"\xff\xfe\x00\x81garbage", "not UTF-8"),
        (b"{}", "missing field(s) attack"),
        (b'{"attack": "dlg", "model": "ann"}', "missing field(s) backend"),
        (b"[1, 2]", "a JSON list, not a record"),
        (b"{not json", "not JSON"),
    ],
)
def test_a_garbage_line_is_reported_with_its_number_and_skipped(tmp_path, garbage, problem):
    first = run_trials(SPEC, 1, 0, tmp_path, judge=None)
    path = tmp_path / "records.jsonl"
    path.write_bytes(path.read_bytes() + garbage + b"\n")
    warnings = []
    records = run_trials(SPEC, 2, 0, tmp_path, judge=None, warn=warnings.append)
    assert len(warnings) == 1 and "line 2 is" in warnings[0] and problem in warnings[0]
    assert "skipped" in warnings[0]
    assert records[0] == first[0] and len(read_records(path)) == 2
    assert garbage in path.read_bytes()  # left in place for the user to inspect


def _holder(folder, *, wait: bool):
    code = textwrap.dedent(
        f"""
        import sys, time
        from snnleak.io import claim_folder
        with claim_folder({str(folder)!r}):
            print("held", flush=True)
            time.sleep(60 if {wait} else 0)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_the_same_folder_refuses_naming_the_pid(tmp_path):
    proc = _holder(tmp_path, wait=True)
    try:
        with (
            pytest.raises(FolderError, match=f"in use by another snnleak run \\(pid {proc.pid}\\)"),
            claim_folder(tmp_path),
        ):
            pass
        result = CliRunner().invoke(cli, _attack_args(tmp_path, tmp_path))
        assert result.exit_code == 2
        (line,) = result.output.strip().splitlines()
        assert line.startswith("error: --out") and f"pid {proc.pid}" in line
        assert not (tmp_path / "cache" / "judges").exists()  # refused before any compute
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    # the holder died without releasing: its lock is taken over
    with claim_folder(tmp_path) as folder:
        assert (folder / ".snnleak.pid").read_text().strip() == str(os.getpid())


def test_outputs_are_written_before_their_record_and_remade_on_resume(tmp_path, monkeypatch):
    outputs = ReconstructionFiles(tmp_path)
    real_append = RecordLog.append

    def append(self, record):
        assert all(p.exists() for p in outputs.paths(None, record)), "record before its PNG"
        real_append(self, record)

    monkeypatch.setattr(RecordLog, "append", append)
    records = run_trials(SPEC, 2, 0, tmp_path, judge=None, outputs=outputs)
    lost = outputs.paths(None, records[1])[0]
    lost.unlink()  # a kill between the record and... or a user's rm: either way it is remade
    again = run_trials(SPEC, 2, 0, tmp_path, judge=None, outputs=outputs)
    assert lost.exists() and lost.read_bytes()[:4] == b"\x89PNG"
    assert again == records and len(read_records(tmp_path / "records.jsonl")) == 2


def test_a_resumed_k_trial_attack_writes_what_an_uninterrupted_one_does(tmp_path):
    spec = SPEC.with_(attack="dlg")
    full = run_trials(spec, 5, 0, tmp_path / "full", judge=None, batch_trials=3)

    class StopAfterOne:
        def __init__(self, total, done):
            self.n = 0

        def update(self, n=1):
            raise KeyboardInterrupt  # Ctrl-C right after the first record of a batch of 3

        def close(self):
            pass

    with pytest.raises(KeyboardInterrupt):
        run_trials(spec, 5, 0, tmp_path / "cut", judge=None, batch_trials=3, bar=StopAfterOne)
    assert len(read_records(tmp_path / "cut" / "records.jsonl")) == 1
    resumed = run_trials(spec, 5, 0, tmp_path / "cut", judge=None, batch_trials=3)
    strip = [{k: v for k, v in r.items() if k not in VOLATILE} for r in resumed]
    assert strip == [{k: v for k, v in r.items() if k not in VOLATILE} for r in full]
    assert all(r["batch_trials"] in (3, 2) for r in resumed)  # the fixed slices 3 + 2


def test_an_out_that_is_a_file_fails_before_any_compute(tmp_path):
    (tmp_path / "taken").write_text("x")
    result = CliRunner().invoke(cli, _attack_args(tmp_path, tmp_path / "taken"))
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: Invalid value for '--out'") and "is a file" in line, line
    assert not (tmp_path / "cache").exists()
    with (
        pytest.raises(FolderError, match="is a file, not a folder; pass a folder"),
        claim_folder(tmp_path / "taken"),
    ):
        pass


def test_an_unwritable_out_fails_before_any_compute(tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits; sysfs refuses even root
        out = "/sys/snnleak-cannot-write-here"
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        out = str(tmp_path / "ro" / "out")
    for command in (
        _attack_args(tmp_path, out),
        ["reproduce", "table4", "--out", out, "--cache-dir", str(tmp_path / "cache")],
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"error: cannot write to --out {out}"), line
        assert not (tmp_path / "cache").exists()


def test_ctrl_c_on_attack_exits_130_and_says_how_to_resume(tmp_path, monkeypatch):
    import snnleak.trials.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(snnleak.trials.runner, "run_trials", interrupted)
    _fast_digits_judge(monkeypatch)
    result = CliRunner().invoke(cli, _attack_args(tmp_path, tmp_path / "out"))
    assert result.exit_code == 130
    assert "interrupted: 0 trials recorded" in result.output
    assert "rerun the same command to resume" in result.output
    assert "Aborted" not in result.output


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        run_trials(SPEC, 1, 0, tmp_path, judge=None, outputs=ReconstructionFiles(tmp_path))
    finally:
        os.umask(old)
    files = [tmp_path / "records.jsonl", *(tmp_path / "reconstructions").iterdir()]
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f


def _fast_digits_judge(monkeypatch):
    from snnleak.judges import registry

    fast = replace(registry.JUDGES["digits"], epochs=1)
    monkeypatch.setitem(registry.JUDGES, "digits", fast)


def _attack_args(tmp_path, out, samples=1):
    return [
        "attack",
        "--attack",
        "idlg",
        "--model",
        "ann",
        "--dataset",
        "digits",
        "--samples",
        str(samples),
        "--iterations",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
