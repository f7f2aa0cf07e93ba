"""Issue 12 item 3: the link cut in the middle of a block transfer of the load profile, then the
client (gurux-dlms, as shipped) connects again and reads the whole profile, on the TCP wrapper
and on HDLC over TCP, plain (the reader) and glo-ciphered (the management client, HLS-GMAC).
A block transfer lives in its association, which ends with the connection: after the cut the
client associates anew and reads the range again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from interop.clients import HDLC, MANAGEMENT, READER, WRAPPER, Endpoint, GuruxDriver
from interop.conftest import next_invocation_counter

from .conftest import HISTORY, START, Served

pytestmark = pytest.mark.interop

LOAD_PROFILE = "1.0.99.1.0.255"
FIRST = datetime.fromtimestamp(START - HISTORY, timezone.utc)
END = datetime.fromtimestamp(START, timezone.utc) - timedelta(minutes=15)
ROWS = int(HISTORY) // 900 - 1  # 15-minute captures from FIRST+15 min up to END


def _read(endpoint: Endpoint) -> list[list[Any]]:
    driver = GuruxDriver(endpoint, READER)  # client max PDU 256: the profile takes many blocks
    driver.associate()
    try:
        return driver.read_profile_range(LOAD_PROFILE, FIRST, END)
    finally:
        driver.release()


@pytest.mark.parametrize("medium", ["tcp", "hdlc"])
def test_cut_after_block_3_then_the_client_reads_it_all(meter: Served, medium: str) -> None:
    endpoint = meter.tcp if medium == "tcp" else meter.hdlc
    whole = _read(endpoint)
    assert len(whole) == ROWS

    snapshot = meter.faults(cut_block=3)
    assert snapshot["settings"]["cut_times"] == 1
    driver = GuruxDriver(endpoint, READER)
    driver.associate()
    sent_before = meter.counters()["replies"]
    with pytest.raises(ConnectionError):
        driver.read_profile_range(LOAD_PROFILE, FIRST, END)
    driver.link.close()
    counters = meter.counters()
    assert counters["cuts"] == 1
    # Blocks 1, 2 and 3 went out, then nothing: the connection was closed behind block 3.
    assert counters["replies"] - sent_before == 3
    assert meter.snapshot()["settings"]["cut_times"] == 0  # the cut was one-shot

    # The client connects again and reads the same range whole.
    assert _read(endpoint) == whole
    assert meter.counters()["cuts"] == 1


def test_cut_repeats_as_often_as_asked(meter: Served) -> None:
    meter.faults(cut_block=2, cut_times=2)
    for _ in range(2):
        driver = GuruxDriver(meter.tcp, READER)
        driver.associate()
        with pytest.raises(ConnectionError):
            driver.read_profile_range(LOAD_PROFILE, FIRST, END)
        driver.link.close()
    assert meter.counters()["cuts"] == 2
    assert len(_read(meter.tcp)) == ROWS


@pytest.mark.parametrize("framing", [WRAPPER, HDLC])
def test_a_ciphered_block_transfer_is_cut_too(meter: Served, framing: str) -> None:
    """The management client's blocks are glo-ciphered: the block number is the stack's word."""
    endpoint = meter.endpoint(framing)
    meter.faults(cut_block=2)
    driver = GuruxDriver(endpoint, MANAGEMENT, next_invocation_counter(meter, framing))
    driver.associate()
    with pytest.raises(ConnectionError):
        driver.read_profile_range(LOAD_PROFILE, FIRST, END)
    driver.link.close()
    assert meter.counters()["cuts"] == 1
    driver = GuruxDriver(endpoint, MANAGEMENT, next_invocation_counter(meter, framing))
    driver.associate()
    try:
        assert len(driver.read_profile_range(LOAD_PROFILE, FIRST, END)) == ROWS
    finally:
        driver.release()
