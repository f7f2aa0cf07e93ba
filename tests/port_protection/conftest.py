"""Fixtures of the port-protection tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Meter


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    m = Meter(tmp_path)
    yield m
    m.close()
