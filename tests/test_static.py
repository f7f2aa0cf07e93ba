"""Static checks that are part of the suite: mypy --strict on meter/ (config in pyproject.toml)
and ruff's bug-finding rules (pyflakes F, syntax E9, bugbear B) on meter/ and tools/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_mypy_strict() -> None:
    result = _run("mypy", "meter")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_bug_rules() -> None:
    result = _run("ruff", "check", "--select", "F,E9,B", "meter", "tools")
    assert result.returncode == 0, result.stdout + result.stderr
