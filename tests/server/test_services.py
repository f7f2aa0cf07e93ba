"""GET, SET and ACTION on the wire (Green Book 9.3.6-9.3.8): normal, with-list, selective access,
block transfer both ways, and the data-access-results of refused requests."""

from __future__ import annotations

import datetime as dt

from support import LLS_SECRET, READER, START, Meter

from meter import apdu as A
from meter.apdu.initiate import Conformance
from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.errors import ActionResult, DataAccessResult

from .harness import CLOCK, ENERGY, LDN, LOAD_PROFILE

DAR = DataAccessResult
STATUS = Obis.parse("0.0.96.10.1.255")
ALGORITHM = Obis.parse("1.0.0.11.1.255")


def attr(class_id: int, obis: Obis, attribute: int) -> A.CosemAttributeDescriptor:
    return A.CosemAttributeDescriptor(class_id, obis, attribute)


def method(class_id: int, obis: Obis, method_id: int) -> A.CosemMethodDescriptor:
    return A.CosemMethodDescriptor(class_id, obis, method_id)


def get_result(c: object, class_id: int, obis: Obis, attribute: int) -> object:
    reply = c.exchange(A.GetRequestNormal(0xC1, attr(class_id, obis, attribute)))  # type: ignore[attr-defined]
    assert isinstance(reply, A.GetResponseNormal)
    return reply.result


def octets(t: float) -> axdr.OctetString:
    return axdr.OctetString(CosemDateTime.from_datetime(dt.datetime.fromtimestamp(t, dt.UTC)).to_bytes())


def by_range(t0: float, t1: float) -> A.SelectiveAccess:
    restricting = axdr.Structure((axdr.LongUnsigned(8), axdr.OctetString(CLOCK.to_bytes()),
                                  axdr.Integer(2), axdr.LongUnsigned(0)))
    return A.SelectiveAccess(1, axdr.Structure((restricting, octets(t0), octets(t1), axdr.Array(()))))


def by_entry(first: int, last: int, col0: int = 1, col1: int = 0) -> A.SelectiveAccess:
    return A.SelectiveAccess(2, axdr.Structure((axdr.DoubleLongUnsigned(first), axdr.DoubleLongUnsigned(last),
                                                axdr.LongUnsigned(col0), axdr.LongUnsigned(col1))))


# --- GET -------------------------------------------------------------------------------------

def test_get_with_list(meter: Meter) -> None:
    c = meter.reader()
    reply = c.exchange(A.GetRequestWithList(0xC1, ((attr(1, LDN, 2), None), (attr(3, ENERGY, 3), None),
                                                   (attr(3, ENERGY, 99), None), (attr(1, ENERGY, 2), None))))
    assert isinstance(reply, A.GetResponseWithList)
    ldn, scaler_unit, missing, wrong_class = reply.results
    assert ldn == axdr.OctetString(b"ACE0000000000001")
    assert scaler_unit == axdr.Structure((axdr.Integer(0), axdr.Enum(30)))
    assert missing == DAR.OBJECT_UNDEFINED
    assert wrong_class == DAR.OBJECT_CLASS_INCONSISTENT


def test_selective_access_by_range_and_entry(meter: Meter) -> None:
    c = meter.reader()
    full = c.get(7, LOAD_PROFILE, 2)
    assert isinstance(full, axdr.Array) and len(full.items) >= 3 * 96
    day = c.get(7, LOAD_PROFILE, 2, by_range(START - 86400, START - 86400 + 3600))
    assert isinstance(day, axdr.Array)
    assert 4 <= len(day.items) <= 5  # 15-minute captures within one hour, bounds inclusive
    assert all(row in full.items for row in day.items)
    entries = c.get(7, LOAD_PROFILE, 2, by_entry(2, 4))
    assert entries == axdr.Array(full.items[1:4])
    columns = c.get(7, LOAD_PROFILE, 2, by_entry(1, 2, 1, 2))
    assert isinstance(columns, axdr.Array)
    assert [len(row.items) for row in columns.items] == [2, 2]  # type: ignore[attr-defined]


