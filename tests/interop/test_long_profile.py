"""Issue 7 item 2: the management client (HLS-GMAC, glo-ciphered) of gurux-dlms and of dlms-cosem,
as shipped, reads 25 days of load profile through the wrapper with the client max PDU size both
use by default (0xFFFF) and gets every row: the meter's blocks leave room for the ciphering
around them, and a response it cannot send is still answered."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from .clients import DRIVERS, MANAGEMENT, WRAPPER
from .conftest import Meter, next_invocation_counter, serve

pytestmark = pytest.mark.interop

LOAD_PROFILE = "1.0.99.1.0.255"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the --start of serve()
DAYS = 25
PERIOD = timedelta(minutes=15)  # capture_period of the load profile (profiles/acesm.toml)
READ_TIMEOUT = 60.0  # s; the read takes ~2 s


def _attempt(read: Callable[[], list[list[Any]]]) -> list[list[Any]] | Exception:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - reported by the assertion on the result
        return exc


@pytest.fixture(scope="module")
def long_meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    with serve(tmp_path_factory.mktemp("long-profile"), history=f"{DAYS + 1}d") as started:
        yield started


@pytest.mark.parametrize("client_name", ["gurux", "dlms-cosem"])
def test_management_reads_25_days_of_load_profile_with_pdu_0xffff(long_meter: Meter,
                                                                   client_name: str) -> None:
    counter = next_invocation_counter(long_meter, WRAPPER)
    driver = DRIVERS[client_name](long_meter.endpoint(WRAPPER), MANAGEMENT, counter,  # type: ignore[call-arg]
                                  max_pdu=0xFFFF)
    driver.associate()
    end = START - timedelta(days=1)
    first = end - timedelta(days=DAYS)
    # In a thread: on a connection the meter closed, dlms-cosem spins instead of raising.
    result: list[Any] = []
    reader = threading.Thread(daemon=True, target=lambda: result.append(
        _attempt(lambda: driver.read_profile_range(LOAD_PROFILE, first, end))))
    reader.start()
    reader.join(READ_TIMEOUT)
    assert result, f"{client_name} got no answer within {READ_TIMEOUT} s"
    driver.release()
    rows = result[0]
    assert isinstance(rows, list), rows
    # The history starts at midnight of `first`: its first capture closes the 00:00-00:15 period.
    assert len(rows) == DAYS * 86400 // int(PERIOD.total_seconds())
    assert rows[0][0] == bytes((0x07, 0xE9, 12, 6, 6, 0, 15, 0, 0, 0, 0, 0))  # 2025-12-06 00:15
