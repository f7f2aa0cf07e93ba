"""Pushes decided by the device on injected time (meter/device/pushes.py): triggers, the work
items handed to the edge, retries after repetition_delay up to number_of_retries, ciphering
under the Security setup's keys with counters that never repeat, the queue across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.meter import START, Meter
from support.process import profile_with

from meter import apdu as A
from meter.codec import axdr
from meter.codec.axdr import Array, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.names import PUSH_ON_CONNECTIVITY, PUSH_ON_INSTALLATION
from meter.device.pushes import PushWork
from meter.link.wrapper import WrapperPdu
from meter.security import gcm

INTERVAL = Obis.parse("0.1.25.9.0.255")
SERVER_TITLE = bytes.fromhex("4143450000000001")
#: The profile's [keys] (the management Security setup's).
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
DESTINATION = "127.0.0.1:4999"


def with_destination(tmp: Path, *, retries: int = 2, delay: str = "[30, 200, 100]",
                     randomisation: int = 60) -> Path:
    """acesm with every push setup sending to DESTINATION."""
    text = "".join(f'''
[[object]]
obis = "{name}"
class = "push_setup"
destination = "{DESTINATION}"
number_of_retries = {retries}
repetition_delay = {delay}
randomisation_start_interval = {randomisation if name == "0.1.25.9.0.255" else 0}
''' for name in ("0.7.25.9.0.255", "0.0.25.9.0.255", "0.1.25.9.0.255"))
    return profile_with(tmp, text)


@pytest.fixture
def meter(tmp_path: Path) -> Meter:
    m = Meter(tmp_path / "state", with_destination(tmp_path))
    yield m
    m.close()


def notification(work: PushWork) -> tuple[A.DataNotification, A.Apdu]:
    """The DataNotification a work item carries (deciphered) and the APDU on the wire."""
    pdu = WrapperPdu.from_bytes(work.data)
    assert (pdu.source_wport, pdu.destination_wport) == (1, 0x66)
    outer = A.decode_apdu(pdu.payload)
    inner = outer
    if isinstance(outer, A.GeneralGloCiphering):
        assert outer.system_title == SERVER_TITLE
        inner = A.decode_apdu(gcm.unprotect(outer.security_control, outer.system_title,
                                            outer.invocation_counter, EK, AK, outer.payload))
    assert isinstance(inner, A.DataNotification)
    return inner, outer


def deliver_all(meter: Meter) -> list[PushWork]:
    """Hand out what is due now and report it delivered."""
    device = meter.device
    work = device.push_work(meter.timebase.now())
    for w in work:
        device.push_done(w.job, True, "", meter.timebase.now())
    return work


def test_installation_push_on_first_start_only(tmp_path: Path, meter: Meter) -> None:
    work = deliver_all(meter)
    assert [w.setup for w in work] == [PUSH_ON_INSTALLATION]
    assert (work[0].host, work[0].port) == ("127.0.0.1", 4999)
    note, outer = notification(work[0])
    assert outer is note  # the profile leaves it plain
    name, ldn, serial, _firmware = note.body.items
    assert name == axdr.OctetString(PUSH_ON_INSTALLATION.to_bytes())
    assert serial == axdr.OctetString(b"0000000000001")
    assert ldn.value.startswith(b"ACE")
    meter.restart()
    assert meter.device.push_work(meter.timebase.now()) == []  # not a first start any more


def test_connectivity_and_method_push(meter: Meter) -> None:
    deliver_all(meter)
    meter.device.connected(meter.timebase.now())
    assert [w.setup for w in deliver_all(meter)] == [PUSH_ON_CONNECTIVITY]
    client = meter.management()
    client.action(40, INTERVAL, 1, axdr.Integer(0))
    assert meter.device.next_deadline() is not None
    meter.timebase.t += 60  # the end of the randomisation window
    work = deliver_all(meter)
    assert [w.setup for w in work] == [INTERVAL]
    note, outer = notification(work[0])
    assert isinstance(outer, A.GeneralGloCiphering)
    assert note.body.items[0] == axdr.OctetString(INTERVAL.to_bytes())


def test_interval_push_by_the_push_scheduler_within_the_randomisation_window(meter: Meter) -> None:
    deliver_all(meter)
    quarter = START + 15 * 60  # the scheduler runs the push script at 00:15
    meter.device.tick(quarter - 1)
    assert meter.device.push_work(quarter - 1) == []
    meter.device.tick(quarter)
    due = meter.device.next_deadline()
    assert due is not None and quarter <= due <= quarter + 60
    assert meter.device.push_work(due - 0.001) == []
    work = meter.device.push_work(due)
    assert [w.setup for w in work] == [INTERVAL]
    note, _ = notification(work[0])
    hour, minute = (note.date_time or b"")[5:7]  # COSEM date-time: the meter clock then
    assert hour == 0 and minute in (15, 16)


def test_retries_follow_repetition_delay_and_stop_at_number_of_retries(meter: Meter) -> None:
    deliver_all(meter)
    device = meter.device
    device.connected(meter.timebase.now())
    tries: list[tuple[float, int]] = []
    while (due := device.pushes.next_due()) is not None:
        work = device.push_work(due)
        assert [w.setup for w in work] == [PUSH_ON_CONNECTIVITY]
        tries.append((due, work[0].attempt))
        device.push_done(work[0].job, False, "ConnectionRefusedError", due)
    # repetition_delay [30 s, 200 %, at most 100 s]: 30 then 60; number_of_retries 2.
    first = tries[0][0]
    assert [(round(t - first, 3), n) for t, n in tries] == [(0, 0), (30, 1), (90, 2)]


def test_ciphered_pushes_use_the_setups_counter_once_each(meter: Meter) -> None:
    deliver_all(meter)
    client = meter.management()
    seen: list[int] = []
    for _ in range(3):
        client.action(40, INTERVAL, 1, axdr.Integer(0))
        meter.timebase.t += 61
        for w in meter.device.push_work(meter.timebase.now()):
            _, outer = notification(w)
            assert isinstance(outer, A.GeneralGloCiphering)
            seen.append(outer.invocation_counter)
            meter.device.push_done(w.job, False, "down", meter.timebase.now())  # retried: anew
    meter.timebase.t += 3600
    for w in meter.device.push_work(meter.timebase.now()):
        seen.append(notification(w)[1].invocation_counter)  # type: ignore[attr-defined]
    assert len(seen) > 6 and len(set(seen)) == len(seen)  # retries are ciphered anew
    # The association's own responses share that counter: none of them reused it either.
    assert max(seen) < meter.device.security_context(Obis.parse("0.0.43.0.0.255")).tx.next()


def test_queued_push_survives_a_restart_and_goes_once(meter: Meter) -> None:
    deliver_all(meter)
    meter.device.connected(meter.timebase.now())
    meter.device.commit()
    meter.restart()
    work = deliver_all(meter)
    assert [w.setup for w in work] == [PUSH_ON_CONNECTIVITY]
    meter.restart()
    assert deliver_all(meter) == []


def test_reset_drops_waiting_pushes(meter: Meter) -> None:
    deliver_all(meter)
    client = meter.management()
    client.action(40, INTERVAL, 1, axdr.Integer(0))
    client.action(40, INTERVAL, 2, axdr.Integer(0))
    meter.timebase.t += 120
    assert meter.device.push_work(meter.timebase.now()) == []


def test_no_destination_pushes_nothing(tmp_path: Path) -> None:
    m = Meter(tmp_path / "state")
    try:
        m.device.connected(m.timebase.now())
        assert m.device.push_work(m.timebase.now()) == []
        assert m.device.pushes.next_due() is None
        # A head end asking for a push with no destination programmed is told so.
        assert m.management().action_result(INTERVAL, 1, axdr.Integer(0), class_id=40)[0] == 250
    finally:
        m.close()


def test_a_history_back_fill_pushes_only_the_installation(tmp_path: Path) -> None:
    m = Meter(tmp_path / "state", with_destination(tmp_path), history=6 * 3600)
    try:
        # 24 push scheduler quarters were lived through: none of them is sent now.
        assert [w.setup for w in deliver_all(m)] == [PUSH_ON_INSTALLATION]
        m.timebase.t += 15 * 60 + 60  # the next quarter, live, and its window: pushed
        m.device.tick(m.timebase.now())
        assert [w.setup for w in deliver_all(m)] == [INTERVAL]
    finally:
        m.close()


def window(start: str, end: str) -> Array:
    return Array((Structure((OctetString(bytes.fromhex(start)), OctetString(bytes.fromhex(end)))),))


def test_a_push_waits_for_its_communication_window(meter: Meter) -> None:
    deliver_all(meter)
    client = meter.management()
    # Every day from 02:00 to 03:00 local (time zone 0): date and deviation wildcards.
    assert client.set(40, INTERVAL, 4, window("FFFFFFFFFF020000008000FF", "FFFFFFFFFF030000008000FF")) == 0
    client.action(40, INTERVAL, 1, axdr.Integer(0))
    meter.timebase.t += 120
    assert meter.device.push_work(meter.timebase.now()) == []
    two = START + 2 * 3600
    assert meter.device.pushes.next_due() == two
    # The method's push and the push scheduler's seven quarters up to 01:45 waited for it (the
    # 02:00 one is due within its randomisation minute).
    assert [w.setup for w in meter.device.push_work(two)] == [INTERVAL] * 8


def test_a_window_that_never_opens_again_holds_the_push(meter: Meter) -> None:
    deliver_all(meter)
    client = meter.management()
    assert client.set(40, INTERVAL, 4, window("07E50101FF000000008000FF", "07E50102FF000000008000FF")) == 0
    client.action(40, INTERVAL, 1, axdr.Integer(0))  # 2021's window is over
    assert meter.device.pushes.next_due() is None
    assert client.set(40, INTERVAL, 4, Array(())) == 0  # no window: any time
    assert meter.device.pushes.next_due() is not None
