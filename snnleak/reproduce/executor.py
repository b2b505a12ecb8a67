"""Run units on this machine (a process pool) or on a Ray cluster; hand back each as it finishes.

Every unit runs with one torch thread wherever it runs, so a unit's records do not depend on the
executor or on how many units run beside it: the same seeds give the same records on either.
On GPUs, ``--device cuda`` runs one local worker per GPU (each pinned to its own card), and Ray
gives each task one GPU (``num_gpus=1``); ``cuda:N`` runs every unit on that one card.
Workers load each dataset split and judge once (the judges are trained beforehand by the caller)
and return the finished trials; only the caller writes files. On Ctrl-C the workers are stopped
at once and the caller's ``KeyboardInterrupt`` propagates: what was recorded stays recorded.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from snnleak.attacks.config import PUBLIC_DATA_ATTACKS
from snnleak.device import CudaOptions
from snnleak.errors import ConfigError

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Task:
    """What a worker needs: a unit and where the data and judges are."""

    unit: object  # snnleak.reproduce.plan.Unit
    data_root: Path | None
    cache_dir: Path | None
    device: str = "cpu"  # as asked: auto, cpu, cuda or cuda:N (a pool worker may pin its GPU)
    cuda: CudaOptions = field(default_factory=CudaOptions)  # how CUDA computes, as asked


_CACHE: dict[tuple, object] = {}
_WORKER_GPU: str | None = None  # set in a pool worker that owns one GPU


def gpu_plan(device: str) -> list[str]:
    """The GPUs that get a worker each: every GPU for ``cuda`` (and ``auto`` on a GPU
    machine), the one named by ``cuda:N``, none on the CPU."""
    import torch

    from snnleak.device import resolve

    resolved = resolve(device)
    if resolved.type != "cuda":
        return []
    if device.strip().lower() in ("cuda", "auto"):
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(resolved)]


def devices_of(device: str) -> dict:
    """What a manifest says: the device asked for, and each device's hardware."""
    import torch

    from snnleak.device import name, resolve

    gpus = gpu_plan(device)
    used = gpus or [str(resolve(device))]
    return {"device": device, "devices": {d: name(torch.device(d)) for d in used}}


def _resources(dataset: str, split_name: str, task: Task, device):
    """The victims' split, the attacker's public split (the learned attacks; else None), the
    judge and the evaluation's reference, each loaded once per worker."""
    from snnleak import data
    from snnleak.judges import load_judge
    from snnleak.trials.runner import reference_of

    key = (dataset, split_name, task.data_root, task.cache_dir, str(device))
    if key not in _CACHE:
        split = data.load(dataset, split_name, root=task.data_root, seed=0)
        judge = load_judge(
            dataset,
            data_root=task.data_root,
            cache_dir=task.cache_dir,
            train_if_missing=False,
            device=device,
        ).model
        reference = reference_of(dataset, split, task.data_root)
        _CACHE[key] = (split, judge, reference)
    split, judge, reference = _CACHE[key]
    public = None
    if task.unit.cell.spec.attack in PUBLIC_DATA_ATTACKS:
        from snnleak.attacks.factory import public_of

        spec = task.unit.cell.spec
        public_key = ("public", dataset, split_name, spec.rehearsal, task.data_root)
        if public_key not in _CACHE:
            _CACHE[public_key] = public_of(spec, task.data_root)
        public = _CACHE[public_key]
    return split, public, judge, reference


def decoder_cache(cache_dir: Path | None) -> Path:
    """Where a run's learned attacks keep their decoder fits: ``decoders/`` of its cache."""
    from snnleak.io import cache_root

    return Path(cache_dir or cache_root()) / "decoders"


def run_task(task: Task) -> tuple[object, list]:
    """Run one unit with one torch thread; returns ``(unit, trials)``."""
    import torch

    from snnleak.device import resolve, using
    from snnleak.hostmem import keep_freed_memory
    from snnleak.trials.runner import run_unit

    keep_freed_memory()  # a pool or Ray worker is a process of its own
    unit = task.unit
    device = resolve(_WORKER_GPU or task.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with using(task.cuda):
            spec = unit.cell.spec
            split, public, judge, reference = _resources(spec.dataset, spec.split, task, device)
            trials = run_unit(
                unit.cell.spec,
                split,
                unit.indices,
                unit.seed,
                judge=judge,
                post_thresholds=unit.cell.post_thresholds,
                device=device,
                public=public,
                reference=reference,
                decoder_cache=decoder_cache(task.cache_dir),
            )
    finally:
        torch.set_num_threads(threads)
    return unit, trials


def _init_worker(gpus: list[str] | None = None, counter=None) -> None:
    """A pool worker: ignore Ctrl-C (the parent stops us); take the next GPU, if any."""
    global _WORKER_GPU
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpus:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        _WORKER_GPU = gpus[index % len(gpus)]


def _local(tasks: Sequence[Task], workers: int, gpus: list[str]) -> Iterator[tuple[object, list]]:
    if workers == 1 or len(tasks) <= 1:  # in this process: no pool to start
        for task in tasks:
            yield run_task(task)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    init_args = (gpus, ctx.Value("i", 0)) if gpus else ()
    pool = ctx.Pool(min(workers, len(tasks)), _init_worker, init_args)
    try:
        yield from pool.imap_unordered(run_task, tasks, chunksize=1)
        pool.close()
        pool.join()
    finally:
        pool.terminate()


def _ray(
    tasks: Sequence[Task], workers: int, address: str | None, gpus: list[str]
) -> Iterator[tuple]:
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
    # a GPU task sees only its GPU (Ray sets CUDA_VISIBLE_DEVICES): it runs on cuda:0
    remote = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=0)(run_task)
    if gpus:
        tasks = [replace(t, device="cuda:0") for t in tasks]
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
    """Yield ``(unit, trials)`` for every task, in the order they finish: on the CPU one
    worker per core, on GPUs one per GPU (unless ``workers`` says otherwise)."""
    check_executor(executor, workers, address)
    gpus = gpu_plan(tasks[0].device) if tasks else []
    workers = workers or len(gpus) or os.cpu_count() or 1
    if executor == "ray":
        return _ray(tasks, workers, address, gpus)
    return _local(tasks, workers, gpus)
