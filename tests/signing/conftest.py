"""Fixtures of the signing tests: the HLS tests' fresh meter per test (tests/hls/conftest.py)."""

from __future__ import annotations

from tests.hls.conftest import meter, meter2  # noqa: F401
