"""Fixtures of the key-management tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Meter

from .helpers import profile_with_suite1


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    m = Meter(tmp_path / "state")
    yield m
    m.close()


@pytest.fixture
def meter1(tmp_path: Path) -> Iterator[Meter]:
    """A meter that also has a suite-1 Security setup (0.0.43.0.3.255)."""
    m = Meter(tmp_path / "state", profile_with_suite1(tmp_path))
    yield m
    m.close()
