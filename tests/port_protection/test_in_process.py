"""Port protection end to end in-process: Device + MeterStack on a fake timebase (no sleeps).

N wrong LLS passwords lock the TCP port; while locked even the correct password gets the AARE of
a wrong one; the public client never notices; after the lockout a correct client gets in; the
object (read with the management association) and the fraud log show what happened; the HDLC
port has its own object and stays open.
"""

from __future__ import annotations

from support import LLS_SECRET, MANAGEMENT, PUBLIC, READER, ClientError, Meter

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.security import gcm

TCP_GUARD = Obis.parse("0.0.44.2.0.255")
HDLC_GUARD = Obis.parse("0.0.44.2.1.255")
HDLC_SETUP = Obis.parse("0.0.22.0.0.255")
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

    # Locked: the right password gets exactly the answer of a wrong one.
    assert lls(meter, LLS_SECRET) == wrong[0]
    meter.timebase.t += 59
    assert lls(meter, LLS_SECRET) == wrong[0]
    # Refusals of a locked port check no credentials, so they count nothing.
    guard = meter.device.directory[TCP_GUARD]
    assert guard.value("failed_attempts") == axdr.DoubleLongUnsigned(3)

    # The public client never needs authentication: never locked out.
    c = meter.connect(PUBLIC)
    c.associate()
    assert isinstance(c.get(1, LDN, 2), axdr.OctetString)

    # The management association is locked out of this port too (HLS is authentication)...
    try:
        meter.connect(MANAGEMENT).associate(mechanism=5, keys=meter.keys())
        raise AssertionError("a locked port let HLS in")
    except ClientError:
        pass
    # ...but reads the lock over the HDLC port, which has its own protection object.
    assert guard_values(meter, TCP_GUARD, port=HDLC_SETUP) == [1, 3, 3]
    assert guard_values(meter, HDLC_GUARD, port=HDLC_SETUP) == [0, 0, 0]

    meter.timebase.t += 1  # 60 s after the third failure
    assert accepted(lls(meter, LLS_SECRET))
    assert guard_values(meter, TCP_GUARD) == [0, 0, 3]
    # One event 46 per failed authentication (the server's) and one when the lock started.
    assert fraud_codes(meter).count(46) == 4
    assert meter.device.directory[LAST_FRAUD].value("value") == axdr.Unsigned(46)


def test_lockout_grows_after_the_first_lock(meter: Meter) -> None:
    for i in range(3):
        lls(meter, b"x%d" % i)
    meter.timebase.t += 60
    lls(meter, b"fourth")  # the 4th consecutive failure: 60 * 2 s
    meter.timebase.t += 119
    assert not accepted(lls(meter, LLS_SECRET))
    meter.timebase.t += 1
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
    assert not accepted(lls(meter, LLS_SECRET))
    # The management client on the other port resets the locked one.
    c = meter.connect(MANAGEMENT, HDLC_SETUP)
    c.associate(mechanism=5, keys=meter.keys())
    c.action(124, TCP_GUARD, 1, axdr.Integer(0))
    c.release()
    assert accepted(lls(meter, LLS_SECRET))
    assert guard_values(meter, TCP_GUARD) == [0, 0, 3]


def test_lock_survives_a_restart(meter: Meter) -> None:
    for i in range(3):
        lls(meter, b"y%d" % i)
    meter.reopen()
    assert not accepted(lls(meter, LLS_SECRET))
    meter.timebase.t += 60
    assert accepted(lls(meter, LLS_SECRET))
    assert meter.device.directory[TCP_GUARD].value("cumulative_failed_attempts") == \
        axdr.DoubleLongUnsigned(3)
