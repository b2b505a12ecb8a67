"""Freed host memory stays in the process (snnleak.hostmem): measured in page faults."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest
from click.testing import CliRunner

from snnleak.cli import cli
from snnleak.hostmem import keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Run in a fresh process, so that the allocator starts from its defaults. A block of 24 MiB,
# above glibc's initial mmap threshold (128 KiB): where it lies ([heap] or a mapping of its
# own), and then an evaluation's pattern in small (a mapped block, then many megabyte maps,
# all freed at the end): the page faults of each round.
PROBE = """
import json, resource, sys, torch
torch.set_num_threads(1)  # as a worker runs
if sys.argv[1] == "keep":
    from snnleak.hostmem import keep_freed_memory
    assert keep_freed_memory()
def in_heap(ptr):
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            lo, hi = (int(a, 16) for a in line.split()[0].split("-"))
            if lo <= ptr < hi:
                return True
    return False
block = torch.empty(6 << 20)
heap = in_heap(block.data_ptr())
del block
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds = []
for _ in range(8):
    start = faults()
    x = torch.ones(2 << 20)
    del x
    xs = [torch.ones(1 << 18) for _ in range(24)]
    del xs
    rounds.append(faults() - start)
print(json.dumps({"heap": heap, "faults": rounds}))
"""


def _probe(mode: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_freed_maps_are_reused_without_page_faults():
    kept, default = _probe("keep"), _probe("default")
    # by default a block of megabytes is a mapping of its own, unmapped when freed ...
    assert not default["heap"]
    # ... kept, it comes from the heap, and the round's 28 MiB, once the heap has grown, are
    # reused as they are (by default glibc often, not always, returns them: ~4,000 faults)
    assert kept["heap"]
    assert sum(kept["faults"][5:]) < 100


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc's")
def test_every_command_keeps_freed_memory():
    keep_freed_memory.cache_clear()
    result = CliRunner().invoke(cli, ["presets"])
    assert result.exit_code == 0, result.output
    assert keep_freed_memory.cache_info().currsize == 1  # the group applied it, once


def test_keep_freed_memory_says_whether_it_applied():
    assert keep_freed_memory() is GLIBC
    assert keep_freed_memory() is GLIBC  # idempotent
