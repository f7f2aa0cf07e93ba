"""Fixtures of the server tests: a fresh meter on a tmp state dir with three days of history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Meter

from .harness import HISTORY


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    m = Meter(tmp_path / "state", history=HISTORY)
    yield m
    m.close()
