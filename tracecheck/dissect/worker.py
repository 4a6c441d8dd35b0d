"""The dissectors on the second core.

The flow stage is NumPy; the dissectors are Python, one packet at a time.  On a two-core
machine they can run side by side: the main process picks the packets that matter in bulk
(``Dissection.select``) and sends them here, to a forked process that looks at them
(``Dissection.examine``) and hands back what it learned (``Dissection.summary``).  The
results are the same as in one process: picks arrive in capture order.
"""

from __future__ import annotations

import gc
import io
import marshal
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import replace

from tracecheck.dissect.choice import Picks
from tracecheck.dissect.session import Dissection, load_protocols

# Below this much capture, starting a process costs more than it saves.
WORTH_A_PROCESS = 64 << 20


def worth_a_process(total_bytes: int) -> bool:
    return (total_bytes >= WORTH_A_PROCESS and (os.cpu_count() or 1) > 1
            and "fork" in multiprocessing.get_all_start_methods())


# Batches of picks waiting for the child: enough that neither side waits for the other batch
# by batch (one may be quicker on some batches, the other on others), few enough to bound memory.
QUEUED_BATCHES = 8
# The worker's buffer for a batch's payloads, to start with (a larger batch makes it grow).
PAYLOAD_BUFFER = 8 << 20


class DissectionWorker:
    """A ``Dissection`` in a child process, fed ``Picks`` through a pipe by a sender thread,
    so the flow stage hands a batch over and goes on."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")  # the child inherits the loaded modules
        self._pipe, child_end = context.Pipe(duplex=True)
        self._process = context.Process(target=_serve, args=(child_end, self._pipe, os.getpid()),
                                        name="tracecheck-dissect", daemon=True)
        self._process.start()
        child_end.close()
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED_BATCHES)
        self._send_error: BaseException | None = None
        self._sender = threading.Thread(target=self._send_queued, name="tracecheck-dissect-sender", daemon=True)
        self._sender.start()

    def send(self, picks: Picks | None) -> None:
        if picks is not None and self._send_error is None:
            self._queue.put(picks)

    def behind(self) -> bool:
        """Batches are waiting for the child."""
        return not self._queue.empty()

    def _send_queued(self) -> None:
        while True:
            picks = self._queue.get()
            try:
                if picks is None:
                    self._pipe.send(None)
                else:  # the payloads apart, as they are: not copied into a pickle and out again
                    self._pipe.send((replace(picks, blob=b""), len(picks.blob)))
                    _write_all(self._pipe.fileno(), picks.blob)
            except BaseException as err:  # the child is gone: finish() says so
                self._send_error = err
                self._drain()
                return
            if picks is None:
                return

    def _drain(self) -> None:
        """Empty the queue (unblocking ``send``) after the child went away."""
        while True:
            try:
                if self._queue.get_nowait() is None:
                    return
            except queue.Empty:
                return

    def finish(self) -> dict:
        """Everything sent has been looked at: the child's ``Dissection.summary()``."""
        self._queue.put(None)
        self._sender.join()
        if self._send_error is not None:
            self.close()
            raise RuntimeError(f"the dissector process went away: {self._send_error!r}")
        try:
            kind, payload = marshal.loads(self._pipe.recv_bytes())
        except EOFError:
            kind, payload = "error", "it ended without a summary"
        self.close()
        if kind == "error":
            raise RuntimeError(f"the dissector process failed:\n{payload}")
        return payload

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        if self._sender.is_alive():  # stopped before finish(): unblock and end the sender
            self._drain()
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
            self._sender.join(timeout=5)
        self._pipe.close()


def _serve(pipe, parent_end, parent_pid: int) -> None:
    # The parent's end, inherited by the fork: closed, so that the parent's death is an
    # end-of-file here instead of a recv blocked forever.
    parent_end.close()
    _die_with_parent(parent_pid)
    # What the parent had is the child's too: keep the collector off it (a full collection
    # would walk it all, writing to pages the child otherwise shares with the parent).  And
    # off what the dissectors make: they make no reference cycles (a test holds them to it),
    # so counting references frees all there is to free, and the collector's passes over the
    # growing findings were ~6% of the child's work.
    gc.freeze()
    gc.disable()
    load_protocols()  # while the parent reads its first batch
    dissection = Dissection()
    # The payloads of every batch are read straight into one buffer, reused: no allocation (and
    # no fresh pages) per batch.  The next batch overwrites it, so examine copies out what it
    # keeps (bytes()).
    payloads = bytearray(PAYLOAD_BUFFER)
    stream = io.FileIO(pipe.fileno(), "rb", closefd=False)
    try:
        while (message := pipe.recv()) is not None:
            picks, size = message
            if size > len(payloads):
                payloads = bytearray(max(size, 2 * len(payloads)))
            _read_into(stream, memoryview(payloads)[:size])
            picks.blob = memoryview(payloads).toreadonly()[:size]
            dissection.examine(picks)
        # The summary is plain data (tuples, lists, dicts, text, numbers): marshal writes and
        # reads it in a third of pickle's time, and the parent waits for it.
        pipe.send_bytes(marshal.dumps(("summary", dissection.summary())))
    except EOFError:  # the parent went away
        return
    except Exception:  # a bug: report it rather than hang the parent
        pipe.send_bytes(marshal.dumps(("error", traceback.format_exc())))


# How often the child looks whether its parent is still there (where no death signal exists).
PARENT_CHECK_SECONDS = 0.5
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """End this process when the parent ends, however it ends (kill -9, a fault)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # it was gone before the death signal was asked for
        os._exit(1)

    def watch() -> None:  # portable: a parent gone makes this process a child of another
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="tracecheck-parent-watch", daemon=True).start()


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` down the pipe (a pipe takes 64 KiB at a time)."""
    with memoryview(data) as view:
        while view:
            view = view[os.write(fd, view):]


def _read_into(stream: io.FileIO, view: memoryview) -> None:
    """Fill ``view`` from the pipe (``_write_all``'s bytes), straight into the buffer."""
    while view:
        got = stream.readinto(view)
        if not got:
            raise EOFError
        view = view[got:]
