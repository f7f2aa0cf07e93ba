"""Security setup key_transfer (method 2) through the management association, in process:
Green Book 9.2.3.4 -- the response is protected with the old keys, the new ones apply from the
next APDU, a bad wrap changes nothing; Blue Book event 48 "global key(s) changed"."""

from __future__ import annotations

import pytest
from support import SETUP, ClientError, Meter

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import ActionResult
from meter.security import keywrap

from .helpers import MASTER

NEW_EK = bytes.fromhex("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF")
NEW_AK = bytes.fromhex("B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF")
NEW_KEK = bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
CLOCK = Obis.parse("0.0.1.0.0.255")
LAST_EVENT = Obis.parse("0.0.96.11.0.255")
EVENT_LOG = Obis.parse("0.0.99.98.0.255")


def transfer(*entries: tuple[int, bytes]) -> axdr.Array:
    return axdr.Array(tuple(axdr.Structure((axdr.Enum(k), axdr.OctetString(w))) for k, w in entries))


def stored(meter: Meter) -> bytes | None:
    return meter.device.store.get(f"keys/{SETUP}")


def test_new_ek_applies_after_the_response(meter: Meter) -> None:
    client = meter.management()
    client.get(8, CLOCK, 2)  # some traffic: the client's counter moves on
    ic_before = meter.device.security_context(SETUP).rx.last
    assert ic_before >= 2
    # The response deciphers under the OLD key (refclient still holds it) and says success.
    assert client.action_result(SETUP, 2, transfer((0, keywrap.wrap(MASTER, NEW_EK)))) == (0, None)
    ctx = meter.device.security_context(SETUP)
    assert ctx.encryption_key == NEW_EK
    assert ctx.rx.last == -1  # the client's counter restarts with the new key
    # The same association, old key: refused; with the new key: served.
    with pytest.raises(ClientError):
        client.get(8, CLOCK, 2)
    client.keys.ek = NEW_EK  # type: ignore[union-attr]
    client.keys.invocation_counter = 1  # type: ignore[union-attr]
    assert isinstance(client.get(8, CLOCK, 2), axdr.OctetString)
    client.release()
    # A new association: the old EK is refused, the new one accepted.
    with pytest.raises(ClientError):
        meter.management()
    fresh = meter.management(keys=meter.keys(ek=NEW_EK))
    assert isinstance(fresh.get(8, CLOCK, 2), axdr.OctetString)
    # The server's own counter never went back.
    ics = client.server_ics + fresh.server_ics
    assert ics == sorted(ics) and len(set(ics)) == len(ics)


def test_key_change_is_logged_and_survives_restart(meter: Meter) -> None:
    rows_before = len(meter.management().get(7, EVENT_LOG, 2).items)  # type: ignore[attr-defined]
    client = meter.management()
    client.action(64, SETUP, 2, transfer((0, keywrap.wrap(MASTER, NEW_EK)),
                                         (2, keywrap.wrap(MASTER, NEW_AK))))
    client.keys.ek, client.keys.ak = NEW_EK, NEW_AK  # type: ignore[union-attr]
    client.keys.invocation_counter = 1  # type: ignore[union-attr]
    assert client.get(1, LAST_EVENT, 2) == axdr.Unsigned(48)
    log = client.get(7, EVENT_LOG, 2)
    assert len(log.items) == rows_before + 1  # type: ignore[attr-defined]
    assert log.items[-1].items[1] == axdr.Unsigned(48)  # type: ignore[attr-defined]
    meter.restart()
    ctx = meter.device.security_context(SETUP)
    assert (ctx.encryption_key, ctx.authentication_key, ctx.master_key) == (NEW_EK, NEW_AK, MASTER)
    meter.management(keys=meter.keys(ek=NEW_EK, ak=NEW_AK)).get(8, CLOCK, 2)
    with pytest.raises(ClientError):
        meter.management()


def test_new_master_key_wraps_the_next_transfer(meter: Meter) -> None:
    client = meter.management()
    client.action(64, SETUP, 2, transfer((3, keywrap.wrap(MASTER, NEW_KEK))))
    # Keys wrapped under the old KEK are now refused, under the new one accepted.
    assert client.action_result(SETUP, 2, transfer((0, keywrap.wrap(MASTER, NEW_EK))))[0] \
        == ActionResult.OTHER_REASON
    client.action(64, SETUP, 2, transfer((1, keywrap.wrap(NEW_KEK, NEW_AK))))
    ctx = meter.device.security_context(SETUP)
    assert (ctx.master_key, ctx.broadcast_key, ctx.encryption_key) == (NEW_KEK, NEW_AK, bytes(range(16)))
    meter.restart()
    assert meter.device.security_context(SETUP).broadcast_key == NEW_AK


@pytest.mark.parametrize("entries", [
    [(0, keywrap.wrap(NEW_KEK, NEW_EK))],                          # wrapped under another KEK
    [(0, keywrap.wrap(MASTER, NEW_EK)[:-1] + b"\x00")],            # damaged wrap
    [(0, b"\x01" * 7)],                                            # not a wrap at all
    [(4, keywrap.wrap(MASTER, NEW_EK))],                           # unknown key_id
    [(0, keywrap.wrap(MASTER, NEW_EK + NEW_AK))],                  # 32-byte key in suite 0
    [(2, keywrap.wrap(MASTER, NEW_AK)), (0, keywrap.wrap(NEW_KEK, NEW_EK))],  # one bad entry
    [(0, keywrap.wrap(MASTER, NEW_EK)), (0, keywrap.wrap(MASTER, NEW_AK))],   # key_id twice
    [],
])
def test_bad_transfer_changes_nothing(meter: Meter, entries: list[tuple[int, bytes]]) -> None:
    client = meter.management()
    ctx = meter.device.security_context(SETUP)
    before = (ctx.encryption_key, ctx.authentication_key, ctx.master_key, ctx.broadcast_key)
    stored_before, last = stored(meter), ctx.rx.last
    assert client.action_result(SETUP, 2, transfer(*entries))[0] == ActionResult.OTHER_REASON
    assert (ctx.encryption_key, ctx.authentication_key, ctx.master_key, ctx.broadcast_key) == before
    assert stored(meter) == stored_before and "pending_keys" not in ctx.extra
    assert ctx.rx.last == last + 1  # only this request's counter
    assert isinstance(client.get(8, CLOCK, 2), axdr.OctetString)  # old keys still work


@pytest.mark.parametrize("params", [
    axdr.NullData(),
    axdr.Array((axdr.OctetString(b"x"),)),
    axdr.Array((axdr.Structure((axdr.Unsigned(0), axdr.OctetString(b"x" * 24))),)),
    axdr.Array((axdr.Structure((axdr.Enum(0),)),)),
])
def test_malformed_parameters_are_type_unmatched(meter: Meter, params: axdr.Data) -> None:
    client = meter.management()
    assert client.action_result(SETUP, 2, params)[0] == ActionResult.TYPE_UNMATCHED


def test_only_management_may_transfer(meter: Meter) -> None:
    reader = meter.connect(32)
    reader.associate(mechanism=1, secret=b"12345678")
    reply = reader.exchange(A.ActionRequestNormal(
        0xC1, A.CosemMethodDescriptor(64, SETUP, 2), transfer((0, keywrap.wrap(MASTER, NEW_EK)))))
    assert getattr(reply, "result", None) != ActionResult.SUCCESS
    assert meter.device.security_context(SETUP).encryption_key == bytes(range(16))
