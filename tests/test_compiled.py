"""The Cython-compiled modules (``tracecheck.compiled``) give the same bytes as their source, and
an edited source is never shadowed by a stale build in a source tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from call_scenarios import us_transcription_call, write_range_files
from capture_builders import many_destinations_pcap

from tracecheck import compiled

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "captures" / "demo-call.pcapng"
REPORT_FILES = ("report.json", "flows.csv", "report.html", "report.md", "manifest.json")


def _analyze(capture: Path, out: Path, db: Path, pure: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRACECHECK_PURE_PYTHON": "1" if pure else "0", "TRACECHECK_DB": str(db)}
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-m", "tracecheck", "--quiet", "analyze", str(capture), "--out", str(out),
                           "--format", "md"], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def _which(pure: bool) -> list[str]:
    env = {**os.environ, "TRACECHECK_PURE_PYTHON": "1" if pure else "0"}
    done = subprocess.run([sys.executable, "-c", "import tracecheck.compiled as c; print(*c.running_compiled())"],
                          capture_output=True, text=True, env=env, timeout=60, check=True)
    return done.stdout.split()


def test_pure_python_can_be_asked_for():
    assert _which(pure=True) == []


@pytest.mark.skipif(not compiled.running_compiled(), reason="the Cython build is not here (optional)")
@pytest.mark.parametrize("scenario", ["demo", "call", "many"])
def test_the_compiled_modules_write_the_reports_the_source_writes(tmp_path, scenario):
    assert _which(pure=False) == list(compiled.MODULES), "a module was left out of the build"
    db = tmp_path / "db"
    if scenario == "demo":
        capture = DEMO
    elif scenario == "call":  # SIP, RTP, TLS names, provider ranges imported: a violation with reasons
        ranges = write_range_files(tmp_path / "ranges")
        env = {**os.environ, "TRACECHECK_DB": str(db)}
        for provider, path in ranges.items():
            subprocess.run([sys.executable, "-m", "tracecheck", "--quiet", "db", "import", str(path), "--source", provider],
                           check=True, env=env, capture_output=True, timeout=120, cwd=ROOT)
        capture = us_transcription_call().write(tmp_path / "call.pcapng")
    else:
        capture = tmp_path / "many.pcap"
        many_destinations_pcap(capture, 3000)
    runs = {pure: _analyze(capture, tmp_path / f"out-{pure}", db, pure) for pure in (False, True)}
    assert runs[False].returncode == runs[True].returncode and runs[False].returncode in (0, 1), runs[False].stderr
    assert runs[False].stdout.replace("out-False", "out") == runs[True].stdout.replace("out-True", "out")
    for name in REPORT_FILES:
        assert (tmp_path / "out-False" / name).read_bytes() == (tmp_path / "out-True" / name).read_bytes(), name


def test_an_edited_source_wins_over_its_build_in_a_source_tree(tmp_path, monkeypatch):
    """The finder hands out the source when it is newer than the build, else the build."""
    import importlib.machinery

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    package = tmp_path / "pkg_compiled_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source, built = package / "mod.py", package / f"mod{suffix}"
    source.write_text("X = 1\n")
    built.write_bytes(b"not really a build")
    monkeypatch.setattr(compiled, "MODULES", ("pkg_compiled_probe.mod",))
    monkeypatch.setattr(compiled, "_SOURCE_TREE", True)
    monkeypatch.setattr(compiled, "_PURE", False)
    finder = compiled._SourceFinder()
    os.utime(source, ns=(1_000_000_000, 1_000_000_000))
    os.utime(built, ns=(2_000_000_000, 2_000_000_000))
    assert finder.find_spec("pkg_compiled_probe.mod", [str(package)]).origin == str(built)
    os.utime(source, ns=(3_000_000_000, 3_000_000_000))  # edited after the build
    assert finder.find_spec("pkg_compiled_probe.mod", [str(package)]).origin == str(source)
    monkeypatch.setattr(compiled, "_SOURCE_TREE", False)  # an installed copy: nobody edits it
    assert finder.find_spec("pkg_compiled_probe.mod", [str(package)]).origin == str(built)
    monkeypatch.setattr(compiled, "_PURE", True)
    assert finder.find_spec("pkg_compiled_probe.mod", [str(package)]).origin == str(source)
    assert finder.find_spec("pkg_compiled_probe.other", [str(package)]) is None  # not a compiled module


def test_setup_py_compiles_exactly_the_listed_modules():
    """setup.py reads the list from compiled.py: each is a module of the package, none defines a
    pydantic model (a compiled class body breaks pydantic)."""
    for name in compiled.MODULES:
        path = ROOT / (name.replace(".", "/") + ".py")
        assert path.is_file(), name
        assert "BaseModel" not in path.read_text(encoding="utf-8"), name


def test_every_compiled_part_is_optional(monkeypatch):
    """Without a C compiler the install must still succeed and run the source: setup.py marks each
    extension optional, the Cython ones too (cythonize's copies would otherwise drop the mark)."""
    import runpy

    import setuptools

    pytest.importorskip("Cython")
    given: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: given.update(kwargs))
    monkeypatch.setattr(sys, "argv", ["setup.py", "--name"])
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("TRACECHECK_CYTHON", raising=False)
    runpy.run_path(str(ROOT / "setup.py"))
    extensions = given["ext_modules"]
    assert {e.name for e in extensions} >= set(compiled.MODULES)
    assert [e.name for e in extensions if not getattr(e, "optional", False)] == []
