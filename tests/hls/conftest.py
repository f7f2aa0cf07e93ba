"""Fixtures of the HLS-SHA256 / HLS-ECDSA tests: a fresh meter per test (default profile and the
suite-2 variant)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import HlsMeter


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[HlsMeter]:
    m = HlsMeter(tmp_path / "state")
    yield m
    m.device.close()


@pytest.fixture
def meter2(tmp_path: Path) -> Iterator[HlsMeter]:
    """profiles/acesm-suite2.toml: client 3 over suite 2."""
    m = HlsMeter(tmp_path / "state2", "acesm-suite2")
    yield m
    m.device.close()
