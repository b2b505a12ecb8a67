"""Build entry point.

All metadata lives in pyproject.toml. This file exists so that the fused C++/CUDA extension in
``csrc/`` can be built ahead of time with ``pip install --no-build-isolation -e .`` once that
extension exists; until then it is a plain setuptools shim.
"""

from setuptools import setup

setup()
