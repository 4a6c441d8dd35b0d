"""The user's cache folder, and parsed YAML kept there between runs.

Every run reads the shipped catalogs (``geo_db/regions.yaml``, ``jurisdictions.yaml``,
``services.yaml``); parsing their YAML costs more than the rest of a small run's set-up.  The
parsed data is stored once, named by the SHA-256 of the bytes it was parsed from, and later runs
load it instead of parsing.  The bytes are read and hashed at every run, so an edited file has
another name and is parsed afresh: a cache can never serve a file's old content.

Entries are also named by a fingerprint of the parser (``parser_kind``): a changed parser parses
afresh too.  The stored form is a pickle of plain data (dicts, lists, strings, numbers, dates) read back by an
unpickler that refuses every other type, so a planted file cannot run code.  A cache that cannot
be written or read is no error: the file is parsed, as without one.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

PARSED_FORMAT = 1
"""Bump when what a parsed-YAML entry holds, or how YAML is turned into it, changes."""
_PLAIN_TYPES = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "timezone"),
                ("datetime", "timedelta")}


def cache_dir() -> Path | None:
    """``$TRACECHECK_CACHE``, else ``$XDG_CACHE_HOME/tracecheck``, else ``~/.cache/tracecheck``;
    None: nowhere (no home)."""
    if os.environ.get("TRACECHECK_CACHE"):
        return Path(os.environ["TRACECHECK_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "tracecheck"
    home = Path.home() if "HOME" in os.environ else None
    return home / ".cache" / "tracecheck" if home else None


@functools.cache
def parser_kind(name: str, parser_source: str, *versions: str) -> str:
    """The ``kind`` of a parser's entries: its name and a fingerprint of the code that turns YAML
    into data (the parsing module's own source, PyYAML's version ...), so that a tracecheck whose
    parser changed -- an upgrade, an edit in a checkout -- never reads what another one parsed."""
    try:
        code = Path(parser_source).read_bytes()
    except OSError:
        code = b"unknown"
    fingerprint = hashlib.sha256(code + repr(versions).encode()).hexdigest()[:16]
    return f"{name}-{fingerprint}"


class _PlainUnpickler(pickle.Unpickler):
    """Builds containers, strings, numbers and dates; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_TYPES:
            return getattr(dt, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def _entry(raw: bytes, kind: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(raw).hexdigest()
    return folder / "parsed" / f"{kind}-{digest}-v{PARSED_FORMAT}.pickle"


def load_parsed(raw: bytes, kind: str) -> Any | None:
    """The data once parsed from exactly these bytes (by a parser named ``kind``), or None."""
    entry = _entry(raw, kind)
    if entry is None:
        return None
    try:
        with open(entry, "rb") as f:
            return _PlainUnpickler(io.BytesIO(f.read())).load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError):
        return None


def store_parsed(raw: bytes, kind: str, data: Any) -> None:
    """Keep ``data``, parsed from ``raw``, for the next run; written whole or not at all."""
    entry = _entry(raw, kind)
    if entry is None:
        return
    try:
        blob = pickle.dumps(data, protocol=5)
        _PlainUnpickler(io.BytesIO(blob)).load()  # data that would not load back is not kept
    except (pickle.PicklingError, pickle.UnpicklingError, TypeError, AttributeError, RecursionError):
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, work = tempfile.mkstemp(prefix=f".{entry.name}.", dir=entry.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(work, entry)  # a reader sees the old entry or the whole new one
    except OSError:
        Path(work).unlink(missing_ok=True)


def template_cache(env: Any) -> Any | None:
    """A jinja2 bytecode cache for ``env`` in the user's cache folder; None: nowhere to keep one.

    jinja2 checks each template's source checksum and its own version, not the environment's
    options, which also shape the compiled code: the folder is named by those options."""
    folder = cache_dir()
    if folder is None:
        return None
    import jinja2

    options = repr((jinja2.__version__, env.block_start_string, env.block_end_string,
                    env.variable_start_string, env.variable_end_string, env.comment_start_string,
                    env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix,
                    env.trim_blocks, env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline,
                    env.optimized, env.finalize is not None, env.is_async, sorted(env.extensions),
                    getattr(env.autoescape, "__qualname__", env.autoescape)))
    folder = folder / f"jinja2-{hashlib.sha256(options.encode()).hexdigest()[:16]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))
