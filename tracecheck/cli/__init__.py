"""The command line: thin wiring of the stages, one module per command group."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref

# tracecheck multiplies no matrices, yet OpenBLAS starts a worker thread per core when NumPy is
# imported, and it spins: a tenth of a second of CPU a run, taken from the run's own threads.
# Unless the user chose otherwise; only before NumPy's import (the console script's case).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from tracecheck.cli.app import app  # noqa: E402
from tracecheck.errors import UserError  # noqa: E402

# Importing a command module registers its commands on ``app``.
from tracecheck.cli import flows, names  # noqa: E402,F401
from tracecheck.cli import policy  # noqa
from tracecheck.cli import db, lookup  # noqa
from tracecheck.cli import verify  # noqa
from tracecheck.cli import analyze  # noqa
from tracecheck.cli import diff, keygen  # noqa
from tracecheck.cli import capture  # noqa


def main() -> None:
    """Entry point: every failure a user can cause ends in one line on stderr and exit 2."""
    try:
        result = app(standalone_mode=False)
    except UserError as err:
        _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as err:
        # typer bundles its own copy of click: recognise its exceptions by shape, not class.
        kind = type(err).__name__
        if kind == "NoArgsIsHelpError":
            print(err.ctx.get_help() if getattr(err, "ctx", None) else str(err), file=sys.stderr)
            sys.exit(2)
        if kind == "Abort":
            _fail("aborted", 130)
        message = getattr(err, "format_message", None)
        if callable(message) and isinstance(getattr(err, "exit_code", None), int):
            hint = " (see --help)" if err.exit_code == 2 else ""
            _fail(" ".join(message().split()) + hint, 2 if err.exit_code == 2 else err.exit_code)
        raise
    if result == 130:  # typer turns Ctrl-C inside a command into Exit(130), said nowhere
        _fail("interrupted", 130)
    sys.exit(result if isinstance(result, int) else 0)


def run() -> None:
    """The ``tracecheck`` program (the console script, ``python -m tracecheck``): ``main``, then
    out of the process without tearing the interpreter down.

    Freeing every object and module one by one at exit costs a tenth of a small run and 0.2 s
    after a million packets, and saves nothing: the process ends.  Only when nothing could still
    need the normal shutdown -- no tracer or profiler, one thread, no child process, no pending
    ``weakref.finalize`` or atexit handler, both output streams flushed -- is it skipped; otherwise Python exits as
    usual."""
    try:
        main()
        code: object = 0
    except SystemExit as done:
        code = done.code
    if code is None:
        code = 0
    if not isinstance(code, int) or not _nothing_left_to_shut_down():
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # a closed or broken pipe: let Python report it as it always does
    os._exit(code)


def _nothing_left_to_shut_down() -> bool:
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12's tool hooks (coverage uses them)
    if (sys.gettrace() is not None or sys.getprofile() is not None
            or (monitoring is not None and any(monitoring.get_tool(tool) for tool in range(6)))):
        return False  # a profiler or coverage writes its data at exit
    if threading.active_count() > 1:
        return False
    processes = sys.modules.get("multiprocessing")
    if processes is not None and processes.active_children():
        return False
    registered = getattr(atexit, "_ncallbacks", None)  # CPython's count of atexit handlers
    if registered is None or registered() > _idle_multiprocessing_exit():
        return False  # a library asked to be called at exit: let it be
    pending = getattr(weakref.finalize, "_registry", None)
    return pending is not None and not any(info.atexit for info in pending.values())


def _idle_multiprocessing_exit() -> int:
    """1 when multiprocessing's exit function is registered with nothing to do, else 0.

    ``multiprocessing.util`` registers it when imported, as the first process is made (the
    dissector process of a large capture).  With no child left (checked before) and no finalizer
    it runs at exit (those with an exit priority: its registry is keyed ``(priority, count)``) it
    would do nothing, yet it alone sent every large run through the full shutdown."""
    util = sys.modules.get("multiprocessing.util")
    registry = getattr(util, "_finalizer_registry", None)
    if registry is None:
        return 0
    try:
        return int(all(key[0] is None for key in list(registry)))
    except (TypeError, IndexError):  # a layout this code does not know: let it run
        return 0


def _fail(message: str, code: int) -> None:
    print(f"tracecheck: {message}", file=sys.stderr)
    sys.exit(code)
