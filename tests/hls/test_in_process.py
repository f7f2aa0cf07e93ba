"""HLS-SHA256 (mechanism 6, client 2) and HLS-ECDSA (mechanism 7, client 3, suites 1 and 2) end to
end in process (Green Book 9.2.7.4): happy path, a wrong f(StoC) refused and counted (port
protection and fraud event 46), replays refused, change_HLS_secret persisted."""

from __future__ import annotations

import pytest

from meter import apdu as A
from meter.codec import axdr

from .helpers import (
    CURRENT_ASSOCIATION,
    ECDSA_CLIENT,
    LDN,
    SECRET,
    SETUP0,
    SETUP3,
    SHA256_CLIENT,
    ClientError,
    Ecdsa,
    HlsMeter,
    import_client_certificate,
    server_public_key,
)

CLIENT3_TITLE = bytes.fromhex("4D4D4D0000000003")


def _flip(f: bytes) -> bytes:
    return bytes((f[0] ^ 1,)) + f[1:]


def _ecdsa_ready(meter: HlsMeter, suite: int) -> Ecdsa:
    key = Ecdsa(suite)
    exported = import_client_certificate(meter, SETUP3, key.certificate(CLIENT3_TITLE))
    key.server_public = server_public_key(exported)
    return key


# --- mechanism 6 -------------------------------------------------------------------------------


def test_sha256_associates_and_reads(meter: HlsMeter) -> None:
    c = meter.client(SHA256_CLIENT)
    c.associate(6, secret=SECRET)
    assert c.get(1, LDN, 2) == axdr.OctetString(b"ACE0000000000001")
    # The association object says which mechanism this is (2.16.756.5.8.2.6).
    name = c.get(15, CURRENT_ASSOCIATION, 6)
    assert name.to_python()[-1] == 6  # type: ignore[index]
    c.release()
    assert meter.fraud_codes().count(46) == 0


def test_sha256_wrong_f_stoc_refused_and_counted(meter: HlsMeter) -> None:
    c = meter.client(SHA256_CLIENT)
    with pytest.raises(ClientError, match="pass 3 refused"):
        c.associate(6, secret=SECRET, tamper=_flip)
    assert meter.fraud_codes().count(46) == 1
    assert meter.failed_attempts() == 1
    # The association is gone: nothing but a new AARQ helps.
    reply = A.decode_apdu(c.exchange_raw(c.cipher(A.GetRequestNormal(
        0xC1, A.CosemAttributeDescriptor(1, LDN, 2), None).to_bytes())))
    assert isinstance(reply, A.ExceptionResponse)
    c2 = meter.client(SHA256_CLIENT)
    with pytest.raises(ClientError):
        c2.associate(6, secret=b"87654321")
    assert meter.failed_attempts() == 2
    assert meter.fraud_codes().count(46) == 1  # folded into the first (device/event_throttle.py)
    ok = meter.client(SHA256_CLIENT)
    ok.associate(6, secret=SECRET)
    assert meter.failed_attempts() == 0  # a success resets the port's failure count


def test_replayed_aarq_refused(meter: HlsMeter) -> None:
    first = meter.client(SHA256_CLIENT)
    first.associate(6, secret=SECRET)
    first.release()
    # The same AARQ again: its ciphered InitiateRequest carries a used invocation counter.
    again = A.decode_apdu(meter.client(SHA256_CLIENT).exchange_raw(first.last_aarq))
    assert isinstance(again, A.AARE) and again.result != 0
    assert 50 in meter.fraud_codes()


def test_replayed_pass3_in_a_pending_association(meter: HlsMeter) -> None:
    first = meter.client(SHA256_CLIENT)
    first.associate(6, secret=SECRET)
    old_pass3 = first.last_pass3
    first.release()
    # New association left pending (AARQ only), then the captured pass 3 replayed into it.
    c = meter.client(SHA256_CLIENT)
    hijack = {}

    def replay_instead(f: bytes) -> bytes:
        hijack["reply"] = c.exchange_raw(old_pass3)
        return f

    c.associate(6, secret=SECRET, tamper=replay_instead)  # the genuine pass 3 still succeeds
    refused = A.decode_apdu(hijack["reply"])
    assert isinstance(refused, A.ExceptionResponse)
    assert refused.service_error == A.ServiceError.INVOCATION_COUNTER_ERROR
    assert 50 in meter.fraud_codes()


