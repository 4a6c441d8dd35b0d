"""The collector pause gives the collector back as it found it, whatever happens inside."""

import gc
import platform
import subprocess
import sys

import pytest

from tracecheck import collector
from tracecheck.collector import collector_paused


def test_paused_inside_and_restored_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a stage failed")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_the_block_made_is_not_walked_at_once_after_it_yet_stays_collectable():
    import weakref

    class Node:
        pass

    with collector_paused():
        lasting = [[index] for index in range(50_000)]
        cycle = Node()
        cycle.itself = cycle  # garbage only a full collection can free
        gone = weakref.ref(cycle)
        del cycle
    # The young generation was emptied into the oldest, so the next allocations start no
    # collection over the block's objects ...
    assert gc.get_count()[0] < 100
    # ... and a full collection still frees what was made in the block.
    gc.collect()
    assert gone() is None
    assert len(lasting) == 50_000


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_malloc_trim_is_found_without_running_a_program(monkeypatch):
    def no_programs(*args, **kwargs):
        raise AssertionError(f"a program was run: {args[:1]}")

    monkeypatch.setattr(subprocess, "Popen", no_programs)
    trim = collector._malloc_trim()
    assert callable(trim) and trim(0) in (0, 1)  # 1: memory was given back, 0: none could be
