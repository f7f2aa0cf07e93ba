"""Firmware update in the meter (profiles/acesm.toml, meter/device/firmware.py): a transfer kept
in the store across a crash, the new firmware identifier kept across a restart, activation by
the image activation schedule, and the block table bounded."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from device.helpers import crash
from support import FakeTimebase, Meter
from support.clients import MemoryClient

from meter.codec import axdr
from meter.codec.cosem_time import CosemDate, CosemTime
from meter.codec.obis import Obis
from meter.cosem.events import StandardEvent
from meter.cosem.image_transfer import TransferStatus
from meter.device import Device

from .images import blocks, image

IMAGE = Obis.parse("0.0.44.0.0.255")
SCHEDULE = Obis.parse("0.0.15.0.2.255")
FIRMWARE_ID = Obis.parse("1.0.0.2.0.255")
FIRMWARE_SIGNATURE = Obis.parse("1.0.0.2.8.255")
EVENT_LOG = Obis.parse("0.0.99.98.0.255")
BLOCK = 512  # the profile's image_block_size
START = datetime(2026, 3, 2, 10, tzinfo=timezone.utc).timestamp()


def call(m: MemoryClient, method: int, params: axdr.Data) -> int:
    return m.action_result(IMAGE, method, params, class_id=18)[0]


def initiate(m: MemoryClient, ident: bytes, size: int) -> int:
    return call(m, 1, axdr.Structure((axdr.OctetString(ident), axdr.DoubleLongUnsigned(size))))


def send(m: MemoryClient, n: int, block: bytes) -> int:
    return call(m, 2, axdr.Structure((axdr.DoubleLongUnsigned(n), axdr.OctetString(block))))


def read(m: MemoryClient, obis: Obis, attribute: int, class_id: int = 18) -> object:
    return m.get(class_id, obis, attribute).to_python()


def standard_codes(m: MemoryClient) -> list[int]:
    buffer = m.get(7, EVENT_LOG, 2)
    assert isinstance(buffer, axdr.Array)
    return [int(row.items[1].to_python()) for row in buffer.items]  # type: ignore[attr-defined]


def test_a_transfer_resumes_after_a_crash_and_the_new_firmware_survives_a_restart(tmp_path: Path) -> None:
    tb = FakeTimebase(START, scale=1.0)
    meter = Meter(tmp_path / "state", timebase=tb)
    raw = image("ACESM-0.2.0", 5000)
    parts = blocks(raw, BLOCK)
    m = meter.management()
    assert initiate(m, b"acesm-0.2.0", len(raw)) == 0
    for n in range(4):
        assert send(m, n, parts[n]) == 0
    crash(meter.device)  # kill -9: nothing committed after the last response
    meter.device = Device.open(meter.profile, meter.state_dir, tb)

    m = meter.management()
    assert read(m, IMAGE, 6) == TransferStatus.INITIATED
    assert initiate(m, b"acesm-0.2.0", len(raw)) == 0  # the same image: resumed
    assert read(m, IMAGE, 4) == 4
    for n in range(4, len(parts)):
        assert send(m, n, parts[n]) == 0
    assert read(m, IMAGE, 3) == "1" * len(parts)
    assert call(m, 3, axdr.Integer(0)) == 0
    assert read(m, IMAGE, 7) == [[len(raw), b"ACESM-0.2.0", raw[-64:]]]
    assert call(m, 4, axdr.Integer(0)) == 0
    assert read(m, IMAGE, 6) == TransferStatus.ACTIVATION_SUCCESSFUL
    meter.restart()

    r = meter.reader()
    assert read(r, FIRMWARE_ID, 2, 1) == b"ACESM-0.2.0"
    assert read(r, FIRMWARE_SIGNATURE, 2, 1) == raw[-64:]
    assert read(r, IMAGE, 6) == TransferStatus.ACTIVATION_SUCCESSFUL
    codes = standard_codes(r)
    assert codes.index(StandardEvent.FIRMWARE_READY_FOR_ACTIVATION) < codes.index(
        StandardEvent.FIRMWARE_ACTIVATED)
    meter.close()


def test_the_image_activation_schedule_activates_a_verified_image(tmp_path: Path) -> None:
    tb = FakeTimebase(START, scale=3600.0)
    meter = Meter(tmp_path / "state", timebase=tb)
    raw = image("ACESM-0.3.0", 1200)
    m = meter.management()
    assert initiate(m, b"fw", len(raw)) == 0
    for n, part in enumerate(blocks(raw, BLOCK)):
        assert send(m, n, part) == 0
    assert call(m, 3, axdr.Integer(0)) == 0
    when = axdr.Array((axdr.Structure((axdr.OctetString(CosemTime(12, 0, 0, 0).to_bytes()),
                                       axdr.OctetString(CosemDate(2026, 3, 2, None).to_bytes()))),))
    assert m.set(22, SCHEDULE, 4, when) == 0
    tb.t += 3600.0  # 11:00: not yet
    r = meter.reader()
    assert read(r, IMAGE, 6) == TransferStatus.VERIFICATION_SUCCESSFUL
    tb.t += 3600.0  # 12:00
    assert read(r, IMAGE, 6) == TransferStatus.ACTIVATION_SUCCESSFUL
    assert read(r, FIRMWARE_ID, 2, 1) == b"ACESM-0.3.0"
    meter.close()


def test_blocks_sent_again_keep_one_row_each_and_a_new_image_clears_them(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state", timebase=FakeTimebase(START))
    table = f"image/{IMAGE}"
    m = meter.management()
    assert initiate(m, b"fw", 3 * BLOCK) == 0
    for _ in range(3):
        assert send(m, 0, bytes(BLOCK)) == 0
        assert send(m, 0, bytes([1]) * BLOCK) == 0
    assert send(m, 1, bytes(BLOCK)) == 0
    assert meter.device.store.count(table) == 2
    assert initiate(m, b"other", 2 * BLOCK) == 0
    assert meter.device.store.count(table) == 0
    assert initiate(m, b"big", (1 << 20) + 1) != 0  # over [limits] max_image_bytes
    meter.close()
