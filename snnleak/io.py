"""Result files: written atomically (a temporary file in the same folder, then a rename), so a
reader or an interrupted run never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """``$SNNLEAK_CACHE_DIR``, or ``~/.cache/snnleak``: built extensions, generated data,
    judge checkpoints."""
    return Path(os.environ.get("SNNLEAK_CACHE_DIR") or Path.home() / ".cache" / "snnleak")


def write_atomic(path: Path, write) -> Path:
    """Write ``path`` atomically with ``write(binary_file)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, data: object) -> Path:
    text = json.dumps(data, indent=2) + "\n"
    return write_atomic(path, lambda f: f.write(text.encode()))


def save_atomic(obj: object, path: Path) -> Path:
    """``torch.save`` to ``path`` atomically."""
    import torch

    return write_atomic(path, lambda f: torch.save(obj, f))
