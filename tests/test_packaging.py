"""What an install ships: every module of the package, the curated data, the templates."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_every_folder_of_modules_is_a_package_setup_py_finds():
    """A folder without __init__.py is left out of a wheel by find_packages (an editable install
    would still work, hiding it)."""
    found = set(find_packages(str(ROOT), include=["tracecheck", "tracecheck.*"]))
    folders = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "tracecheck").rglob("*.py")}
    assert folders <= found, sorted(folders - found)


def test_python_dash_m_runs_the_command_line():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "tracecheck", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tracecheck ")
