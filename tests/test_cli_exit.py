"""`tracecheck` (cli.run) leaves without the interpreter's teardown, yet exits as main() does."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tracecheck import cli

DEMO = Path(__file__).resolve().parents[1] / "captures" / "demo-call.pcapng"
PROGRAM = [sys.executable, "-c", "from tracecheck.cli import run; run()"]


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*PROGRAM, *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_exit_codes_and_output_are_those_of_main(tmp_path):
    version = _run("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"tracecheck {__import__('tracecheck').__version__}")
    bad = _run("flows", str(tmp_path / "missing.pcap"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing.pcap" in bad.stderr
    done = _run("--quiet", "analyze", str(DEMO), "--out", str(tmp_path / "report"))
    assert done.returncode == 1  # the demo has a violation
    assert done.stdout.startswith("VIOLATION:") and done.stdout.endswith("\n")
    assert (tmp_path / "report" / "manifest.json").is_file()


def test_everything_written_to_stdout_arrives(tmp_path):
    piped = _run("flows", str(DEMO), "--format", "json")
    written = tmp_path / "flows.json"
    assert _run("flows", str(DEMO), "--format", "json", "-o", str(written)).returncode == 0
    assert piped.returncode == 0 and piped.stdout == written.read_text()


def test_a_live_thread_or_pending_finalizer_keeps_the_normal_shutdown():
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not cli._nothing_left_to_shut_down()
    finally:
        release.set()
        thread.join()
    folder = tempfile.TemporaryDirectory()  # cleaned by a weakref.finalize at exit if not before
    try:
        assert not cli._nothing_left_to_shut_down()
    finally:
        folder.cleanup()


def test_a_command_that_leaves_a_thread_running_still_waits_for_it(tmp_path):
    marker = tmp_path / "finished"
    script = (f"import threading, time, pathlib\n"
              f"from tracecheck import cli\n"
              f"def late():\n    time.sleep(0.3); pathlib.Path({str(marker)!r}).write_text('done')\n"
              f"threading.Thread(target=late).start()\n"
              f"import sys; sys.argv = ['tracecheck', '--version']\n"
              f"cli.run()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert done.returncode == 0 and marker.read_text() == "done"


def _torn_down(tmp_path, traced: bool) -> bool:
    """Whether the interpreter was torn down: a module-level object's ``__del__`` runs only then."""
    marker = tmp_path / f"teardown-{traced}"
    # atexit._clear(): a site hook of the machine (a .pth file) may have registered a handler,
    # which rightly keeps the ordinary exit; the probe is about the tracer alone.
    # `open` is bound early: module globals may be gone when __del__ runs.
    script = (f"import atexit, sys\natexit._clear()\n"
              f"class Probe:\n    def __del__(self, open=open):\n        open({str(marker)!r}, 'w').write('ran')\n"
              f"probe = Probe()\n"
              + ("sys.settrace(lambda *args: None)\n" if traced else "")
              + "from tracecheck import cli\nsys.argv = ['tracecheck', '--version']\ncli.run()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tracecheck ")
    return marker.exists()


def test_under_a_tracer_or_profiler_the_exit_is_the_ordinary_one(tmp_path):
    """Coverage and cProfile write their data at exit: with one active, nothing is skipped."""
    assert _torn_down(tmp_path, traced=True)
    assert not _torn_down(tmp_path, traced=False)  # the teardown is skipped otherwise


def test_an_atexit_handler_keeps_the_normal_exit(tmp_path):
    import subprocess
    import sys

    marker = tmp_path / "ran"
    script = ("import atexit, sys; from pathlib import Path; "
              f"atexit.register(lambda: Path({str(marker)!r}).write_text('yes')); "
              "sys.argv = ['tracecheck', '--version']; from tracecheck.cli import run; run()")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tracecheck ")
    assert marker.read_text() == "yes"


def _after_a_child_process(tmp_path, finalizer: bool) -> tuple[bool, bool]:
    """Whether the teardown ran, and whether multiprocessing's own finalizer ran, in a program that
    made a child process (as analyze's dissector process) and waited for it before ``run``."""
    marker, finalized = tmp_path / f"teardown-{finalizer}", tmp_path / f"finalized-{finalizer}"
    script = (f"import atexit, multiprocessing, sys\natexit._clear()\n"
              f"class Probe:\n    def __del__(self, open=open):\n        open({str(marker)!r}, 'w').write('ran')\n"
              f"probe = Probe()\n"
              f"child = multiprocessing.get_context('fork').Process(target=int)\nchild.start()\nchild.join()\n"
              + (f"import multiprocessing.util as util\n"
                 f"util.Finalize(None, lambda: open({str(finalized)!r}, 'w').write('ran'), exitpriority=0)\n"
                 if finalizer else "")
              + "from tracecheck import cli\nsys.argv = ['tracecheck', '--version']\ncli.run()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tracecheck "), done.stderr
    return marker.exists(), finalized.exists()


def test_a_child_process_waited_for_leaves_nothing_to_shut_down(tmp_path):
    """multiprocessing registers its exit function with the first child: with the child gone and
    nothing of its own to finalize, the run still leaves fast; with a finalizer it does not."""
    assert _after_a_child_process(tmp_path, finalizer=False) == (False, False)
    assert _after_a_child_process(tmp_path, finalizer=True) == (True, True)


THREADS_AFTER_IMPORT = ("import os, tracecheck.cli, numpy; "
                        "print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])")


def test_the_program_starts_no_blas_threads_unless_the_user_asks_for_them():
    # OpenBLAS starts one spinning worker per core when NumPy is imported; tracecheck needs none.
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("counts threads through /proc (Linux)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    alone = subprocess.run([sys.executable, "-c", THREADS_AFTER_IMPORT], capture_output=True, text=True, env=env,
                           timeout=60)
    assert alone.stdout.split() == ["1", "1"], alone.stderr
    chosen = subprocess.run([sys.executable, "-c", THREADS_AFTER_IMPORT], capture_output=True, text=True,
                            env={**env, "OPENBLAS_NUM_THREADS": "2"}, timeout=60)
    assert chosen.stdout.split()[1] == "2"
