"""Image transfer (class 18) alone: every status, gaps, resume, refusals, activation and events
(meter/cosem/image_transfer.py rules 1-4)."""

from __future__ import annotations

from functools import partial

import pytest

from meter.codec.axdr import (
    Boolean, Data, DoubleLongUnsigned, Enum, Integer, OctetString, Structure)
from meter.codec.obis import Obis
from meter.cosem.data import Data as DataObject
from meter.cosem.events import StandardEvent
from meter.cosem.image_transfer import ImageTransfer, TransferStatus as S
from meter.cosem.names import ACTIVE_FIRMWARE_ID, ACTIVE_FIRMWARE_SIGNATURE, STANDARD_LOG
from meter.device.firmware import _open
from meter.errors import AccessError, DataAccessResult
from meter.security import ecc

from cosem.helpers import World, world

from .images import blocks, forged, image, manufacturer_key

LN = Obis(0, 0, 44, 0, 0, 255)
BLOCK = 256
INITIATE, BLOCK_TRANSFER, VERIFY, ACTIVATE = 1, 2, 3, 4


def make(block_size: int = BLOCK) -> tuple[World, ImageTransfer]:
    obj = ImageTransfer(LN, image_block_size=DoubleLongUnsigned(block_size))
    obj.verifier = partial(_open, ecc.point_bytes(manufacturer_key().public_key()))
    fw_id = DataObject(ACTIVE_FIRMWARE_ID, value=OctetString(b"ACESM-0.1.0"))
    fw_sig = DataObject(ACTIVE_FIRMWARE_SIGNATURE, value=OctetString(bytes(16)))
    return world(obj, fw_id, fw_sig), obj


def initiate(w: World, obj: ImageTransfer, ident: bytes, size: int) -> None:
    obj.action(INITIATE, Structure((OctetString(ident), DoubleLongUnsigned(size))), w.ctx())


def send(w: World, obj: ImageTransfer, n: int, block: bytes) -> None:
    obj.action(BLOCK_TRANSFER, Structure((DoubleLongUnsigned(n), OctetString(block))), w.ctx())


