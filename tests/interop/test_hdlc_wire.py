"""HDLC on the wire with both client stacks: what actually crossed the socket.

A tap between client and meter records every byte the meter sent; our own HDLC framer then
shows that reading the load profile used frames longer than 255 bytes (the 11-bit length field
of frame format type 3, gurux-dlms negotiates 512-byte info fields) and segmented APDUs (S bit
set, for responses larger than one frame), and that every frame checks (HCS/FCS).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from meter.link.hdlc.frame import Framer

from .clients import DRIVERS, HDLC, READER, Endpoint
from .conftest import Meter

pytestmark = pytest.mark.interop

LOAD_PROFILE = "1.0.99.1.0.255"


@dataclass
class Tap:
    """A one-connection TCP relay that keeps what the meter sent."""

    target: Endpoint
    from_meter: bytearray = field(default_factory=bytearray)
    listener: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(HDLC, "127.0.0.1", self.listener.getsockname()[1])

    def _serve(self) -> None:
        client, _ = self.listener.accept()
        meter = socket.create_connection((self.target.host, self.target.port))
        threading.Thread(target=self._pump, args=(client, meter, None), daemon=True).start()
        self._pump(meter, client, self.from_meter)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while chunk := src.recv(65536):
                if keep is not None:
                    keep += chunk
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def tap(meter: Meter) -> Iterator[Tap]:
    t = Tap(meter.hdlc)
    yield t
    t.listener.close()


@pytest.mark.parametrize("client_name", ["gurux", "dlms-cosem"])
def test_long_and_segmented_frames(tap: Tap, client_name: str) -> None:
    driver = DRIVERS[client_name](tap.endpoint, READER, 0)
    if client_name == "gurux":
        # A PDU size above the 512-byte info field: a long GET block must be split into
        # segments (the driver's default PDU size fits one frame, which avoids segmentation).
        driver.client.maxReceivePDUSize = 4096  # type: ignore[attr-defined]
    driver.associate()
    rows = driver.read_profile_range(LOAD_PROFILE, datetime(2025, 12, 29, tzinfo=timezone.utc),
                                     datetime(2026, 1, 1, tzinfo=timezone.utc))
    driver.release()
    assert len(rows) >= 200  # about three days of 15-minute rows: several kilobytes

    frames = Framer().feed(bytes(tap.from_meter))
    assert frames, "no valid HDLC frame came back"
    sizes = [len(f.to_bytes()) - 2 for f in frames]  # frame length field excludes the flags
    assert any(f.segmented for f in frames), "the profile did not need a segmented response"
    if client_name == "gurux":
        # gurux-dlms negotiates 512-byte info fields: frames use the full 11-bit length field.
        assert max(sizes) > 255
    else:
        # dlms-cosem sends SNRM without parameters: the 128-byte default stands.
        assert max(sizes) <= 128 + 20
