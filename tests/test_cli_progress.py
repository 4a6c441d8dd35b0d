"""The reading progress bar on a terminal: drawn at each update, with no thread of its own (a
thread alive at the report's writing would keep its pages from a forked writer)."""

from __future__ import annotations

import io
import threading

from tracecheck.cli import progress as progress_module


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_each_update_and_runs_no_thread(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(progress_module.sys, "stderr", terminal)
    monkeypatch.setattr(progress_module.settings, "quiet", False)
    before = threading.active_count()
    with progress_module.reading_progress() as update:
        assert update is not None
        update("call.pcap", 16 << 20, 64 << 20)
        assert threading.active_count() == before
        drawn = terminal.getvalue()
        assert "reading call.pcap" in drawn
        update("call.pcap", 48 << 20, 64 << 20)
        assert len(terminal.getvalue()) > len(drawn)
    assert threading.active_count() == before
