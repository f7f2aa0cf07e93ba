"""A device in process on a fake clock (scale 100: the engine fast-forwards) for the control
tests that need no process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.meter import Meter
from support.timebase import FakeTimebase


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    m = Meter(tmp_path / "state", timebase=FakeTimebase(scale=100))
    try:
        yield m
    finally:
        m.close()
