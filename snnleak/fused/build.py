"""Build and load the fused neuron library from ``csrc/`` with ``torch.utils.cpp_extension``.

Two ways in, one library:

- Ahead of time: a build with torch present (``pip install --no-build-isolation``, or
  ``python -m build --no-isolation``) builds ``snnleak/_C*.so`` (setup.py) and writes beside it
  the key of the sources, flags and torch it was built from.
- Just in time: on first use, ninja builds the same sources into
  ``$SNNLEAK_CACHE_DIR/ext/<key>/`` (default ``~/.cache/snnleak``), where ``<key>`` hashes the
  sources, the compiler flags, torch's version and whether CUDA is included. Later imports find
  the built library there and load it directly (no compiler, no ninja: well under a second).

A library built from other sources is never loaded. If the library cannot be built, asking for
the ``fused`` backend raises :class:`~snnleak.errors.BackendUnavailable` naming what is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from snnleak.errors import BackendUnavailable, first_line
from snnleak.io import cache_root

NAME = "snnleak_fused"
CPU_SOURCES = ("neuron_cpu.cpp", "neuron_autograd.cpp")
CUDA_SOURCES = ("cuda/neuron_cuda.cu",)
HEADERS = ("neuron.h",)
# -fno-trapping-math lets the float compare of the spike be if-converted so the loops
# vectorise; it changes no computed value (no reassociation, no contraction)
CFLAGS = ("-O3", "-fno-trapping-math", "-fopenmp")
LDFLAGS = ("-fopenmp",)  # links libgomp.so.1: the same runtime torch bundles and has loaded
CUDA_CFLAGS = ("-O3",)
AOT_KEY_FILE = "_C.key"


@dataclass(frozen=True)
class FusedLibrary:
    path: Path
    how: str  # "ahead-of-time" or "jit"
    cuda: bool


_loaded: FusedLibrary | None = None


def csrc_dir() -> Path:
    """The C++/CUDA sources: inside the package when snnleak was installed from a wheel or an
    sdist (``snnleak/_csrc``, copied there by setup.py), else the checkout's ``csrc/``."""
    package = Path(__file__).resolve().parents[1]
    shipped = package / "_csrc"
    return shipped if shipped.is_dir() else package.parent / "csrc"


def cache_dir() -> Path:
    return cache_root() / "ext"


def want_cuda() -> bool:
    """Include the CUDA kernels when a GPU and a CUDA toolkit are both here
    (``SNNLEAK_FUSED_CUDA=0/1`` overrides)."""
    forced = os.environ.get("SNNLEAK_FUSED_CUDA")
    if forced is not None:
        return forced == "1"
    import torch

    if not torch.cuda.is_available():
        return False
    from torch.utils import cpp_extension  # imported only here: it logs when it finds no GPU

    return cpp_extension.CUDA_HOME is not None


def sources(cuda: bool) -> list[Path]:
    root = csrc_dir()
    names = CPU_SOURCES + (CUDA_SOURCES if cuda else ())
    paths = [root / n for n in names]
    missing = [str(p) for p in paths + [root / h for h in HEADERS] if not p.exists()]
    if missing:
        raise BackendUnavailable(
            f"backend 'fused' needs the C++ sources, but {', '.join(missing)} is missing; "
            "reinstall snnleak from its wheel or sdist, or from a source checkout"
        )
    return paths


def source_key(cuda: bool) -> str:
    """Hash of everything that determines the built library."""
    import torch

    h = hashlib.sha256()
    for path in sorted(sources(cuda) + [csrc_dir() / n for n in HEADERS]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    flags = (CFLAGS, LDFLAGS, CUDA_CFLAGS if cuda else (), cuda)
    h.update(repr((flags, torch.__version__, sysconfig.get_config_var("SOABI"))).encode())
    return h.hexdigest()[:16]


def _aot_library(cuda: bool) -> Path | None:
    """The library setup.py built, if it was built from the current sources."""
    import importlib.util

    spec = importlib.util.find_spec("snnleak._C")  # located, never imported as a module
    if spec is None or spec.origin is None:
        return None
    lib = Path(spec.origin)
    key_file = lib.parent / AOT_KEY_FILE
    if not key_file.exists():
        return None
    built_key, built_for = key_file.read_text().split()
    if built_key != source_key(built_for == "cuda") or (cuda and built_for != "cuda"):
        return None
    return lib


def _check_toolchain() -> None:
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise BackendUnavailable(
            f"backend 'fused' must compile csrc/ but finds no C++ compiler ({compiler!r}); "
            "install g++ (apt-get install g++) or set CXX"
        )
    if not cpp_extension.is_ninja_available():
        raise BackendUnavailable(
            "backend 'fused' must compile csrc/ but ninja is missing; pip install ninja"
        )


def _jit_library(cuda: bool) -> Path:
    return cache_dir() / source_key(cuda) / f"{NAME}.so"


def jit_build(cuda: bool, verbose: bool = False) -> Path:
    """Build into the keyed cache directory (no-op when already built); return the library."""
    lib = _jit_library(cuda)
    if lib.exists():
        return lib
    _check_toolchain()
    from torch.utils import cpp_extension

    lib.parent.mkdir(parents=True, exist_ok=True)
    try:
        cpp_extension.load(
            name=NAME,
            sources=[str(p) for p in sources(cuda)],
            extra_cflags=list(CFLAGS),
            extra_ldflags=list(LDFLAGS),
            extra_cuda_cflags=list(CUDA_CFLAGS),
            extra_include_paths=[str(csrc_dir())],
            build_directory=str(lib.parent),
            with_cuda=cuda,
            is_python_module=False,
            verbose=verbose,
        )
    except Exception as exc:
        raise BackendUnavailable(
            f"backend 'fused' failed to build csrc/ in {lib.parent} ({first_line(exc)}); "
            "rerun with SNNLEAK_VERBOSE_BUILD=1 to see the compiler output"
        ) from exc
    return lib


def locate(cuda: bool) -> FusedLibrary | None:
    """The already-built library for the current sources, if any (builds nothing)."""
    aot = _aot_library(cuda)
    if aot is not None:
        built_for = (aot.parent / AOT_KEY_FILE).read_text().split()[1]
        return FusedLibrary(aot, "ahead-of-time", built_for == "cuda")
    lib = _jit_library(cuda)
    return FusedLibrary(lib, "jit", cuda) if lib.exists() else None


def load() -> FusedLibrary:
    """Load the fused library once per process (building it first if needed)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    import torch

    cuda = want_cuda()
    lib = locate(cuda)
    if lib is None:
        verbose = os.environ.get("SNNLEAK_VERBOSE_BUILD") == "1"
        lib = FusedLibrary(jit_build(cuda, verbose=verbose), "jit", cuda)
    if str(lib.path) not in torch.ops.loaded_libraries:
        torch.ops.load_library(str(lib.path))
    from snnleak.fused import ops

    ops.register()
    _loaded = lib
    return lib


def status() -> dict[str, object]:
    """What ``snnleak info`` reports, without building: built or not, where, for which
    devices, or why it cannot be."""
    try:
        lib = _loaded or locate(want_cuda())
        if lib is None:
            _check_toolchain()
            sources(want_cuda())
            return {
                "built": False,
                "reason": "not built yet: compiled on first use (or run 'snnleak build-fused')",
            }
    except BackendUnavailable as exc:
        return {"built": False, "reason": str(exc)}
    devices = ["cpu", "cuda"] if lib.cuda else ["cpu"]
    return {"built": True, "path": str(lib.path), "how": lib.how, "devices": devices}