def refused(call: object, result: DataAccessResult = DataAccessResult.OTHER_REASON) -> None:
    with pytest.raises(AccessError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.result == result


def status(w: World, obj: ImageTransfer) -> int:
    value = obj.get(6, w.ctx())
    assert isinstance(value, Enum)
    return value.value


def codes(w: World) -> list[int]:
    return [code for log, code in w.events if log == STANDARD_LOG]


def value(w: World, obis: Obis) -> Data:
    obj = w.directory.get(obis)
    assert obj is not None
    return obj.get(2, w.ctx())


def test_transfer_with_gaps_verify_and_activate_walks_the_status_enum() -> None:
    w, obj = make()
    raw = image("ACESM-0.2.0", 2000)
    parts = blocks(raw, BLOCK)
    assert status(w, obj) == S.NOT_INITIATED
    initiate(w, obj, b"fw-0.2.0", len(raw))
    assert status(w, obj) == S.INITIATED
    for n, part in enumerate(parts):
        if n not in (2, 5):  # two blocks lost on the way
            send(w, obj, n, part)
    ctx = w.ctx()
    assert obj.get(3, ctx).to_python() == "".join("0" if n in (2, 5) else "1" for n in range(len(parts)))
    assert obj.get(4, ctx) == DoubleLongUnsigned(2)
    refused(lambda: obj.action(VERIFY, Integer(0), w.ctx()))  # incomplete
    assert status(w, obj) == S.VERIFICATION_FAILED and codes(w) == [51]
    send(w, obj, 2, parts[2])
    assert status(w, obj) == S.INITIATED and obj.get(4, w.ctx()) == DoubleLongUnsigned(5)
    send(w, obj, 5, parts[5])
    assert obj.get(4, w.ctx()) == DoubleLongUnsigned(len(parts))
    obj.action(VERIFY, Integer(0), w.ctx())
    assert status(w, obj) == S.VERIFICATION_SUCCESSFUL and codes(w) == [51, 17]
    info = obj.get(7, w.ctx())
    assert info.to_python() == [[len(raw), b"ACESM-0.2.0", raw[-64:]]]
    obj.action(ACTIVATE, Integer(0), w.ctx())
    assert status(w, obj) == S.ACTIVATION_SUCCESSFUL and codes(w) == [51, 17, 18]
    assert value(w, ACTIVE_FIRMWARE_ID) == OctetString(b"ACESM-0.2.0")
    assert value(w, ACTIVE_FIRMWARE_SIGNATURE) == OctetString(raw[-64:])
    assert {o.logical_name for o in w.changes} >= {ACTIVE_FIRMWARE_ID, ACTIVE_FIRMWARE_SIGNATURE}
    refused(lambda: send(w, obj, 0, parts[0]))  # the transfer is over
    refused(lambda: obj.action(ACTIVATE, Integer(0), w.ctx()))


def test_a_forged_image_fails_verification_and_cannot_be_activated() -> None:
    w, obj = make()
    raw = forged(size=700)
    initiate(w, obj, b"evil", len(raw))
    for n, part in enumerate(blocks(raw, BLOCK)):
        send(w, obj, n, part)
    refused(lambda: obj.action(VERIFY, Integer(0), w.ctx()))
    assert status(w, obj) == S.VERIFICATION_FAILED and codes(w) == [51]
    assert obj.get(7, w.ctx()).to_python() == []
    refused(lambda: obj.action(ACTIVATE, Integer(0), w.ctx()))
    assert status(w, obj) == S.ACTIVATION_FAILED and codes(w) == [51, 51]
    assert value(w, ACTIVE_FIRMWARE_ID) == OctetString(b"ACESM-0.1.0")


def test_activate_verifies_an_unverified_image_first() -> None:
    w, obj = make()
    raw = image("ACESM-0.3.0", 600)
    initiate(w, obj, b"x", len(raw))
    for n, part in enumerate(blocks(raw, BLOCK)):
        send(w, obj, n, part)
    obj.action(ACTIVATE, Integer(0), w.ctx())
    assert status(w, obj) == S.ACTIVATION_SUCCESSFUL and codes(w) == [18]
    assert value(w, ACTIVE_FIRMWARE_ID) == OctetString(b"ACESM-0.3.0")


def test_the_same_identifier_and_size_resume_and_another_starts_afresh() -> None:
    w, obj = make()
    raw = image(size=1500)
    parts = blocks(raw, BLOCK)
    initiate(w, obj, b"fw", len(raw))
    send(w, obj, 0, parts[0])
    send(w, obj, 1, parts[1])
    initiate(w, obj, b"fw", len(raw))  # a head end back after a dropped connection
    assert obj.get(4, w.ctx()) == DoubleLongUnsigned(2)
    initiate(w, obj, b"fw-other", len(raw))
    assert obj.get(4, w.ctx()) == DoubleLongUnsigned(0)
    assert obj.get(3, w.ctx()).to_python() == "0" * len(parts)


def test_a_block_after_verification_asks_for_verification_again() -> None:
    w, obj = make()
    raw = image(size=600)
    parts = blocks(raw, BLOCK)
    initiate(w, obj, b"fw", len(raw))
    for n, part in enumerate(parts):
        send(w, obj, n, part)
    obj.action(VERIFY, Integer(0), w.ctx())
    send(w, obj, 0, bytes(len(parts[0])))  # overwritten with zeros
    assert status(w, obj) == S.INITIATED and obj.get(7, w.ctx()).to_python() == []
    refused(lambda: obj.action(ACTIVATE, Integer(0), w.ctx()))
    assert status(w, obj) == S.ACTIVATION_FAILED


@pytest.mark.parametrize("number, length", [(3, 256), (0, 255), (0, 257), (2, 256), (2, 87)])
def test_a_block_out_of_range_or_of_the_wrong_length_is_refused(number: int, length: int) -> None:
    w, obj = make()
    initiate(w, obj, b"fw", 600)  # blocks 0, 1 of 256 bytes and block 2 of 88
    refused(lambda: send(w, obj, number, bytes(length)))
    assert obj.get(4, w.ctx()) == DoubleLongUnsigned(0)
    send(w, obj, 2, bytes(88))


def test_initiate_bounds_and_the_enabled_switch() -> None:
    w, obj = make()
    obj.max_image_size = 4096
    refused(lambda: initiate(w, obj, b"fw", 4097))
    refused(lambda: initiate(w, obj, b"fw", 0))
    refused(lambda: initiate(w, obj, bytes(256), 100))
    refused(lambda: send(w, obj, 0, bytes(100)))  # nothing initiated
    refused(lambda: obj.action(VERIFY, Integer(0), w.ctx()))
    initiate(w, obj, b"fw", 100)
    obj.set(5, Boolean(False), w.ctx())
    refused(lambda: initiate(w, obj, b"fw", 100), DataAccessResult.READ_WRITE_DENIED)
    refused(lambda: send(w, obj, 0, bytes(100)), DataAccessResult.READ_WRITE_DENIED)
    assert status(w, obj) == S.INITIATED
    with pytest.raises(AccessError) as caught:
        obj.action(INITIATE, OctetString(b"fw"), w.ctx())
    assert caught.value.result == DataAccessResult.TYPE_UNMATCHED


@pytest.mark.parametrize("index", [2, 3, 4, 6, 7])
def test_the_meters_attributes_are_not_writable(index: int) -> None:
    w, obj = make()
    refused(lambda: obj.set(index, obj.get(index, w.ctx()), w.ctx()),
            DataAccessResult.READ_WRITE_DENIED)


def test_without_a_manufacturer_key_every_image_fails_verification() -> None:
    w, obj = make()
    obj.verifier = None
    raw = image(size=100)
    initiate(w, obj, b"fw", len(raw))
    send(w, obj, 0, raw)
    refused(lambda: obj.action(VERIFY, Integer(0), w.ctx()))
    assert status(w, obj) == S.VERIFICATION_FAILED


def test_state_round_trips_through_dump_and_load() -> None:
    w, obj = make()
    initiate(w, obj, b"fw", 600)
    again = ImageTransfer(LN)
    again.load_state(obj.dump_state())
    assert (again.identifier, again.size, again.status) == (b"fw", 600, S.INITIATED)
    assert StandardEvent.FIRMWARE_ACTIVATED.log == STANDARD_LOG
