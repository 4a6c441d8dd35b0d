"""Tests call ``analyze`` with keywords; the request record (analyze.AnalyzeRequest) is built here."""

from __future__ import annotations

from pathlib import Path

from tracecheck.analyze import AnalyzeRequest
from tracecheck.analyze import analyze as run_request


def analyze(paths, *, db_dir, policy_path=None, out_dir=None, formats=(), site=None, catalog_files=(),
            rdap=False, sign_key=None, force=False, progress=None):
    request = AnalyzeRequest(captures=tuple(Path(p) for p in paths), db_dir=Path(db_dir),
                             policy=Path(policy_path) if policy_path is not None else None,
                             out_dir=Path(out_dir) if out_dir is not None else None, formats=tuple(formats),
                             site=site, catalogs=tuple(Path(p) for p in catalog_files), rdap=rdap,
                             sign_key=Path(sign_key) if sign_key is not None else None, force=force)
    return run_request(request, progress)
