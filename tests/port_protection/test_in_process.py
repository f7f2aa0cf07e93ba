"""Port protection end to end in-process: Device + MeterStack on a fake timebase (no sleeps).

N wrong LLS passwords lock the TCP port; while locked even the correct password gets the AARE of
a wrong one (and counts); the lock runs on real time (the fake timebase's ``mono``), not on
the meter clock; the public client never notices; after the lockout a correct client gets in; the
object (read with the management association) and the fraud log show what happened; the HDLC
port has its own object and stays open.
"""

from __future__ import annotations

import logging

import pytest
from support import LLS_SECRET, MANAGEMENT, PUBLIC, READER, ClientError, Keys, Meter

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.device.device import Device
from meter.security import gcm

TCP_GUARD = Obis.parse("0.0.44.2.0.255")
HDLC_GUARD = Obis.parse("0.0.44.2.1.255")
HDLC_SETUP = Obis.parse("0.0.22.0.0.255")
TCP_SETUP = Obis.parse("0.0.25.0.0.255")
FRAUD_LOG = Obis.parse("0.0.99.98.1.255")
LAST_FRAUD = Obis.parse("0.0.96.11.1.255")
LDN = Obis.parse("0.0.42.0.0.255")


def lls(meter: Meter, secret: bytes, port: Obis | None = None) -> bytes:
    """The raw AARE payload the reader association gets for ``secret``."""
    c = meter.connect(READER, port)
    aarq = A.AARQ(application_context_name=1, sender_acse_requirements=True, mechanism_name=1,
                  calling_authentication_value=secret,
                  user_information=A.InitiateRequest(
                      proposed_conformance=A.Conformance(0x1C1F), client_max_receive_pdu_size=0xFFFF
                  ).to_bytes())
    reply = c.exchange_raw(aarq.to_bytes())
    c.close()
    return reply


def accepted(reply: bytes) -> bool:
    aare = A.decode_apdu(reply)
    assert isinstance(aare, A.AARE)
    return aare.result == 0


def guard_values(meter: Meter, guard: Obis, port: Obis | None = None) -> list[object]:
    """protection_status, failed_attempts, cumulative_failed_attempts read by the management client."""
    c = meter.connect(MANAGEMENT, port)
    c.associate(mechanism=5, keys=meter.keys())
    values = [c.get(124, guard, i) for i in (8, 9, 10)]
    c.release()
    return [v.to_python() for v in values]  # type: ignore[attr-defined]


def fraud_codes(meter: Meter) -> list[int]:
    log = meter.device.directory[FRAUD_LOG].get(2, meter.device.context(None))
    log = axdr.decode(log.to_bytes())  # the buffer comes pre-encoded
    return [row.items[1].value for row in getattr(log, "items", ())]


def test_wrong_passwords_lock_the_port_and_the_lock_runs_out(meter: Meter) -> None:
    wrong = [lls(meter, b"guess-%d" % i) for i in range(3)]
    assert not any(accepted(r) for r in wrong)
    aare = A.decode_apdu(wrong[0])
    assert isinstance(aare, A.AARE)
    assert (aare.result, aare.diagnostic_source, aare.diagnostic) == (
        1, 1, A.AcseServiceUser.AUTHENTICATION_FAILURE)

    # Locked: the right password gets exactly the answer of a wrong one, and counts as a
    # failed attempt like any refused authentication (the 4th: the lock is now 120 s).
    assert lls(meter, LLS_SECRET) == wrong[0]
    guard = meter.device.directory[TCP_GUARD]
    assert guard.value("failed_attempts") == axdr.DoubleLongUnsigned(4)

    # The public client never needs authentication: never locked out.
    c = meter.connect(PUBLIC)
    c.associate()
    assert isinstance(c.get(1, LDN, 2), axdr.OctetString)

    # The management association is locked out of this port too (HLS is authentication: the
    # 5th failure, 240 s)...
    try:
        meter.connect(MANAGEMENT).associate(mechanism=5, keys=meter.keys())
        raise AssertionError("a locked port let HLS in")
    except ClientError:
        pass
    # ...but reads the lock over the HDLC port, which has its own protection object.
    assert guard_values(meter, TCP_GUARD, port=HDLC_SETUP) == [1, 5, 5]
    assert guard_values(meter, HDLC_GUARD, port=HDLC_SETUP) == [0, 0, 0]

    # The lock runs on real time: hours of meter time (a time scale, a clock set) end nothing.
    meter.timebase.t += 3600
    assert meter.device.port_locked(TCP_SETUP)
    meter.timebase.mono += 239
    assert meter.device.port_locked(TCP_SETUP)
    meter.timebase.mono += 1  # 240 real seconds after the 5th failure
    assert accepted(lls(meter, LLS_SECRET))
    assert guard_values(meter, TCP_GUARD) == [0, 0, 5]
    # The failures of one burst make one entry (event_throttle.py), the lock its own.
    assert fraud_codes(meter).count(46) == 2
    assert meter.device.directory[LAST_FRAUD].value("value") == axdr.Unsigned(46)


def test_lockout_grows_after_the_first_lock(meter: Meter) -> None:
    for i in range(3):
        lls(meter, b"x%d" % i)
    meter.timebase.mono += 60
    lls(meter, b"fourth")  # the 4th consecutive failure: 60 * 2 s
    meter.timebase.mono += 119
    assert meter.device.port_locked(TCP_SETUP)
    meter.timebase.mono += 1
    assert accepted(lls(meter, LLS_SECRET))


