"""Every Python block of the docs and the README runs as a test (Sybil), so the docs cannot
drift from the code. Blocks of one page share a namespace, in order."""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser()], patterns=["*.md"], excludes=["build/*"]
).pytest()
