from __future__ import annotations

import pytest

from meter.codec.axdr import (
    Array, Data, Enum, Integer, LongUnsigned, OctetString, Structure, Unsigned)
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.sap_assignment import SapAssignment
from meter.cosem.security_setup import SecuritySetup
from meter.cosem.tcp_udp_setup import TcpUdpSetup
from meter.errors import AccessError, DataAccessResult

from .helpers import world


def result_of(call) -> DataAccessResult:  # type: ignore[no-untyped-def]
    with pytest.raises(AccessError) as exc:
        call()
    return exc.value.result


def test_hdlc_setup_ranges() -> None:
    obj = IecHdlcSetup(Obis(0, 0, 22, 0, 0, 255))
    ctx = world(obj).ctx()
    obj.set(3, Unsigned(7), ctx)
    obj.set(5, LongUnsigned(2030), ctx)
    for index, value in [(2, Enum(10)), (3, Unsigned(0)), (5, LongUnsigned(31)),
                         (7, LongUnsigned(10)), (9, LongUnsigned(0x3FFE))]:
        assert result_of(lambda: obj.set(index, value, ctx)) == DataAccessResult.OTHER_REASON
    assert result_of(lambda: obj.set(2, Unsigned(5), ctx)) == DataAccessResult.TYPE_UNMATCHED
    assert obj.get(3, ctx) == Unsigned(7)


def test_tcp_udp_setup() -> None:
    obj = TcpUdpSetup(Obis(0, 0, 25, 0, 0, 255))
    ctx = world(obj).ctx()
    assert obj.get(2, ctx) == LongUnsigned(4059)
    assert result_of(lambda: obj.set(4, LongUnsigned(39), ctx)) == DataAccessResult.OTHER_REASON
    assert result_of(lambda: obj.set(3, OctetString(b"x"), ctx)) == DataAccessResult.OTHER_REASON
    obj.set(6, LongUnsigned(60), ctx)
    assert obj.dump_state()[6] == LongUnsigned(60)


def test_sap_assignment() -> None:
    obj = SapAssignment(Obis(0, 0, 41, 0, 0, 255))
    ctx = world(obj).ctx()
    ldn = OctetString(b"ACE0000000000001")
    obj.action(1, Structure((LongUnsigned(1), ldn)), ctx)
    obj.action(1, Structure((LongUnsigned(2), OctetString(b"other"))), ctx)
    obj.action(1, Structure((LongUnsigned(2), OctetString(b""))), ctx)  # disconnect SAP 2
    assert obj.get(2, ctx) == Array((Structure((LongUnsigned(1), ldn)),))
    assert result_of(lambda: obj.action(1, Integer(1), ctx)) == DataAccessResult.TYPE_UNMATCHED


def test_security_setup_policy_only_strengthens() -> None:
    seen: list[int] = []
    obj = SecuritySetup(Obis(0, 0, 43, 0, 0, 255), security_policy=Enum(0x0C))
    obj.on_policy = seen.append
    ctx = world(obj).ctx()
    obj.action(1, Enum(0x3C), ctx)
    assert obj.policy == 0x3C and seen == [0x3C]
    for weaker in (Enum(0x0C), Enum(0x3D)):
        assert result_of(lambda: obj.action(1, weaker, ctx)) == DataAccessResult.OTHER_REASON
    assert result_of(lambda: obj.set(2, Enum(0x04), ctx)) == DataAccessResult.OTHER_REASON
    assert result_of(lambda: obj.set(5, OctetString(b"short"), ctx)) == \
        DataAccessResult.OTHER_REASON
    for method in range(2, 9):  # served by the key store the device injects
        assert result_of(lambda: obj.action(method, Array(), ctx)) == \
            DataAccessResult.OTHER_REASON
    store = _Store()
    obj.use_key_store(store)
    assert obj.action(2, Array(), ctx) is None and store.calls == ["key_transfer"]
    assert obj.action(7, Array(), ctx) == OctetString(b"cert")
    assert obj.get(6, ctx) == Array()


class _Store:
    """A KeyStore that records the methods called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def key_transfer(self, parameters: Data | None, ctx: Context) -> None:
        self.calls.append("key_transfer")

    def key_agreement(self, parameters: Data | None, ctx: Context) -> Data:
        return Array()

    def generate_key_pair(self, parameters: Data | None, ctx: Context) -> None:
        pass

    def generate_certificate_request(self, parameters: Data | None, ctx: Context) -> Data:
        return OctetString(b"csr")

    def import_certificate(self, parameters: Data | None, ctx: Context) -> None:
        pass

    def export_certificate(self, parameters: Data | None, ctx: Context) -> Data:
        return OctetString(b"cert")

    def remove_certificate(self, parameters: Data | None, ctx: Context) -> None:
        pass

    def certificates(self) -> Data:
        return Array()
