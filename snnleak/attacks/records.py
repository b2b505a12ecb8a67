"""``records.jsonl``: one JSON object per trial, appended as each trial finishes.

Each line is written with a single ``write`` on a file opened for appending, then flushed and
fsync'ed, so an interrupted run leaves whole lines only; a torn last line (a crash mid-write) is
ignored on reading. A rerun skips the trials whose key is already recorded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

KEY_FIELDS = ("attack", "model", "backend", "dataset", "sample_index", "seed", "config_id")


def record_key(record: dict) -> tuple:
    return tuple(record[k] for k in KEY_FIELDS)


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line from a crash: that trial reruns
            continue
    return out


def append_record(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
