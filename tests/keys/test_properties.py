"""Property tests: what comes off the wire into the key store never raises anything but the
documented errors (SecurityError from the certificate codec, AccessError from the methods)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.registry import ObjectDirectory
from meter.cosem.security_setup import SecuritySetup
from meter.device.keys import PENDING_KEYS, KeyManager
from meter.errors import AccessError, SecurityError
from meter.persistence.counters import InvocationCounter, ReceivedCounter
from meter.persistence.store import Store
from meter.security import certificates as C
from meter.security import keywrap
from meter.server.protection import SecurityContext

TITLE = bytes.fromhex("4143450000000001")
MASTER = bytes(range(16, 32))
_STORE = Store.open(Path(tempfile.mkdtemp()))


def manager(suite: int) -> tuple[KeyManager, SecurityContext]:
    obis = Obis(0, 0, 43, 0, suite, 255)
    setup = SecuritySetup(obis, security_suite=axdr.Enum(suite), server_system_title=axdr.OctetString(TITLE))
    ctx = SecurityContext(suite, TITLE, bytes(16), bytes(16), MASTER,
                          InvocationCounter(_STORE, f"t/{suite}"), ReceivedCounter(_STORE, f"r/{suite}"))
    return KeyManager(setup, ctx, _STORE, now=lambda: 1.7e9,
                      random_bytes=lambda n: bytes(n)), ctx


KM0, CTX0 = manager(0)
KM1, _ = manager(1)
CONTEXT = Context(ObjectDirectory())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_certificate_bytes_raise_only_security_error(data: bytes) -> None:
    try:
        C.parse_certificate(data, TITLE)
    except SecurityError:
        pass


@given(st.integers(min_value=0, max_value=2**159))
def test_der_integer_is_minimal_and_positive(value: int) -> None:
    encoded = C.der_integer(value)
    assert encoded[0] == 2 and encoded[1] == len(encoded) - 2
    body = encoded[2:]
    assert int.from_bytes(body, "big", signed=True) == value
    assert len(body) == 1 or not (body[0] == 0 and body[1] < 0x80)


key_entries = st.lists(st.tuples(
    st.integers(0, 5),
    st.one_of(st.binary(max_size=48),
              st.binary(min_size=16, max_size=16).map(lambda k: keywrap.wrap(MASTER, k)))),
    max_size=4)


FIELDS = {0: "encryption_key", 1: "broadcast_key", 2: "authentication_key", 3: "master_key"}


@settings(max_examples=100, deadline=None)
@given(key_entries)
def test_key_transfer_applies_everything_or_nothing(entries: list[tuple[int, bytes]]) -> None:
    before = {f: getattr(CTX0, f) for f in FIELDS.values()}
    params = axdr.Array(tuple(axdr.Structure((axdr.Enum(k), axdr.OctetString(w))) for k, w in entries))
    try:
        KM0.key_transfer(params, CONTEXT)
    except AccessError:
        assert PENDING_KEYS not in CTX0.extra
        KM0.apply_pending()
        assert {f: getattr(CTX0, f) for f in FIELDS.values()} == before
        return
    assert {f: getattr(CTX0, f) for f in FIELDS.values()} == before  # not before the response
    KM0.apply_pending()
    for key_id, wrapped in entries:
        assert getattr(CTX0, FIELDS[key_id]) == keywrap.unwrap(MASTER, wrapped)
    CTX0.master_key = MASTER  # later examples wrap under the same KEK


identifications = st.recursive(
    st.one_of(st.builds(axdr.Enum, st.integers(0, 255)), st.builds(axdr.OctetString, st.binary(max_size=20)),
              st.just(axdr.NullData())),
    lambda children: st.builds(lambda items: axdr.Structure(tuple(items)), st.lists(children, max_size=3)),
    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(identifications)
def test_certificate_methods_raise_only_access_errors(ident: axdr.Data) -> None:
    for method in (KM1.export_certificate, KM1.remove_certificate, KM1.generate_certificate_request,
                   KM1.import_certificate):
        try:
            method(ident, CONTEXT)
        except AccessError:
            pass
