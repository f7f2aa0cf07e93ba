"""Puts tests/ on sys.path so every folder imports the shared harness as ``support``
(pytest runs with --import-mode=importlib, which adds no test folder to sys.path itself)."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