def failed_hls(meter: Meter) -> None:
    """An HLS-GMAC association whose pass 3 carries a wrong f(StoC)."""
    c = meter.connect(MANAGEMENT)
    keys = meter.keys()
    ic = keys.invocation_counter
    keys.invocation_counter += 1
    user_info = A.CipheredApdu(0x21, 0x30, ic, gcm.protect(
        0x30, keys.system_title, ic, keys.ek, keys.ak, A.InitiateRequest(
            proposed_conformance=A.Conformance(0x1C1F), client_max_receive_pdu_size=0xFFFF).to_bytes()))
    aare = A.decode_apdu(c.exchange_raw(A.AARQ(
        application_context_name=3, calling_ap_title=keys.system_title, sender_acse_requirements=True,
        mechanism_name=5, calling_authentication_value=bytes(16),
        user_information=user_info.to_bytes()).to_bytes()))
    assert isinstance(aare, A.AARE) and aare.result == 0
    c.keys, c.server_title = keys, aare.responding_ap_title
    try:
        c.action(15, Obis.parse("0.0.40.0.0.255"), 1, axdr.OctetString(bytes(17)))
        raise AssertionError("a wrong f(StoC) was accepted")
    except ClientError:
        pass
    c.close()


def test_failed_hls_counts_and_reset_unlocks(meter: Meter) -> None:
    for _ in range(3):
        failed_hls(meter)
    assert meter.device.directory[TCP_GUARD].value("failed_attempts") == axdr.DoubleLongUnsigned(3)
    assert not accepted(lls(meter, LLS_SECRET))  # refused while locked: a 4th failure
    # The management client on the other port resets the locked one.
    c = meter.connect(MANAGEMENT, HDLC_SETUP)
    c.associate(mechanism=5, keys=meter.keys())
    c.action(124, TCP_GUARD, 1, axdr.Integer(0))
    c.release()
    assert accepted(lls(meter, LLS_SECRET))
    assert guard_values(meter, TCP_GUARD) == [0, 0, 4]


def test_lock_survives_a_restart(meter: Meter) -> None:
    for i in range(3):
        lls(meter, b"y%d" % i)
    meter.timebase.mono += 20
    meter.device.close()
    meter.timebase.mono = 1000.0  # the new process's monotonic clock starts elsewhere
    meter.device = Device.open(meter.profile, meter.state_dir, meter.timebase)
    assert meter.device.port_locked(TCP_SETUP)
    meter.timebase.mono += 39
    assert meter.device.port_locked(TCP_SETUP)
    meter.timebase.mono += 1  # the 40 s the lock had left at shutdown
    assert accepted(lls(meter, LLS_SECRET))
    assert meter.device.directory[TCP_GUARD].value("cumulative_failed_attempts") == \
        axdr.DoubleLongUnsigned(3)


def hls_aarq(meter: Meter, keys: Keys) -> bytes:
    """The raw AARE to an HLS-GMAC AARQ whose InitiateRequest is ciphered with ``keys``."""
    c = meter.connect(MANAGEMENT)
    ic = keys.invocation_counter
    user_info = A.CipheredApdu(0x21, 0x30, ic, gcm.protect(
        0x30, keys.system_title, ic, keys.ek, keys.ak, A.InitiateRequest(
            proposed_conformance=A.Conformance(0x1C1F), client_max_receive_pdu_size=0xFFFF).to_bytes()))
    reply = c.exchange_raw(A.AARQ(
        application_context_name=3, calling_ap_title=keys.system_title, sender_acse_requirements=True,
        mechanism_name=5, calling_authentication_value=bytes(16),
        user_information=user_info.to_bytes()).to_bytes())
    c.close()
    return reply


def test_key_guessing_counts_and_a_locked_port_is_no_oracle(meter: Meter) -> None:
    """Issue 7 item 13: an AARQ that does not decipher (a wrong key) is a failed authentication;
    once locked, wrong and right credentials of any mechanism get the same bytes."""
    wrong = [hls_aarq(meter, meter.keys(ak=bytes(16))) for _ in range(3)]
    aare = A.decode_apdu(wrong[0])
    assert isinstance(aare, A.AARE)
    assert (aare.result, aare.diagnostic) == (1, A.AcseServiceUser.AUTHENTICATION_FAILURE)
    guard = meter.device.directory[TCP_GUARD]
    assert guard.value("failed_attempts") == axdr.DoubleLongUnsigned(3)
    assert meter.device.port_locked(TCP_SETUP)

    assert hls_aarq(meter, meter.keys()) == wrong[0]  # the right key: the same answer
    assert hls_aarq(meter, meter.keys(ek=bytes(16))) == wrong[0]
    assert lls(meter, LLS_SECRET) == lls(meter, b"wrong")
    assert guard.value("failed_attempts") == axdr.DoubleLongUnsigned(7)


def test_a_burst_of_failures_is_one_fraud_log_entry(meter: Meter, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 7 item 13: 1,000 failures do not overflow the 500-entry fraud log; one entry per
    event code per minute of real time, the repeats counted into the next entry's log line."""
    before = len(fraud_codes(meter))
    guard = meter.device.directory[TCP_GUARD]
    for i in range(1000):
        lls(meter, b"guess-%d" % i)
        hls_aarq(meter, meter.keys(ak=bytes(16)))
    assert guard.value("cumulative_failed_attempts") == axdr.DoubleLongUnsigned(2000)
    # 46 (failed authentication), 49 (AARQ did not decipher), 46 (the port locked).
    assert fraud_codes(meter)[before:] == [46, 49, 46]
    meter.timebase.mono += 60
    with caplog.at_level(logging.WARNING):
        lls(meter, b"later")
    assert fraud_codes(meter)[before:] == [46, 49, 46, 46]
    assert "(999 more since the last entry of this code)" in caplog.text
