"""``tracecheck db update``: fetch each source from its publisher's official URL.

The only code in tracecheck that opens a connection on its own, and it runs only when the user
types ``db update``.  Each download has a timeout and a size cap, lands in a temporary file,
is parsed by its reader, and only then replaces the stored copy (``store.install``), so a failed
or truncated download leaves yesterday's file in place.

URLs can be replaced (``--url NAME=URL``): for an internal mirror, and for tests, which serve
files from 127.0.0.1 and never touch the network.
"""

from __future__ import annotations

import email.utils
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping

from tracecheck import __version__
from tracecheck.errors import UserError
from tracecheck.geo import store
from tracecheck.geo.sources import aws, azure, cloudflare, fastly, gcp, geofeed, oracle, read_source
from tracecheck.geo.sources.interface import filename_date
from tracecheck.vocabulary import SourceInfo

MAX_BYTES = 256 << 20  # the largest published file (Azure) is ~5 MiB; a cap stops a runaway response

# name -> (kind, official URL).  Genesys Cloud's /api/v2/ipranges needs an OAuth token, and
# MaxMind databases a licence key: both are imported with `db import`, not fetched.
OFFICIAL: dict[str, tuple[str, str]] = {
    aws.NAME: ("aws", aws.OFFICIAL_URL),
    azure.NAME: ("azure", azure.OFFICIAL_PAGE),
    gcp.NAME: ("gcp", gcp.OFFICIAL_URL),
    gcp.GOOGLE_NAME: ("google", gcp.GOOGLE_URL),
    oracle.NAME: ("oracle", oracle.OFFICIAL_URL),
    **{name: ("cloudflare", url) for name, url in cloudflare.OFFICIAL_URLS.items()},
    fastly.NAME: ("fastly", fastly.OFFICIAL_URL),
    **{name: ("geofeed", url) for name, url in geofeed.OFFICIAL_URLS.items()},
}


@dataclass(frozen=True)
class Outcome:
    name: str
    url: str
    info: SourceInfo | None = None
    error: str = ""
    date_basis: str = ""
    """Where ``info.date`` came from (see ``RangeFile.date_basis``)."""


def parse_url_overrides(pairs: list[str]) -> dict[str, str]:
    """``["aws-ip-ranges=http://mirror/ip-ranges.json"]`` -> ``{name: url}``; a kind works as a name."""
    overrides = {}
    by_kind = {}
    for name, (kind, _) in OFFICIAL.items():
        by_kind.setdefault(kind, name)
    for pair in pairs:
        name, sep, url = pair.partition("=")
        name = by_kind.get(name.strip(), name.strip())
        if not sep or not url or name not in OFFICIAL:
            raise UserError(f"--url {pair!r}: expected NAME=URL with NAME one of {', '.join(OFFICIAL)}")
        overrides[name] = url.strip()
    return overrides


def update(db_dir: Path, names: list[str] | None = None, urls: Mapping[str, str] | None = None,
           timeout: float = 30.0, progress: Callable[[str], None] | None = None) -> list[Outcome]:
    """Fetch ``names`` (default: all official sources, or those in ``urls``); one outcome each."""
    urls = dict(urls or {})
    wanted = names or (list(urls) if urls else list(OFFICIAL))
    unknown = [name for name in wanted if name not in OFFICIAL]
    if unknown:
        raise UserError(f"unknown source {unknown[0]!r}; updatable sources: {', '.join(OFFICIAL)}")
    outcomes = []
    for name in wanted:
        kind, official = OFFICIAL[name]
        url = urls.get(name, official)
        if progress:
            progress(f"fetching {name} from {url}")
        try:
            outcomes.append(_update_one(Path(db_dir), name, kind, url, timeout))
        except UserError as err:
            outcomes.append(Outcome(name, url, error=str(err)))
    return outcomes


def _update_one(db_dir: Path, name: str, kind: str, url: str, timeout: float) -> Outcome:
    if kind == "azure" and not url.lower().endswith(".json"):
        url = _azure_file_url(url, timeout)
    folder = store.sources_dir(db_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".download")
    staged_path = Path(staged)
    try:
        with os.fdopen(fd, "wb") as out:
            last_modified = _download(url, out, timeout)
        if last_modified is not None:  # formats without a date of their own get the server's
            os.utime(staged_path, (last_modified, last_modified))
        source = read_source(staged_path, kind)
        info = source.info
        basis = getattr(source, "date_basis", "content")
        if kind == "azure" and filename_date(Path(url)):
            info, basis = replace(info, date=filename_date(Path(url))), "filename"
        elif basis == "mtime":
            basis = "http-last-modified" if last_modified is not None else "download-time"
        info = replace(info, name=name)
        store.install(db_dir, staged_path, kind, name, info, basis, origin={"origin": "update", "from": url})
        store.compile_stored(db_dir, name)
        return Outcome(name, url, info=info, date_basis=basis)
    finally:
        staged_path.unlink(missing_ok=True)


def _download(url: str, out, timeout: float) -> float | None:
    """Stream ``url`` into ``out``; return its Last-Modified as a POSIX time, if it says."""
    request = urllib.request.Request(url, headers={"User-Agent": f"tracecheck/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https/http by design
            total = 0
            while chunk := response.read(1 << 16):
                total += len(chunk)
                if total > MAX_BYTES:
                    raise UserError(f"{url}: larger than {MAX_BYTES >> 20} MiB; refusing it")
                out.write(chunk)
            stamp = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as err:
        raise UserError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"{url}: {reason}; check the network or import the file with `tracecheck db import`") from None
    if not stamp:
        return None
    try:
        return email.utils.parsedate_to_datetime(stamp).timestamp()
    except (TypeError, ValueError):
        return None


def _azure_file_url(page_url: str, timeout: float) -> str:
    """Microsoft publishes a new dated file weekly and links it from the download page."""
    with tempfile.TemporaryFile() as page:
        _download(page_url, page, timeout)
        page.seek(0)
        html = page.read().decode("utf-8", "replace")
    links = sorted(set(re.findall(azure.FILE_LINK_PATTERN, html)))
    if page_url.lower().startswith("https:"):  # never step down from TLS to follow a link
        links = [link for link in links if link.lower().startswith("https:")]
    if not links:
        raise UserError(f"{page_url}: no ServiceTags_Public_YYYYMMDD.json link on the page; "
                        "download it by hand and use `tracecheck db import FILE --source azure`")
    return max(links, key=lambda link: re.search(r"_(\d{8})\.json$", link).group(1))  # the newest file
