"""The cyclic garbage collector, paused while a stage makes many objects that all live on.

Python starts a collection every few hundred new container objects, and a full one walks every
object the process holds: a stage that makes a hundred thousand lasting objects at once (a
batch of look-up results, a worker's findings as they unpickle) sets off collections that can
cost more than the stage itself, and free nothing.  Such stages make no reference cycles.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside the block; the collector's state is restored after it.

    What the block made is then handed to the oldest generation (``gc.freeze`` and ``unfreeze``
    splice the lists; nothing is walked): left in the youngest, the first allocation after the
    block would walk all of it at once -- a third of a second for a hundred thousand
    destinations -- to free nothing.  Full collections still see it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def give_back_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``), after a stage
    whose large working state was just freed: glibc otherwise keeps them, and they count in
    the run's peak as if still used (130k flows: 65 MB).  Elsewhere (musl, macOS) nothing."""
    global _TRIM
    if _TRIM is None:
        _TRIM = _malloc_trim()
    if _TRIM:
        _TRIM(0)


def _malloc_trim():
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:  # the process's own symbols, libc's among them: ctypes.util.find_library runs ldconfig
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False


_TRIM = None