def test_change_hls_secret_takes_effect_and_persists(meter: HlsMeter) -> None:
    c = meter.client(SHA256_CLIENT)
    c.associate(6, secret=SECRET)
    c.action(15, CURRENT_ASSOCIATION, 2, axdr.OctetString(b"new secret 2026"))
    c.release()
    with pytest.raises(ClientError):
        meter.client(SHA256_CLIENT).associate(6, secret=SECRET)
    meter.restart()
    meter.client(SHA256_CLIENT).associate(6, secret=b"new secret 2026")


# --- mechanism 7 -------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", [1, 2])
def test_ecdsa_associates_after_certificate_import(meter: HlsMeter, meter2: HlsMeter,
                                                   suite: int) -> None:
    m = meter if suite == 1 else meter2
    assert m.device.security_context(SETUP3).suite == suite
    key = _ecdsa_ready(m, suite)
    assert key.server_public is not None and key.server_public.curve.key_size == (256, 384)[suite - 1]
    c = m.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE)
    assert c.keys.sc == 0x30 | suite and len(c.keys.ek) == (16, 32)[suite - 1]
    c.associate(7, ecdsa=key)
    assert c.get(1, LDN, 2) == axdr.OctetString(b"ACE0000000000001")
    c.release()
    # The public client reads the counter of this security context.
    assert m.device.security_context(SETUP3).rx.last == c.keys.invocation_counter - 1


@pytest.mark.parametrize("suite", [1, 2])
def test_ecdsa_wrong_signature_refused_and_counted(meter: HlsMeter, meter2: HlsMeter,
                                                   suite: int) -> None:
    m = meter if suite == 1 else meter2
    key = _ecdsa_ready(m, suite)
    with pytest.raises(ClientError, match="pass 3 refused"):
        m.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE).associate(7, ecdsa=key, tamper=_flip)
    assert m.fraud_codes().count(46) == 1
    assert m.failed_attempts() == 1
    # Signed by another key (no certificate of it was imported): refused too.
    with pytest.raises(ClientError, match="pass 3 refused"):
        m.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE).associate(7, ecdsa=Ecdsa(suite))
    assert m.failed_attempts() == 2
    assert m.fraud_codes().count(46) == 1  # folded into the first (device/event_throttle.py)


def test_ecdsa_without_imported_certificate_refused(meter: HlsMeter) -> None:
    key = Ecdsa(1)
    with pytest.raises(ClientError, match="pass 3 refused"):
        meter.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE).associate(7, ecdsa=key)
    assert meter.fraud_codes().count(46) == 1
    # A certificate for another system title does not help either.
    key.server_public = server_public_key(import_client_certificate(
        meter, SETUP3, key.certificate(bytes.fromhex("4D4D4D00000000FF"))))
    with pytest.raises(ClientError, match="pass 3 refused"):
        meter.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE).associate(7, ecdsa=key)


def test_ecdsa_key_of_the_wrong_suite_refused(meter: HlsMeter) -> None:
    """A P-384 client certificate on the suite-1 setup is refused at import (import_certificate
    checks the curve against the suite), so HLS-ECDSA with that key cannot even start."""
    with pytest.raises(ClientError, match="ACTION failed"):
        _ecdsa_ready(meter, 2)
    key = Ecdsa(2)
    with pytest.raises(ClientError, match="pass 3 refused"):
        meter.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE).associate(7, ecdsa=key)


def test_server_signing_key_survives_restart(meter: HlsMeter) -> None:
    key = _ecdsa_ready(meter, 1)
    meter.restart()
    c = meter.client(ECDSA_CLIENT, SETUP3, system_title=CLIENT3_TITLE)
    c.associate(7, ecdsa=key)  # the meter's answer verifies with the certificate exported before


def test_wrong_mechanism_refused(meter: HlsMeter) -> None:
    with pytest.raises(ClientError, match="association refused"):
        meter.client(SHA256_CLIENT).associate(7, ecdsa=Ecdsa(1))
    with pytest.raises(ClientError, match="association refused"):
        meter.client(ECDSA_CLIENT, SETUP3).associate(6, secret=SECRET)
    assert meter.device.security_context(SETUP0).failures == 0
