"""The dissectors on the second core.

The flow stage is NumPy; the dissectors are Python, one packet at a time.  On a two-core
machine they can run side by side: the main process picks the packets that matter in bulk
(``Dissection.select``) and sends them here, to a forked process that looks at them
(``Dissection.examine``) and hands back what it learned (``Dissection.summary``).  The
results are the same as in one process: picks arrive in capture order.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback

from tracecheck.dissect.session import Dissection, Picks

# Below this much capture, starting a process costs more than it saves.
WORTH_A_PROCESS = 64 << 20


def worth_a_process(total_bytes: int) -> bool:
    return (total_bytes >= WORTH_A_PROCESS and (os.cpu_count() or 1) > 1
            and "fork" in multiprocessing.get_all_start_methods())


class DissectionWorker:
    """A ``Dissection`` in a child process, fed ``Picks`` through a pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")  # the child inherits the loaded modules
        self._pipe, child_end = context.Pipe(duplex=True)
        self._process = context.Process(target=_serve, args=(child_end,), name="tracecheck-dissect", daemon=True)
        self._process.start()
        child_end.close()

    def send(self, picks: Picks | None) -> None:
        if picks is not None:
            self._pipe.send(picks)

    def finish(self) -> dict:
        """Everything sent has been looked at: the child's ``Dissection.summary()``."""
        self._pipe.send(None)
        kind, payload = self._pipe.recv()
        self.close()
        if kind == "error":
            raise RuntimeError(f"the dissector process failed:\n{payload}")
        return payload

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._pipe.close()


def _serve(pipe) -> None:
    dissection = Dissection()
    try:
        while (picks := pipe.recv()) is not None:
            dissection.examine(picks)
        pipe.send(("summary", dissection.summary()))
    except EOFError:  # the parent went away
        return
    except Exception:  # a bug: report it rather than hang the parent
        pipe.send(("error", traceback.format_exc()))
