"""The suite runs from any checkout: shared data is found relative to it, never by an absolute
path, and a checkout without the shared data still collects (the tests that need it skip and
say why)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from support.paths import ROOT

_ABSOLUTE_WORK = re.compile(r"""["']/work/""")


def test_no_test_or_tool_names_an_absolute_checkout_path() -> None:
    files = [*ROOT.joinpath("tests").rglob("*.py"), *ROOT.joinpath("tools").iterdir()]
    offenders = [str(f.relative_to(ROOT)) for f in files
                 if f.is_file() and _ABSOLUTE_WORK.search(f.read_text(errors="replace"))]
    assert offenders == []


def test_a_checkout_without_shared_data_collects_and_says_why(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"  # a copy of this checkout with no ../shared beside it
    checkout.mkdir()
    shutil.copy(ROOT / "pyproject.toml", checkout)
    for folder in ("profiles", "tools", "tests"):
        shutil.copytree(ROOT / folder, checkout / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-rs", "-p", "no:cacheprovider",
         "tests/metrology"],
        cwd=checkout, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_engine.py" in done.stdout  # the rest of the folder is still collected
    assert "shared reference data not found" in done.stdout
    assert str(checkout.parent / "shared" / "vectors" / "metrology.json") in done.stdout
