"""Fixtures of the port-protection tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import LocalMeter


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[LocalMeter]:
    m = LocalMeter(tmp_path)
    yield m
    m.device.close()
