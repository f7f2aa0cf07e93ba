"""Fixtures of the key-management tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import LocalMeter, profile_with_suite1


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[LocalMeter]:
    m = LocalMeter(tmp_path / "state")
    yield m
    m.device.close()


@pytest.fixture
def meter1(tmp_path: Path) -> Iterator[LocalMeter]:
    """A meter that also has a suite-1 Security setup (0.0.43.0.3.255)."""
    m = LocalMeter(tmp_path / "state", profile_with_suite1(tmp_path))
    yield m
    m.device.close()
