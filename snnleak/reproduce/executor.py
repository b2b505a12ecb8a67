"""Run units on this machine (a process pool) or on a Ray cluster; hand back each as it finishes.

Every unit runs with one torch thread wherever it runs, so a unit's records do not depend on the
executor or on how many units run beside it: the same seeds give the same records on either.
Workers load each dataset split and judge once (the judges are trained beforehand by the caller)
and return the finished trials; only the caller writes files. On Ctrl-C the workers are stopped
at once and the caller's ``KeyboardInterrupt`` propagates: what was recorded stays recorded.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from snnleak.errors import ConfigError

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Task:
    """What a worker needs: a unit and where the data and judges are."""

    unit: object  # snnleak.reproduce.plan.Unit
    data_root: Path | None
    cache_dir: Path | None


_CACHE: dict[tuple, object] = {}


def _resources(dataset: str, split_name: str, data_root: Path | None, cache_dir: Path | None):
    from snnleak import data
    from snnleak.judges import load_judge

    key = (dataset, split_name, data_root, cache_dir)
    if key not in _CACHE:
        split = data.load(dataset, split_name, root=data_root, seed=0)
        judge = load_judge(
            dataset, data_root=data_root, cache_dir=cache_dir, train_if_missing=False
        ).model
        _CACHE[key] = (split, judge)
    return _CACHE[key]


def run_task(task: Task) -> tuple[object, list]:
    """Run one unit with one torch thread; returns ``(unit, trials)``."""
    import torch

    from snnleak.attacks.runner import run_unit

    unit = task.unit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = unit.cell.spec
        split, judge = _resources(spec.dataset, spec.split, task.data_root, task.cache_dir)
        trials = run_unit(
            unit.cell.spec,
            split,
            unit.indices,
            unit.seed,
            judge=judge,
            post_thresholds=unit.cell.post_thresholds,
        )
    finally:
        torch.set_num_threads(threads)
    return unit, trials


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us


def _local(tasks: Sequence[Task], workers: int) -> Iterator[tuple[object, list]]:
    if workers == 1 or len(tasks) <= 1:  # in this process: no pool to start
        for task in tasks:
            yield run_task(task)
        return
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), _init_worker)
    try:
        yield from pool.imap_unordered(run_task, tasks, chunksize=1)
        pool.close()
        pool.join()
    finally:
        pool.terminate()


def _ray(tasks: Sequence[Task], workers: int, address: str | None) -> Iterator[tuple]:
    import ray

    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        else:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                logging_level="WARNING",
                log_to_driver=False,
            )
    remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
    pending = [remote.remote(task) for task in tasks]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def check_executor(executor: str, workers: int | None, address: str | None) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if address and executor != "ray":
        raise ConfigError("--address applies to --executor ray")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "--executor ray needs Ray; install it with: pip install 'snnleak[ray]'"
            ) from exc


def execute(
    tasks: Sequence[Task],
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
) -> Iterator[tuple[object, list]]:
    """Yield ``(unit, trials)`` for every task, in the order they finish."""
    check_executor(executor, workers, address)
    workers = workers or os.cpu_count() or 1
    if executor == "ray":
        return _ray(tasks, workers, address)
    return _local(tasks, workers)
