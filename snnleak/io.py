"""Result files and run folders.

Files are written atomically (a temporary file in the same folder, then a rename), so a reader or
an interrupted run never sees half a file; they get the permissions the umask allows, like any
file the user creates. A run folder is claimed (:func:`claim_folder`) before any compute: it
must be a writable folder, and one run at a time holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from snnleak.errors import SnnleakError

LOCK_NAME = ".snnleak.lock"
PID_NAME = ".snnleak.pid"


_HELD: set[Path] = set()


class FolderError(SnnleakError, OSError):
    """An output folder cannot be used: not a folder, not writable, or in use by another run."""


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a result file follows the umask
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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def claim_folder(folder: Path, option: str = "--out") -> Iterator[Path]:
    """Hold ``folder`` for one run: create it, check that it is writable, and lock it.

    Fails at once, in one line, when ``folder`` is a file, cannot be created or written, or
    another live process holds it (naming that process). The lock is ``filelock``'s ``flock``: a
    lock left by a process that died is free again, so it is taken over."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    if folder.resolve() in _HELD:  # this process holds it already (a command around a library call)
        yield folder
        return
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{option} {folder} is a file, not a folder; pass a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        cause = exc.strerror or type(exc).__name__
        raise FolderError(
            f"cannot write to {option} {folder} ({cause}); pass a folder you can write to"
        ) from exc
    lock = FileLock(folder / LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        pid_file = folder / PID_NAME
        holder = pid_file.read_text().strip() if pid_file.exists() else "unknown"
        raise FolderError(
            f"{option} {folder} is in use by another snnleak run (pid {holder}); wait for it "
            f"to finish, or pass another {option}"
        ) from None
    held = folder.resolve()
    _HELD.add(held)
    try:
        (folder / PID_NAME).write_text(f"{os.getpid()}\n")
        yield folder
    finally:
        _HELD.discard(held)
        lock.release()
