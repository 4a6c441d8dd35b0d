"""A large report's pages are written by a forked child while this process writes the data
formats (report/side_by_side.py): the same files as one process writes, in the same order, and
a child's failure is raised here, never lost."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from capture_builders import many_destinations_pcap
from cli_runner import run

from tracecheck.errors import UserError
from tracecheck.report import side_by_side
from tracecheck.report.side_by_side import forking_pays, write_side_by_side

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform does not fork")


class _Format:
    def __init__(self, name: str, page: bool = False, fail=None) -> None:
        self.name, self.file_name, self.page, self.fail = name, f"{name}.out", page, fail
        self.prepared: list[int] = []

    def prepare(self) -> None:
        self.prepared.append(os.getpid())


def _writer(out_dir):
    def write(fmt):
        if fmt.fail is not None:
            fmt.fail()
        path = out_dir / fmt.file_name
        path.write_text(str(os.getpid()))
        return path
    return write


@pytest.fixture(autouse=True)
def only_this_test_s_threads(monkeypatch):
    """Threads an earlier test of this worker left to end on their own (a capture's hash) are
    not this test's: count from what runs now."""
    real_count, already = threading.active_count, threading.active_count()
    monkeypatch.setattr(side_by_side.threading, "active_count", lambda: real_count() - already + 1)


@pytest.fixture(autouse=True)
def forked(monkeypatch):
    """The pids this test forked: each must have been reaped when the writer returned or raised."""
    pids = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    yield pids
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_pages_are_written_by_a_child_and_the_rest_here_in_the_formats_order(tmp_path, forked):
    formats = [_Format("json"), _Format("html", page=True), _Format("csv"), _Format("pdf", page=True)]
    paths = write_side_by_side(formats, _writer(tmp_path))
    assert paths == [tmp_path / f"{f.name}.out" for f in formats]
    writers = {f.name: int((tmp_path / f.file_name).read_text()) for f in formats}
    assert writers["json"] == writers["csv"] == os.getpid()
    assert writers["html"] == writers["pdf"] == forked[0] != os.getpid()
    # What the pages need was loaded here, before the fork, once each: the child starts with it.
    assert [f.prepared for f in formats] == [[], [os.getpid()], [], [os.getpid()]]


def test_the_page_s_template_engine_is_loaded_before_the_fork():
    import subprocess
    import sys

    probe = ("import sys; from tracecheck.report.formats.html import FORMAT; before = 'jinja2' in sys.modules; "
             "FORMAT.prepare(); print(before, 'jinja2' in sys.modules, 'tracecheck.report.figures' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True", "True"], done.stderr


def test_without_both_kinds_nothing_is_forked(tmp_path):
    for formats in ([_Format("json"), _Format("csv")], [_Format("html", page=True)]):
        write_side_by_side(formats, _writer(tmp_path))
        assert {int((tmp_path / f.file_name).read_text()) for f in formats} == {os.getpid()}


def _user_error():
    raise UserError("cannot write report.html: No space left on device; free some space")


def _bug():
    raise KeyError("destinations")


def _killed():
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize(("fail", "raised", "said"), [
    (_user_error, UserError, "^cannot write report.html: No space left on device; free some space$"),
    (_bug, RuntimeError, r"html.out failed in its own process: KeyError: 'destinations'"),
    (_killed, RuntimeError, r"html.out failed in its own process: it ended with status -9"),
])
def test_a_child_s_failure_is_raised_here(tmp_path, fail, raised, said):
    formats = [_Format("json"), _Format("html", page=True, fail=fail)]
    with pytest.raises(raised, match=said):
        write_side_by_side(formats, _writer(tmp_path))
    assert (tmp_path / "json.out").read_text() == str(os.getpid())


def test_a_failure_here_still_waits_for_the_child(tmp_path):
    formats = [_Format("json", fail=_user_error), _Format("html", page=True)]
    with pytest.raises(UserError):
        write_side_by_side(formats, _writer(tmp_path))
    assert int((tmp_path / "html.out").read_text()) != os.getpid()


def test_no_fork_while_another_thread_runs_or_for_a_small_report():
    assert forking_pays(side_by_side.WORTH_A_FORK) == ((os.cpu_count() or 1) > 1)
    assert not forking_pays(side_by_side.WORTH_A_FORK - 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forking_pays(10 * side_by_side.WORTH_A_FORK)
    finally:
        stop.set()
        other.join()


def test_a_large_report_written_side_by_side_is_the_one_written_in_one_process(tmp_path, monkeypatch, capsys,
                                                                               forked):
    capture = tmp_path / "many.pcap"
    many_destinations_pcap(capture, 800)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    outs = {}
    for label, threshold in (("one process", 10 ** 9), ("side by side", side_by_side.WORTH_A_FORK)):
        monkeypatch.setattr(side_by_side, "WORTH_A_FORK", threshold)
        outs[label] = tmp_path / label.replace(" ", "-")
        code, _, _ = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(capture), "--out",
                         str(outs[label]), "--format", "md")
        assert code in (0, 1)
    if (os.cpu_count() or 1) > 1:
        assert len(forked) == 1  # the second run only
    one, two = outs["one process"], outs["side by side"]
    for name in ("report.json", "report.html", "flows.csv", "report.md"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    listed = [f["path"] for f in json.loads((two / "manifest.json").read_text())["files"]]
    assert listed == [f["path"] for f in json.loads((one / "manifest.json").read_text())["files"]]
