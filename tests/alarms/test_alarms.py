"""Alarms, events and runtime injection on a meter in process with injected time (issue 10
items 2, 3, 6): what the head end sees in the registers, logs and pushes after an injected
cover-open, outage, sag; alarm filter, descriptor and reset; power failures of 5 s and 5 min
with exact durations; a sag threshold written by gurux-dlms changes what is detected.

Pushes are taken apart here (wrapper, DATA-NOTIFICATION) and by gurux-dlms's own
DataNotification handling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from support.meter import Meter
from support.process import profile_with

from meter import apdu as A
from meter.codec import axdr
from meter.codec.axdr import DoubleLongUnsigned
from meter.codec.obis import Obis
from meter.cosem.names import PUSH_ON_ALARM
from meter.device.injections import InjectionError
from meter.device.pushes import PushWork
from meter.link.wrapper import WrapperPdu

ALARM1, ALARM2 = Obis.parse("0.0.97.98.0.255"), Obis.parse("0.0.97.98.1.255")
FILTER1 = Obis.parse("0.0.97.98.10.255")
DESCRIPTOR1 = Obis.parse("0.0.97.98.20.255")
PF_ANY, PF_LONG = Obis.parse("0.0.96.7.21.255"), Obis.parse("0.0.96.7.9.255")
PF_THRESHOLD, PF_LOG = Obis.parse("0.0.96.7.20.255"), Obis.parse("1.0.99.97.0.255")
TERMINAL_COVERS, FRAUD_EVENTS = Obis.parse("0.0.96.20.5.255"), Obis.parse("0.0.96.15.1.255")
MAGNETIC = Obis.parse("0.0.96.20.10.255")
FRAUD_LOG, STANDARD_LOG = Obis.parse("0.0.99.98.1.255"), Obis.parse("0.0.99.98.0.255")
COMM_LOG, COMM_EVENTS = Obis.parse("0.0.99.98.5.255"), Obis.parse("0.0.96.15.5.255")
SAG_THRESHOLD, SAGS_L1 = "1.0.12.31.0.255", Obis.parse("1.0.32.32.0.255")
SAG_MAGNITUDE_L1 = Obis.parse("1.0.32.34.0.255")
FRAUD_BIT, OUTAGE_BITS, AUX_BIT, POWER_UP_BIT = 1 << 13, 0x7 << 28, 1 << 3, 1 << 2
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    """The default profile, its alarm push sent to a head end (nothing else is pushed)."""
    profile = profile_with(tmp_path, f'''
[[object]]
obis = "{PUSH_ON_ALARM}"
class = "push_setup"
destination = "127.0.0.1:4999"
''')
    m = Meter(tmp_path / "state", profile)
    yield m
    m.close()


def value(meter: Meter, name: Obis) -> int:
    data = meter.device.directory[name].value("value")
    assert isinstance(data, axdr.Data)
    return int(data.value)  # type: ignore[attr-defined]


def rows(meter: Meter, log: Obis) -> list[tuple[Any, ...]]:
    buffer = meter.device.directory[log].get(2, meter.device.context(None))
    decoded = axdr.decode(buffer.to_bytes())
    return [tuple(getattr(c, "value", c) for c in row.items) for row in getattr(decoded, "items", ())]


def when(raw: bytes) -> float:
    """A COSEM date-time (the meter's, UTC here) in seconds."""
    year = int.from_bytes(raw[0:2], "big")
    return datetime(year, raw[2], raw[3], raw[5], raw[6], raw[7], tzinfo=UTC).timestamp()


def gurux_notification(work: PushWork) -> Any:
    """gurux-dlms's reading of the pushed wrapper PDU."""
    from gurux_dlms import GXByteBuffer, GXReplyData
    from gurux_dlms.enums import Authentication, Command, InterfaceType
    from gurux_dlms.secure import GXDLMSSecureClient

    client = GXDLMSSecureClient(True, 0x66, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    reply, notify = GXReplyData(), GXReplyData()
    client.getData(GXByteBuffer(work.data), reply, notify)
    assert notify.command == Command.DATA_NOTIFICATION
    return notify


def alarm_pushes(meter: Meter, now: float) -> list[tuple[int, int]]:
    """The alarm pushes due at ``now`` (delivered): (alarm register 1, 2) each, as the test's
    own decoding and gurux-dlms read them alike."""
    device = meter.device
    out = []
    for work in device.push_work(now):
        device.push_done(work.job, True, "", now)
        assert work.setup == PUSH_ON_ALARM
        note = A.decode_apdu(WrapperPdu.from_bytes(work.data).payload)
        assert isinstance(note, A.DataNotification)
        name, _clock, one, two = note.body.items  # type: ignore[union-attr]
        assert name == axdr.OctetString(PUSH_ON_ALARM.to_bytes())
        ours = (one.value, two.value)  # type: ignore[union-attr]
        theirs = gurux_notification(work).value
        assert bytes(theirs[0]) == PUSH_ON_ALARM.to_bytes()
        assert (int(theirs[2]), int(theirs[3])) == ours
        out.append(ours)
    return out


def settle(meter: Meter, seconds: float, step: float = 1.0) -> None:
    """Let ``seconds`` of simulated time pass, ticking every ``step`` as the service does."""
    end = meter.timebase.t + seconds
    while meter.timebase.t < end:
        meter.timebase.t = min(meter.timebase.t + step, end)
        meter.device.tick(meter.timebase.t)


def test_a_cover_open_pushes_the_alarm_within_a_simulated_second(meter: Meter) -> None:
    t = meter.timebase.t = meter.timebase.t + 30
    meter.device.set_tamper(t, "terminal_cover", True)
    due = meter.device.next_deadline()
    assert due is not None and due <= t + 1.0
    assert alarm_pushes(meter, t + 1.0) == [(FRAUD_BIT, 0)]
    assert value(meter, TERMINAL_COVERS) == 1 and value(meter, FRAUD_EVENTS) == 1
    assert [r[1] for r in rows(meter, FRAUD_LOG)] == [40]
    # Closing it is logged (41) but raises no alarm; nor does opening it again while the
    # register still holds the bit (no new crossing of the monitor's threshold).
    meter.device.set_tamper(t + 5, "terminal_cover", False)
    meter.device.set_tamper(t + 6, "terminal_cover", True)
    meter.device.set_tamper(t + 7, "magnetic_field", True)
    assert alarm_pushes(meter, t + 8) == []
    assert [r[1] for r in rows(meter, FRAUD_LOG)] == [40, 41, 40, 42]
    assert value(meter, TERMINAL_COVERS) == 2 and value(meter, MAGNETIC) == 1
    assert value(meter, FRAUD_EVENTS) == 4


def test_a_power_failure_pushes_the_alarm_within_a_simulated_second(meter: Meter) -> None:
    settle(meter, 10)
    t = meter.timebase.t
    meter.device.inject_outage(t, 5.0)
    tick = meter.device.next_deadline()
    assert tick is not None and tick <= t + 1.0  # the service ticks right after the edge
    meter.device.tick(tick)
    assert alarm_pushes(meter, tick) == [(OUTAGE_BITS, 0)]
    # The head end clears the register (as OSGP does: it writes 0); the power up at the end
    # of the failure crosses the monitor's threshold again.
    client = meter.management()
    assert client.set(1, ALARM1, 2, DoubleLongUnsigned(0)) == 0
    assert value(meter, ALARM1) == 0
    settle(meter, 6)
    assert alarm_pushes(meter, meter.timebase.t) == [(POWER_UP_BIT, 0)]
    assert [r[1] for r in rows(meter, STANDARD_LOG)][-2:] == [1, 2]  # power down, power up


def test_filter_masks_a_bit_descriptor_latches_it_reset_clears_it(meter: Meter) -> None:
    client = meter.management()
    assert client.get(1, FILTER1, 2) == DoubleLongUnsigned(0x70002004)
    assert client.set(1, FILTER1, 2, DoubleLongUnsigned(0x70002004 & ~FRAUD_BIT)) == 0
    t = meter.timebase.t
    meter.device.set_tamper(t, "meter_cover", True)
    assert alarm_pushes(meter, t + 1) == []  # masked: never in the register, never pushed
    assert client.get(1, ALARM1, 2) == DoubleLongUnsigned(0)
    # Latched anyway, beside the (filtered) session bit of this client's association.
    assert client.get(1, DESCRIPTOR1, 2) == DoubleLongUnsigned(FRAUD_BIT | AUX_BIT)
    assert value(meter, Obis.parse("0.0.96.20.0.255")) == 1  # still counted and logged
    # The filter opened again, the next fraud event reaches the register and pushes.
    assert client.set(1, FILTER1, 2, DoubleLongUnsigned(0x70002004)) == 0
    meter.device.set_tamper(t + 2, "terminal_cover", True)
    assert alarm_pushes(meter, t + 3) == [(FRAUD_BIT, 0)]
    # A write keeps only the bits also written: the head end cannot raise one.
    assert client.set(1, ALARM1, 2, DoubleLongUnsigned(FRAUD_BIT | 1)) == 0
    assert client.get(1, ALARM1, 2) == DoubleLongUnsigned(FRAUD_BIT)
    assert client.set(1, DESCRIPTOR1, 2, DoubleLongUnsigned(0)) == 0  # the reset
    assert client.get(1, DESCRIPTOR1, 2) == DoubleLongUnsigned(0)
    assert client.set(1, ALARM1, 2, axdr.Unsigned(0)) != 0  # not its type: refused
    # Alarms persist: a restart keeps what the register holds.
    meter.reopen()
    assert value(meter, ALARM1) == FRAUD_BIT and value(meter, DESCRIPTOR1) == 0


def test_outages_of_5_s_and_5_min_count_and_log_exact_durations(meter: Meter) -> None:
    settle(meter, 10)
    start = meter.timebase.t
    meter.device.inject_outage(start, 5.0)
    settle(meter, 20)
    assert (value(meter, PF_ANY), value(meter, PF_LONG)) == (1, 0)
    assert rows(meter, PF_LOG) == []  # short: only counted (the log keeps long failures)
    second = meter.timebase.t
    meter.device.inject_outage(second, 300.0, phases=(1,))  # one phase is a power failure too
    settle(meter, 320, step=10)
    assert (value(meter, PF_ANY), value(meter, PF_LONG)) == (2, 1)
    [(end, duration)] = rows(meter, PF_LOG)
    assert duration == 300 and when(end) == pytest.approx(second + 300, abs=1)
    # The head end lowers the long threshold to 3 s: a 5 s failure is long now.
    client = meter.management()
    assert client.set(3, PF_THRESHOLD, 2, DoubleLongUnsigned(3)) == 0
    third = meter.timebase.t
    meter.device.inject_outage(third, 5.0)
    settle(meter, 10)
    assert (value(meter, PF_ANY), value(meter, PF_LONG)) == (3, 2)
    assert [d for _, d in rows(meter, PF_LOG)] == [300, 5]
    # Each phase's interruption is in the PQ log too (missing voltage, then voltage normal).
    pq = [r[1] for r in rows(meter, Obis.parse("0.0.99.98.4.255"))]
    assert pq.count(82) == 2 and pq.count(83) == 3  # L1 out twice, L2 thrice
    # The counts survive a restart.
    meter.reopen()
    assert (value(meter, PF_ANY), value(meter, PF_LONG)) == (3, 2)


def test_a_restart_after_the_meter_was_off_is_a_power_failure(meter: Meter) -> None:
    settle(meter, 5)
    meter.device.close()
    meter.timebase.t += 600  # off for ten minutes (no clean stop at that time)
    from meter.device.device import Device
    meter.device = Device.open(meter.profile, meter.state_dir, meter.timebase)
    assert (value(meter, PF_ANY), value(meter, PF_LONG)) == (1, 1)
    [(_, duration)] = rows(meter, PF_LOG)
    assert duration == 600


def gurux_management(meter: Meter) -> Any:
    from gurux_dlms.enums import Authentication
    from support.gurux_memory import GuruxMemoryClient

    g = GuruxMemoryClient(meter, 1, Authentication.HIGH_GMAC, None, title="4D4D4D0000000001",
                          ek=EK, ak=AK, invocation_counter=meter.next_ic())
    g.associate()
    return g


def test_a_sag_threshold_written_by_gurux_changes_what_is_detected(meter: Meter) -> None:
    from gurux_dlms.enums import DataType
    from gurux_dlms.objects import GXDLMSRegister

    settle(meter, 5)
    meter.device.inject_voltage(meter.timebase.t, "sag", 0.85, 2.0)  # 195.5 V < 207 V
    settle(meter, 5)
    assert value(meter, SAGS_L1) == 1 and value(meter, SAG_MAGNITUDE_L1) == 1955
    assert value(meter, ALARM2) == 0x7  # sag L1-L3
    g = gurux_management(meter)
    threshold = GXDLMSRegister(SAG_THRESHOLD)
    reply = g.exchange(g.client.read(threshold, 3))
    g.client.updateValue(threshold, 3, reply.value)
    assert threshold.unit == 35  # V
    threshold.value = 1800  # 180.0 V (scaler -1)
    threshold.scaler = 1  # gurux writes value / scaler: the raw count
    threshold.setDataType(2, DataType.UINT32)
    assert not g.exchange(g.client.write(threshold, 2)).error
    assert value(meter, Obis.parse(SAG_THRESHOLD)) == 1800
    meter.device.inject_voltage(meter.timebase.t, "sag", 0.85, 2.0)
    settle(meter, 5)
    assert value(meter, SAGS_L1) == 1  # 195.5 V is no sag below 180 V
    meter.device.inject_voltage(meter.timebase.t, "sag", 0.7, 2.0)  # 161 V is
    settle(meter, 5)
    assert value(meter, SAGS_L1) == 2 and value(meter, SAG_MAGNITUDE_L1) == 1610
    # gurux reads the counter the same
    counter = GXDLMSRegister(str(SAGS_L1))
    assert g.exchange(g.client.read(counter, 2)).value == 2
    # The threshold persists, and the detector takes it again after a restart.
    meter.reopen()
    meter.device.inject_voltage(meter.timebase.t, "sag", 0.85, 2.0)
    settle(meter, 5)
    assert value(meter, SAGS_L1) == 2


def test_sessions_go_to_the_communication_log_and_latch_their_filtered_bit(meter: Meter) -> None:
    client = meter.public()
    client.release()
    assert [r[1] for r in rows(meter, COMM_LOG)] == [231]
    assert value(meter, COMM_EVENTS) == 1
    assert value(meter, DESCRIPTOR1) & AUX_BIT and not value(meter, ALARM1) & AUX_BIT
    bad = meter.connect(32)
    with pytest.raises(Exception):  # noqa: B017 - the LLS secret is wrong: refused
        bad.associate(mechanism=1, secret=b"wrong!!!")
    assert [r[1] for r in rows(meter, COMM_LOG)] == [231, 232]


def test_injections_refuse_what_they_cannot_do_and_tamper_states_persist(meter: Meter) -> None:
    t = meter.timebase.t
    for bad in (lambda: meter.device.inject_voltage(t, "spike", 1.5, 1.0),
                lambda: meter.device.inject_voltage(t, "sag", 1.2, 1.0),
                lambda: meter.device.inject_voltage(t, "swell", 0.9, 1.0),
                lambda: meter.device.inject_outage(t, 0.0),
                lambda: meter.device.inject_outage(t, 5.0, phases=(3,)),
                lambda: meter.device.inject_outage(t, float("nan")),
                lambda: meter.device.set_tamper(t, "lid", True)):
        with pytest.raises(InjectionError):
            bad()
    meter.device.set_tamper(t, "meter_cover", True)
    meter.reopen()
    meter.device.set_tamper(t + 1, "meter_cover", True)  # still open: nothing new
    assert [r[1] for r in rows(meter, FRAUD_LOG)] == [44]
    meter.device.set_tamper(t + 2, "meter_cover", False)
    assert [r[1] for r in rows(meter, FRAUD_LOG)] == [44, 45]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    m = Meter(tmp_path_factory.mktemp("fuzz") / "state")
    yield m
    m.close()


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["sag", "swell", "outage", "", "SAG", "spike"]),
       scale=st.floats(allow_nan=True, allow_infinity=True),
       duration=st.floats(allow_nan=True, allow_infinity=True),
       phases=st.none() | st.lists(st.integers(-2, 5), max_size=4).map(tuple),
       tamper=st.text(max_size=16), active=st.booleans())