def test_get_block_transfer_equals_unblocked(meter: Meter) -> None:
    whole = meter.reader().get(7, LOAD_PROFILE, 2)
    c = meter.reader(max_pdu=128)
    reply = c.exchange(A.GetRequestNormal(0xC1, attr(7, LOAD_PROFILE, 2)))
    assert isinstance(reply, A.GetResponseWithDataBlock) and reply.block_number == 1
    assert len(c.last_raw) <= 128
    blocks = [reply]
    while not blocks[-1].last_block:
        nxt = c.exchange(A.GetRequestNext(0xC1, blocks[-1].block_number))
        assert isinstance(nxt, A.GetResponseWithDataBlock)
        assert nxt.block_number == blocks[-1].block_number + 1 and len(c.last_raw) <= 128
        blocks.append(nxt)
    assert len(blocks) > 50
    assert axdr.decode(b"".join(b.result for b in blocks)) == whole  # type: ignore[misc]


def test_get_next_wrong_block_aborts(meter: Meter) -> None:
    c = meter.reader(max_pdu=128)
    first = c.exchange(A.GetRequestNormal(0xC1, attr(7, LOAD_PROFILE, 2)))
    assert isinstance(first, A.GetResponseWithDataBlock)
    reply = c.exchange(A.GetRequestNext(0xC1, 7))
    assert isinstance(reply, A.GetResponseWithDataBlock)
    assert reply.result == DAR.LONG_GET_ABORTED and reply.last_block
    again = c.exchange(A.GetRequestNext(0xC1, 1))
    assert isinstance(again, A.GetResponseWithDataBlock) and again.result == DAR.NO_LONG_GET_IN_PROGRESS


def test_block_transfer_in_ciphered_association_fits(meter: Meter) -> None:
    whole = meter.reader().get(7, LOAD_PROFILE, 2)
    c = meter.management(max_pdu=256)
    assert c.get(7, LOAD_PROFILE, 2) == whole


# --- SET -------------------------------------------------------------------------------------

def clock_seconds(c: object) -> float:
    value = c.get(8, CLOCK, 2)  # type: ignore[attr-defined]
    assert isinstance(value, axdr.OctetString)
    return CosemDateTime.from_bytes(value.value).to_datetime().timestamp()


def test_set_normal_clock(meter: Meter) -> None:
    c = meter.management()
    target = START + 3600
    assert c.set(8, CLOCK, 2, octets(target)) == DAR.SUCCESS
    assert abs(clock_seconds(c) - target) < 2


def test_set_with_list(meter: Meter) -> None:
    c = meter.management()
    reply = c.exchange(A.SetRequestWithList(
        0xC1, ((attr(1, ALGORITHM, 2), None), (attr(1, LDN, 2), None)),
        (axdr.Enum(2), axdr.OctetString(b"nope"))))
    assert isinstance(reply, A.SetResponseWithList)
    assert reply.results == (DAR.SUCCESS, DAR.READ_WRITE_DENIED)
    assert c.get(1, ALGORITHM, 2) == axdr.Enum(2)


def test_set_in_blocks(meter: Meter) -> None:
    c = meter.management()
    target = START + 7200
    raw = octets(target).to_bytes()
    first = c.exchange(A.SetRequestWithFirstDataBlock(0xC1, attr(8, CLOCK, 2), None, False, 1, raw[:6]))
    assert first == A.SetResponseDataBlock(0xC1, 1)
    last = c.exchange(A.SetRequestWithDataBlock(0xC1, True, 2, raw[6:]))
    assert last == A.SetResponseLastDataBlock(0xC1, DAR.SUCCESS, 2)
    assert abs(clock_seconds(c) - target) < 2


def test_set_block_out_of_order(meter: Meter) -> None:
    c = meter.management()
    raw = octets(START).to_bytes()
    c.exchange(A.SetRequestWithFirstDataBlock(0xC1, attr(8, CLOCK, 2), None, False, 1, raw[:6]))
    reply = c.exchange(A.SetRequestWithDataBlock(0xC1, True, 3, raw[6:]))
    assert isinstance(reply, A.SetResponseLastDataBlock) and reply.result == DAR.DATA_BLOCK_NUMBER_INVALID


