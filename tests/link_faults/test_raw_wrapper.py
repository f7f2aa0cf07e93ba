"""Link faults on the TCP wrapper as a raw socket client sees them: replies dropped, duplicated,
delayed, slowed; received frames dropped; connections refused; each counted, and all changed
live (through the service's ``faults``) while the connection stays open."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from support import WrapperClient

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis

from .conftest import MAX_UNSENT, Served, wait_for

LDN = Obis.parse("0.0.42.0.0.255")
SILENCE = 0.5  # s a reply that was dropped is waited for (a reply comes in milliseconds)


class Raw:
    """An associated public client whose GETs go out and come back as raw wrapper bytes."""

    def __init__(self, meter: Served) -> None:
        self.client = WrapperClient(meter.tcp.host, meter.tcp.port, client_sap=16, timeout=5)
        self.client.associate()
        self.sock = self.client.sock
        payload = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(1, LDN, 2), None).to_bytes()
        self.request = struct.pack(">HHHH", 1, 16, 1, len(payload)) + payload
        self.reply = self.get()  # one undisturbed exchange: what every reply must look like
        assert self.reply[8:10] == b"\xc4\x01"

    def send(self, count: int = 1) -> None:
        self.sock.sendall(self.request * count)

    def get(self) -> bytes:
        self.send()
        return self.read_reply()

    def read_reply(self, timeout: float = 5.0) -> bytes:
        """One wrapper PDU; TimeoutError if none comes within ``timeout``."""
        header = self._exactly(8, timeout)
        return header + self._exactly(struct.unpack(">H", header[6:8])[0], timeout)

    def _exactly(self, n: int, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def silent(self, seconds: float = SILENCE) -> bool:
        """Nothing arrives for ``seconds``."""
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(1)
        except TimeoutError:
            return True
        return False  # a byte came, or the meter closed the connection

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def raw(meter: Served) -> Raw:
    client = Raw(meter)
    meter.call(meter.service.faults.reset_counters)  # count from here
    yield client  # type: ignore[misc]
    client.close()


def test_drop_every_second_reply(meter: Served, raw: Raw) -> None:
    meter.faults(drop_every=2)
    assert raw.get() == raw.reply
    raw.send()
    assert raw.silent()  # the second reply was dropped
    assert raw.get() == raw.reply
    raw.send()
    assert raw.silent()
    assert meter.counters()["dropped"] == 2


def test_a_dropped_incoming_frame_gets_no_reply(meter: Served, raw: Raw) -> None:
    meter.faults(drop_in_every=2)
    assert raw.get() == raw.reply
    raw.send()
    assert raw.silent()
    assert raw.get() == raw.reply  # the stream stays in step: whole frames were dropped
    counters = meter.counters()
    assert counters["dropped_in"] == 1
    assert counters["received"] == 3


def test_a_duplicated_reply_comes_twice(meter: Served, raw: Raw) -> None:
    meter.faults(duplicate=1.0)
    raw.send()
    assert raw.read_reply() == raw.reply
    assert raw.read_reply() == raw.reply
    assert raw.silent()
    assert meter.counters()["duplicated"] == 1


def test_corrupted_wrapper_reply_changes_one_byte_of_the_apdu(meter: Served, raw: Raw) -> None:
    meter.faults(corrupt_every=1)
    bad = raw.get()
    assert bad[:8] == raw.reply[:8]  # the header stays: the stream keeps its framing
    assert sum(a != b for a, b in zip(bad, raw.reply, strict=True)) == 1
    meter.faults(corrupt_every=0)
    assert raw.get() == raw.reply
    assert meter.counters()["corrupted"] == 1


def test_delay_and_jitter_hold_replies_back_in_order(meter: Served, raw: Raw) -> None:
    meter.faults(delay=0.3, jitter=0.2, seed=7)
    t0 = time.monotonic()
    raw.send(3)
    replies = [raw.read_reply() for _ in range(3)]
    assert time.monotonic() - t0 >= 0.3
    assert replies == [raw.reply] * 3
    assert meter.counters()["delayed"] == 3


def test_faults_change_live_on_an_open_connection(meter: Served, raw: Raw) -> None:
    meter.faults(drop=1.0)
    raw.send()
    assert raw.silent()
    meter.faults(drop=0.0, delay=0.4)
    t0 = time.monotonic()
    assert raw.get() == raw.reply
    assert time.monotonic() - t0 >= 0.4
    meter.faults(delay=0.0)
    assert raw.get() == raw.reply
    counters = meter.counters()
    assert (counters["dropped"], counters["delayed"]) == (1, 1)
    assert meter.snapshot()["settings"]["delay"] == 0.0


def test_a_delay_never_blocks_other_connections(meter: Served, raw: Raw) -> None:
    other = Raw(meter)
    try:
        meter.faults(delay=2.0)
        t0 = time.monotonic()
        raw.send()
        wait_for(lambda: meter.counters()["delayed"] == 1)
        meter.faults(delay=0.0)  # only replies from now on go at once
        assert other.get() == other.reply
        assert time.monotonic() - t0 < 1.5  # not behind the held reply
        assert raw.read_reply() == raw.reply
        assert time.monotonic() - t0 >= 2.0
    finally:
        other.close()


def test_a_slow_meter_sends_its_bytes_at_byte_time(meter: Served, raw: Raw) -> None:
    meter.faults(byte_time=0.01)
    t0 = time.monotonic()
    raw.send()
    first = raw._exactly(1, 5.0)
    rest = raw._exactly(len(raw.reply) - 1, 5.0)
    assert first + rest == raw.reply
    assert time.monotonic() - t0 >= (len(raw.reply) - 1) * 0.01 * 0.9
    assert meter.counters()["slowed"] == 1


def test_refused_connections_are_counted_then_served_again(meter: Served) -> None:
    meter.faults(refuse=1.0)
    for _ in range(3):
        with socket.create_connection((meter.tcp.host, meter.tcp.port), timeout=5) as sock:
            assert sock.recv(1) == b""  # accepted and closed at once
    meter.faults(refuse=0.0, refuse_every=2)
    opened = []
    for _ in range(2):
        opened.append(socket.create_connection((meter.tcp.host, meter.tcp.port), timeout=5))
    first, second = opened
    second.settimeout(5)
    assert second.recv(1) == b""  # the second of two refused
    client = WrapperClient(meter.tcp.host, meter.tcp.port, timeout=5)
    try:
        client.associate()  # the third: served
        assert isinstance(client.get(1, LDN, 2), axdr.OctetString)
    finally:
        client.close()
        for sock in opened:
            sock.close()
    assert meter.counters()["refused"] == 4


def test_delayed_replies_stay_bounded_by_max_unsent(meter: Served, raw: Raw) -> None:
    """A client pipelining GETs at a meter that delays its replies by 5 s: the meter holds at
    most max_unsent_bytes of them (plus one read slice's replies), then stops reading."""
    meter.faults(delay=5.0)
    raw.sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        try:
            sent += raw.sock.send(raw.request * 64)
        except BlockingIOError:
            time.sleep(0.01)
    delayed = meter.counters()["delayed"]
    assert sent // len(raw.request) > 4 * delayed  # far more was sent than taken in
    assert delayed * len(raw.reply) <= MAX_UNSENT + 2048
    raw.sock.setblocking(True)
