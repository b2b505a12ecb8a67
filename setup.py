"""Build entry point: metadata lives in pyproject.toml; this file builds the fused extension and
ships its sources inside the package.

``pip install --no-build-isolation -e .`` (what the Makefile runs) compiles ``csrc/`` ahead of
time into ``snnleak/_C*.so`` against the torch already installed, and writes ``_C.key`` beside
it: the hash of the sources it was built from, so that a stale library is never loaded (the
loader JIT-builds instead). The CUDA kernels are included when ``SNNLEAK_FUSED_CUDA=1`` or when
a GPU and a CUDA toolkit are both present. Without torch at build time (an isolated build), no
extension is built and the first use JIT-builds it.

Every build (wheel, sdist install, editable) also copies ``csrc/`` into the built package as
``snnleak/_csrc``: an installed snnleak can JIT-build the library for another torch from it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithSources(build_py):
    """build_py, plus csrc/ copied into the built package (``snnleak/_csrc``)."""

    def run(self):
        super().run()
        import shutil

        target = Path(self.build_lib) / "snnleak" / "_csrc"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(HERE / "csrc", target, ignore=shutil.ignore_patterns("test"))


def fused_extension():
    if os.environ.get("SNNLEAK_SKIP_EXTENSION") == "1":
        return {"cmdclass": {"build_py": BuildPyWithSources}}
    try:
        from torch.utils import cpp_extension
    except ImportError:
        print(
            "snnleak: torch is not importable at build time; the fused library will be "
            "JIT-built on first use",
            file=sys.stderr,
        )
        return {"cmdclass": {"build_py": BuildPyWithSources}}
    sys.path.insert(0, str(HERE))
    from snnleak.fused import build  # the one list of sources and flags

    cuda = build.want_cuda()
    key = build.source_key(cuda)
    kind = cpp_extension.CUDAExtension if cuda else cpp_extension.CppExtension
    sources = [str(p.relative_to(HERE)) for p in build.sources(cuda)]
    ext = kind(
        "snnleak._C",
        sources=sources,
        include_dirs=[str(HERE / "csrc")],
        extra_compile_args={"cxx": list(build.CFLAGS), "nvcc": list(build.CUDA_CFLAGS)},
        extra_link_args=list(build.LDFLAGS),
    )

    class BuildWithKey(cpp_extension.BuildExtension):
        def run(self):
            super().run()
            for e in self.extensions:
                out = Path(self.get_ext_fullpath(e.name))
                (out.parent / build.AOT_KEY_FILE).write_text(f"{key} {'cuda' if cuda else 'cpu'}\n")

    return {
        "ext_modules": [ext],
        "cmdclass": {"build_ext": BuildWithKey, "build_py": BuildPyWithSources},
    }


setup(**fused_extension())