def test_any_injection_is_taken_or_refused_with_an_injection_error(
        shared: Meter, kind: str, scale: float, duration: float, phases: tuple[int, ...] | None,
        tamper: str, active: bool) -> None:
    device, tb = shared.device, shared.timebase
    tb.t += 1.0
    for call in (lambda: device.inject_voltage(tb.t, kind, scale, min(duration, 2.0), phases),
                 lambda: device.inject_outage(tb.t, min(duration, 2.0), phases),
                 lambda: device.set_tamper(tb.t, tamper, active)):
        try:
            call()
        except InjectionError:
            pass
    device.tick(tb.t + 0.5)  # and the meter measures on


def test_a_power_failure_running_at_a_restart_is_one_failure_to_the_restart(meter: Meter) -> None:
    assert meter.management().set(3, PF_THRESHOLD, 2, DoubleLongUnsigned(100)) == 0
    settle(meter, 10)
    start = meter.timebase.t
    meter.device.inject_outage(start, 3600.0)
    settle(meter, 60, step=10)
    assert value(meter, PF_ANY) == 0  # still running
    meter.restart()  # off for a minute: the same failure, until the meter is back
    assert (value(meter, PF_ANY), value(meter, PF_LONG)) == (1, 1)
    [(_, duration)] = rows(meter, PF_LOG)
    assert duration == 120
    settle(meter, 30)  # the injected outage did not outlive the restart: nothing more
    assert value(meter, PF_ANY) == 1
    meter.device.inject_outage(meter.timebase.t, 3600.0, phases=(0,))
    settle(meter, 20)
    meter.reopen()  # a clean stop and start at once: the running failure ends there
    assert value(meter, PF_ANY) == 2
    assert [d for _, d in rows(meter, PF_LOG)] == [120]  # 20 s: not long
