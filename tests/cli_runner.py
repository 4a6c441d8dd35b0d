"""Run the ``tracecheck`` entry point inside the test process, as a user would from a shell."""

from __future__ import annotations

import sys

from tracecheck.cli import main


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``tracecheck ARGS``: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tracecheck", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    """The one line a refusal writes on stderr (CONTRACT.md: one line, never a traceback)."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]
