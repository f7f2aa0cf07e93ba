"""Port protection over a real TCP socket: ``python -m meter.cli serve`` and refclient.

Simulated time runs 600x faster than the wall clock; the lockout runs on real time all the same
(cosem/port_protection.py), so the test shortens it to 1 s with the management client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ClientError, Keys, WrapperClient
from support.process import meter_process

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis

SCALE = 600.0
PUBLIC, READER, MANAGEMENT = 16, 32, 1
SECRET = b"12345678"
TCP_GUARD = Obis.parse("0.0.44.2.0.255")
LDN = Obis.parse("0.0.42.0.0.255")


@pytest.fixture
def address(tmp_path: Path) -> Iterator[tuple[str, int]]:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--time-scale", str(SCALE)) as m:
        yield m.address()


def lls(address: tuple[str, int], secret: bytes) -> bytes:
    c = WrapperClient(*address, client_sap=READER)
    try:
        aarq = A.AARQ(application_context_name=1, sender_acse_requirements=True, mechanism_name=1,
                      calling_authentication_value=secret,
                      user_information=A.InitiateRequest(
                          proposed_conformance=A.Conformance(0x1C1F),
                          client_max_receive_pdu_size=0xFFFF).to_bytes())
        return c.exchange_raw(aarq.to_bytes())
    finally:
        c.close()


def accepted(reply: bytes) -> bool:
    aare = A.decode_apdu(reply)
    assert isinstance(aare, A.AARE)
    return aare.result == 0


def test_lockout_over_tcp_runs_on_real_time(address: tuple[str, int]) -> None:
    """Issue 7 item 12: at time scale 600 the lockout still lasts its seconds of real time."""
    keys = Keys()  # one object: its invocation counter goes on from one association to the next
    management = WrapperClient(*address, client_sap=MANAGEMENT)
    management.associate(mechanism=5, keys=keys)
    # A test-sized lock: 1 s, not lengthened by further failures.
    management.set(124, TCP_GUARD, 4, axdr.DoubleLongUnsigned(1))
    management.set(124, TCP_GUARD, 5, axdr.Unsigned(1))
    management.release()
    management.close()

    wrong = [lls(address, b"guess-%d" % i) for i in range(3)]
    assert not any(accepted(r) for r in wrong)
    time.sleep(0.5)  # 300 s of meter time: a lock on the meter clock would be long over
    locked_at = time.monotonic()
    assert lls(address, SECRET) == wrong[0]  # the correct password, refused like a wrong one

    public = WrapperClient(*address, client_sap=PUBLIC)
    public.associate()
    assert isinstance(public.get(1, LDN, 2), axdr.OctetString)
    public.release()
    public.close()

    time.sleep(max(0.0, locked_at + 1.05 - time.monotonic()))
    assert accepted(lls(address, SECRET))

    management = WrapperClient(*address, client_sap=MANAGEMENT)
    management.associate(mechanism=5, keys=keys)
    values = [management.get(124, TCP_GUARD, i) for i in (8, 9, 10)]
    management.release()
    management.close()
    assert values == [axdr.Enum(0), axdr.DoubleLongUnsigned(0), axdr.DoubleLongUnsigned(4)]


def test_public_client_never_locked(address: tuple[str, int]) -> None:
    for i in range(6):
        lls(address, b"nope-%d" % i)
    assert not accepted(lls(address, SECRET))
    for _ in range(3):
        c = WrapperClient(*address, client_sap=PUBLIC)
        c.associate()
        assert isinstance(c.get(1, LDN, 2), axdr.OctetString)
        c.close()
    management = WrapperClient(*address, client_sap=MANAGEMENT)
    with pytest.raises(ClientError):  # HLS is authentication too: locked out of this port
        management.associate(mechanism=5, keys=Keys())
    management.close()