# --- ACTION ----------------------------------------------------------------------------------

def test_action_normal_shift_time(meter: Meter) -> None:
    c = meter.management()
    before = clock_seconds(c)
    assert c.action(8, CLOCK, 6, axdr.Long(600)) is None
    assert 599 <= clock_seconds(c) - before <= 602


def test_action_with_list(meter: Meter) -> None:
    c = meter.management()
    reply = c.exchange(A.ActionRequestWithList(
        0xC1, (method(8, CLOCK, 6), method(3, ENERGY, 1)), (axdr.Long(60), axdr.Integer(0))))
    assert isinstance(reply, A.ActionResponseWithList)
    (ok, _), (refused, _) = reply.results
    assert ok == ActionResult.SUCCESS and refused == ActionResult.READ_WRITE_DENIED


def test_action_first_pblock(meter: Meter) -> None:
    c = meter.management()
    before = clock_seconds(c)
    raw = axdr.Long(-300).to_bytes()
    first = c.exchange(A.ActionRequestWithFirstPBlock(0xC1, method(8, CLOCK, 6), False, 1, raw[:1]))
    assert first == A.ActionResponseNextPBlock(0xC1, 1)
    last = c.exchange(A.ActionRequestWithPBlock(0xC1, True, 2, raw[1:]))
    assert isinstance(last, A.ActionResponseNormal) and last.result == ActionResult.SUCCESS
    assert -302 <= clock_seconds(c) - before <= -298


def test_action_single_pblock(meter: Meter) -> None:
    c = meter.management()
    reply = c.exchange(A.ActionRequestWithFirstPBlock(0xC1, method(8, CLOCK, 6), True, 1,
                                                      axdr.Long(1).to_bytes()))
    assert isinstance(reply, A.ActionResponseNormal) and reply.result == ActionResult.SUCCESS


# --- access rights ---------------------------------------------------------------------------

def test_reader_cannot_set_or_act(meter: Meter) -> None:
    c = meter.reader()
    assert c.set(8, CLOCK, 2, octets(START)) == DAR.READ_WRITE_DENIED
    reply = c.exchange(A.ActionRequestNormal(0xC1, method(8, CLOCK, 6), axdr.Long(1)))
    assert isinstance(reply, A.ActionResponseNormal) and reply.result == ActionResult.READ_WRITE_DENIED


def test_public_cannot_see_energy(meter: Meter) -> None:
    assert get_result(meter.public(), 3, ENERGY, 2) == DAR.OBJECT_UNDEFINED


def test_wrong_class_and_unknown_attribute(meter: Meter) -> None:
    c = meter.reader()
    assert get_result(c, 1, ENERGY, 2) == DAR.OBJECT_CLASS_INCONSISTENT
    assert get_result(c, 3, ENERGY, 42) == DAR.OBJECT_UNDEFINED
    assert get_result(c, 1, Obis.parse("1.2.3.4.5.6"), 2) == DAR.OBJECT_UNDEFINED


def test_energy_reset_refused(meter: Meter) -> None:
    c = meter.management()
    value = c.get(3, ENERGY, 2)
    reply = c.exchange(A.ActionRequestNormal(0xC1, method(3, ENERGY, 1), axdr.Integer(0)))
    assert isinstance(reply, A.ActionResponseNormal) and reply.result != ActionResult.SUCCESS
    after = c.get(3, ENERGY, 2)
    assert after.to_python() >= value.to_python()  # type: ignore[operator]


def test_get_without_block_transfer_conformance(meter: Meter) -> None:
    c = meter.connect(READER)
    c.associate(mechanism=1, secret=LLS_SECRET, max_pdu=128, conformance=Conformance.GET)
    assert get_result(c, 7, LOAD_PROFILE, 2) == DAR.OTHER_REASON
