"""Push setup (40 v2) programmed by a head end (management client, in memory): good programs
are taken and change what is pushed; mutated destinations and push object lists are refused
with a result code and leave the program as it was."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.meter import Meter

from meter.codec import axdr
from meter.codec.axdr import Array, Enum, Integer, LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.push_setup import object_definition
from meter.errors import AccessError, DataAccessResult

from .test_device_pushes import INTERVAL, notification

SUCCESS = DataAccessResult.SUCCESS
CLOCK = Obis.parse("0.0.1.0.0.255")
RESTRICTED = Structure((LongUnsigned(8), OctetString(CLOCK.to_bytes()), Integer(2), LongUnsigned(0),
                        Structure((Enum(1), axdr.NULL)), Array(())))
SHORT_NAME = Structure((LongUnsigned(8), OctetString(b"\x00"), Integer(2), LongUnsigned(0)))


def destination(raw: bytes, service: int = 0, message: int = 0) -> Structure:
    return Structure((Enum(service), OctetString(raw), Enum(message)))


@pytest.fixture(scope="module")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Meter:
    m = Meter(tmp_path_factory.mktemp("state"))
    yield m
    m.close()


def test_a_programmed_push_goes_where_and_with_what_it_was_told(meter: Meter) -> None:
    client = meter.management()
    assert client.set(40, INTERVAL, 3, destination(b"10.1.2.3:4061")) == SUCCESS
    assert client.set(40, INTERVAL, 2, Array((object_definition(8, CLOCK, 2),))) == SUCCESS
    assert client.set(40, INTERVAL, 5, LongUnsigned(0)) == SUCCESS
    client.action(40, INTERVAL, 1, Integer(0))
    work = meter.device.push_work(meter.timebase.now())
    assert [(w.host, w.port) for w in work] == [("10.1.2.3", 4061)]
    note, _ = notification(work[0])
    assert len(note.body.items) == 1 and isinstance(note.body.items[0], OctetString)
    meter.device.push_done(work[0].job, True, "", meter.timebase.now())


@pytest.mark.parametrize(("value", "result"), [
    (destination(b"no-port"), DataAccessResult.OTHER_REASON),
    (destination(b"host:99999"), DataAccessResult.OTHER_REASON),
    (destination(b"\xff\xfe:1"), DataAccessResult.OTHER_REASON),
    (destination(b"h" * 300 + b":1"), DataAccessResult.OTHER_REASON),
    (destination(b"host:1", service=1), DataAccessResult.OTHER_REASON),  # UDP
    (destination(b"host:1", message=1), DataAccessResult.OTHER_REASON),  # XML
    (Structure((Enum(0), OctetString(b"host:1"))), DataAccessResult.TYPE_UNMATCHED),
    (OctetString(b"host:1"), DataAccessResult.TYPE_UNMATCHED),
])
def test_bad_destinations_are_refused(meter: Meter, value: axdr.Data, result: int) -> None:
    client = meter.management()
    before = meter.device.directory.get(INTERVAL).value("send_destination_and_method")
    assert client.set(40, INTERVAL, 3, value) == result
    assert meter.device.directory.get(INTERVAL).value("send_destination_and_method") == before


@pytest.mark.parametrize(("value", "result"), [
    (Array((object_definition(1, CLOCK, 2),)), DataAccessResult.OTHER_REASON),  # wrong class
    (Array((object_definition(8, Obis.parse("9.9.9.9.9.9"), 2),)), DataAccessResult.OTHER_REASON),
    (Array((object_definition(8, CLOCK, 99),)), DataAccessResult.OTHER_REASON),  # no attribute
    (Array((RESTRICTED,)), DataAccessResult.OTHER_REASON),  # restricted by date
    (Array((SHORT_NAME,)), DataAccessResult.TYPE_UNMATCHED),
    (Array((Integer(1),)), DataAccessResult.TYPE_UNMATCHED),
])
def test_bad_push_object_lists_are_refused(meter: Meter, value: axdr.Data, result: int) -> None:
    client = meter.management()
    assert client.set(40, INTERVAL, 2, value) == result


def test_a_push_object_list_is_bounded(meter: Meter) -> None:
    setup = meter.device.directory.get(INTERVAL)
    assert setup is not None
    with pytest.raises(AccessError) as exc:  # more than a request PDU holds: a block transfer
        setup.set(2, Array((object_definition(8, CLOCK, 2),) * 65), meter.device.context(None))
    assert exc.value.result == DataAccessResult.OTHER_REASON


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), service=st.integers(0, 255), message=st.integers(0, 255))
def test_mutated_destinations_are_taken_only_when_valid(meter: Meter, raw: bytes, service: int,
                                                        message: int) -> None:
    client = meter.management()
    result = client.set(40, INTERVAL, 3, destination(raw, service, message))
    assert result in (SUCCESS, DataAccessResult.OTHER_REASON)
    setup = meter.device.directory.get(INTERVAL)
    if result == SUCCESS:
        assert service == 0 and message == 0
        assert raw == b"" or setup.destination is not None
