"""Where sensor logs are: local paths, or URLs that fsspec reads (``s3://bucket/zeek/``,
``gs://...``, ``file:///srv/logs/``, ``memory://`` in tests) -- shared storage that Dask workers
read too (``--scheduler``).

A path is a URL when it has a ``scheme://``; anything else is a local path, read with the
standard library as before.  The filesystem behind a scheme is fsspec's; one whose package is
not installed (s3fs, gcsfs, adlfs ...) or a scheme fsspec does not know is a one-line UserError
that says what to install or what to fix.  Nothing here fetches anything at import time: fsspec
is imported when a URL is met."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from tracecheck.errors import UserError

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_url(path: str) -> bool:
    """True when ``path`` names a location through a scheme (``s3://``, ``file://`` ...)."""
    return bool(_URL.match(path))


def filesystem(url: str):
    """(fsspec filesystem, the path within it) of a URL; UserError when the scheme is unknown or
    its filesystem's package is missing."""
    scheme = _URL.match(url).group(1).lower()
    try:
        import fsspec.core
    except ImportError:
        raise UserError(f"{url}: reading {scheme}:// URLs needs fsspec: pip install fsspec") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as err:
        raise UserError(f"{url}: the {scheme}:// filesystem needs a package that is not installed "
                        f"({str(err).splitlines()[0][:160]})") from None
    except ValueError as err:
        if "protocol" in str(err).lower():
            raise UserError(f"{url}: unknown storage protocol {scheme}:// (give a local path, or a URL "
                            f"fsspec reads: file://, s3://, gs://, az:// ...)") from None
        raise UserError(f"{url}: {str(err).splitlines()[0][:200]}") from None


def _full(fs, path: str) -> str:
    return fs.unstrip_protocol(path)


def expand_url(url: str, wanted: Callable[[str], bool], suffix_note: str = "log files") -> list[str]:
    """Files at a URL, as ``common.expand`` finds them on disk: a file as given, a directory's
    files whose base name ``wanted`` accepts (recursively), a glob's matches; full URLs, sorted."""
    fs, path = filesystem(url)
    try:
        if any(char in path for char in "*?["):
            matches = sorted(fs.glob(path))
            if not matches:
                raise UserError(f"{url}: no file matches this pattern")
            found = []
            for match in matches:
                if fs.isdir(match):
                    found += [name for name in fs.find(match) if wanted(name.rsplit("/", 1)[-1])]
                else:
                    found.append(match)
        elif fs.isdir(path):
            found = [name for name in fs.find(path) if wanted(name.rsplit("/", 1)[-1])]
            if not found:
                raise UserError(f"{url}: no {suffix_note} in this directory")
        elif fs.isfile(path):
            found = [path]
        else:
            raise UserError(f"{url}: no such file or directory")
    except OSError as err:
        raise UserError(f"{url}: cannot list it: {str(err).splitlines()[0][:200]}") from None
    return sorted({_full(fs, name) for name in found})


def open_url(url: str):
    """The stored bytes at a URL as a binary file object (a context manager); UserError when it
    cannot be opened."""
    fs, path = filesystem(url)
    try:
        return fs.open(path, "rb")
    except (OSError, ValueError) as err:
        raise UserError(f"{url}: cannot read: {str(err).splitlines()[0][:200]}") from None


def stored_size(path: str) -> int:
    """The file's size as stored (0 when it cannot be told): progress's total."""
    try:
        if is_url(path):
            fs, inner = filesystem(path)
            return int(fs.size(inner) or 0)
        return os.path.getsize(path)
    except (OSError, ValueError, TypeError, UserError):
        return 0
