"""The modules that are also compiled with Cython, and which copy of each is imported.

A compiled module is its own source turned into C by setup.py: the same code, identical
results, about a sixth less time in the loops that run once per destination or flow.  The
build is optional; without it the source runs.  An extension module shadows a source of the
same name, so the source is imported instead in two cases:

- ``TRACECHECK_PURE_PYTHON=1``: to rule the build out (the tests compare the two);
- in a source tree (an editable install) where a source was edited after it was compiled: an
  edit must never silently not run.  ``pip install -e .`` compiles it again.

No module here defines a pydantic model: pydantic reads a class's attributes in ways a compiled
class body does not support.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

MODULES = (
    "tracecheck.analyze",            # judging, once per destination
    "tracecheck.policy.evaluate",    # the policy's verdict and its reasons
    "tracecheck.policy.claims",
    "tracecheck.destinations",       # flows gathered per destination
    "tracecheck.observability",
    "tracecheck.flows.table",        # the flow table's rows
    "tracecheck.dissect.session",    # each flow's first packets, one by one
    "tracecheck.dissect.rtp",
    "tracecheck.geo.lookup",         # one place per destination
    "tracecheck.report.grouping",    # the report page's rows
    "tracecheck.report.rows",        # report models made and read without validation
)

_PURE = os.environ.get("TRACECHECK_PURE_PYTHON", "") not in ("", "0")
_SOURCE_TREE = os.path.exists(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".git"))


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the source of a compiled module when it must be imported instead (see above)."""

    def find_spec(self, name, path, target=None):
        if name not in MODULES:
            return None
        found = importlib.machinery.PathFinder.find_spec(name, path)
        if found is None or not (found.origin or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return found
        source = os.path.join(os.path.dirname(found.origin), name.rpartition(".")[2] + ".py")
        if os.path.exists(source) and (_PURE or (_SOURCE_TREE and _edited_since(source, found.origin))):
            return importlib.util.spec_from_file_location(name, source)
        return found


def _edited_since(source: str, built: str) -> bool:
    return os.stat(source).st_mtime_ns > os.stat(built).st_mtime_ns


def running_compiled() -> list[str]:
    """The modules of ``MODULES`` imported (or importable) as their compiled build."""
    compiled = []
    for name in MODULES:
        module = sys.modules.get(name) or importlib.import_module(name)
        if not (module.__file__ or "").endswith(".py"):
            compiled.append(name)
    return compiled


def install() -> None:
    if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())
