"""``records.jsonl``: the record schema, the trial key, and the crash-safe log of a run.

One JSON object per line, one line per trial, appended as each trial finishes. The log keeps
these promises (each pinned by a fault-injection test):

- **No torn or glued line.** A line is appended with ``os.write`` calls until every byte is out,
  then fsync'ed. If a write fails (ENOSPC, EIO, a short write followed by an error), the file is
  truncated back to its last complete line and :class:`RecordWriteError` names the file and the
  cause; the command stops with that one line.
- **A torn last line** (a crash mid-write, ``kill -9``) is reported in one line when the log is
  opened, and cut off, so the next record starts on a line of its own; its trial runs again.
- **A line that is not a record** (not UTF-8, not JSON, not an object, or missing fields of
  :data:`KEY_FIELDS`) is reported with its line number and skipped: it stays in the file for
  you to inspect, and the trial it may have meant runs again. It never stops a run.

The trial key is built here and only here, from :data:`KEY_FIELDS`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from snnleak.errors import SnnleakError
from snnleak.models.plugin import is_plugin

if TYPE_CHECKING:
    from snnleak.attacks.config import AttackSpec

KEY_FIELDS = ("attack", "model", "backend", "dataset", "sample_index", "seed", "config_id")
# every field a trial's record carries (besides KEY_FIELDS); tests hold records to it
RECORD_FIELDS = (
    *KEY_FIELDS,
    "synthetic",
    "split",
    "broadcast",
    "true_label",
    "recovered_label",
    "label_correct",
    "mse",
    "l2",
    "psnr",
    "ssim",
    "judge_label",
    "judge_truth_label",
    "success",
    "best_iterate",
    "identification",
    "prior",
    "relative_mismatch",
    "defense",
    "privacy",
    "loss_initial",
    "loss_final",
    "loss_min",
    "loss_ratio",
    "loss_every",
    "loss_trajectory",
    "stalled",
    "diverged",
    "nonfinite",
    "steps",
    "seconds",
    "batch_trials",
    "shared_thresholds",
    "config",
    "versions",
    "device",
    "device_name",
)


class RecordWriteError(SnnleakError, OSError):
    """A record could not be appended (disk full, I/O error); nothing partial was left."""


def key_of(fields: dict) -> tuple:
    """The trial key: the values of :data:`KEY_FIELDS`, in that order."""
    return tuple(fields[k] for k in KEY_FIELDS)


def record_key(record: dict) -> tuple:
    return key_of(record)


def trial_key(spec: AttackSpec, index: int, seed: int) -> tuple:
    """The key that the record of ``spec``'s trial on item ``index`` with ``seed`` will have."""
    fields = {
        "attack": spec.attack,
        "model": spec.model,
        "backend": None if is_plugin(spec.model) else spec.victim.backend,  # a plug-in's is its own
        "dataset": spec.dataset,
        "sample_index": index,
        "seed": seed,
        "config_id": spec.config_id(),
    }
    return key_of(fields)


def _problem(raw: bytes) -> tuple[dict | None, str]:
    """``(record, "")`` for a valid line, else ``(None, what is wrong with it)``."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg})"
    if not isinstance(value, dict):
        return None, f"a JSON {type(value).__name__}, not a record"
    missing = [k for k in KEY_FIELDS if k not in value]
    if missing:
        return None, f"missing field(s) {', '.join(missing)}"
    try:
        hash(key_of(value))
    except TypeError:
        return None, "a key field is not a plain value"
    return value, ""


def scan(path: Path) -> Iterator[tuple[int, dict | None, str, bool]]:
    """``(line number, record or None, problem, is a torn last line)`` for each line."""
    blob = path.read_bytes() if path.exists() else b""
    lines = blob.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline, as a whole file does
    for n, raw in enumerate(lines, start=1):
        if raw.strip():
            record, problem = _problem(raw)
            yield n, record, problem, False
    if torn:
        yield len(lines) + 1, None, "incomplete (an interrupted write)", True


def read_records(path: Path) -> list[dict]:
    """The valid records of ``path``, in file order (malformed lines skipped)."""
    return [r for _, r, _, _ in scan(path) if r is not None]


class RecordLog:
    """The records of one run, read once and appended to safely (see the module docstring).

    Open it only while holding the run folder (:func:`snnleak.io.claim_folder`): it cuts a torn
    last line off the file."""

    def __init__(self, path: Path, warn: Callable[[str], None] = print) -> None:
        self.path = Path(path)
        self.by_key: dict[tuple, dict] = {}
        for n, record, problem, torn in scan(self.path):
            if record is not None:
                self.by_key.setdefault(key_of(record), record)
                continue
            if torn:
                self._cut_torn_tail()
                warn(f"{self.path} line {n} is {problem}: cut off; its trial runs again")
            else:
                warn(f"{self.path} line {n} is {problem}: skipped (left in the file)")

    def _cut_torn_tail(self) -> None:
        blob = self.path.read_bytes()
        with open(self.path, "r+b") as f:
            f.truncate(blob.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())

    def __contains__(self, key: tuple) -> bool:
        return key in self.by_key

    def __len__(self) -> int:
        return len(self.by_key)

    def get(self, key: tuple) -> dict | None:
        return self.by_key.get(key)

    def append(self, record: dict) -> None:
        """Append ``record`` as one whole line, or raise :class:`RecordWriteError` leaving the
        file as it was."""
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RecordWriteError(f"cannot open {self.path}: {_cause(exc)}") from exc
        try:
            size = os.fstat(fd).st_size
            try:
                rest = memoryview(line)
                while rest:
                    written = os.write(fd, rest)
                    if written <= 0:
                        raise OSError(28, "no space left on device (a write of 0 bytes)")
                    rest = rest[written:]
                os.fsync(fd)
            except OSError as exc:
                # never leave a torn line for the next record to join; if even this fails, the
                # next open reports the torn line and cuts it off
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise RecordWriteError(
                    f"could not append a record to {self.path}: {_cause(exc)}; "
                    "the file keeps every complete record: fix the cause and rerun to resume"
                ) from exc
        finally:
            os.close(fd)
        self.by_key[key_of(record)] = record


def _cause(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
