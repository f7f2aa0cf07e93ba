from __future__ import annotations

import pytest

from meter.codec import axdr
from meter.codec.axdr import (
    NULL, Array, Enum, Integer, LongUnsigned, OctetString, Structure, Unsigned, VisibleString)
from meter.codec.obis import Obis
from meter.cosem.association_ln import (
    AssociationLN, AssociationStatus, mechanism_name)
from meter.cosem.names import CURRENT_ASSOCIATION
from meter.cosem.base import AccessMode as A, MethodAccessMode as M
from meter.cosem.data import Data
from meter.cosem.register import Register
from meter.cosem.security_setup import SecuritySetup
from meter.cosem.names import CLOCK
from meter.errors import AccessError, DataAccessResult

from .helpers import world

LN = Obis(0, 0, 40, 0, 2, 255)
REG = Obis(1, 0, 1, 8, 0, 255)
HIDDEN = Obis(0, 0, 96, 1, 0, 255)


def make() -> tuple:  # type: ignore[type-arg]
    rights = {
        CLOCK: ({2: A.READ | A.AUTHENTICATED_REQUEST}, {}),
        REG: ({1: A.READ, 2: A.READ, 3: A.READ}, {1: M.ACCESS}),
        LN: ({1: A.READ, 2: A.READ, 7: A.WRITE}, {1: M.ACCESS}),
    }
    assoc = AssociationLN(LN, rights, authentication_mechanism_name=mechanism_name(5),
                          secret=OctetString(b"12345678"))
    w = world(Register(REG), Data(HIDDEN), assoc)
    return w, assoc


def result_of(call) -> DataAccessResult:  # type: ignore[no-untyped-def]
    with pytest.raises(AccessError) as exc:
        call()
    return exc.value.result


def test_object_list_with_rights() -> None:
    w, assoc = make()
    listing = assoc.get(2, w.ctx()).to_python()
    names = [bytes(e[2]) for e in listing]  # type: ignore[union-attr, index]
    assert names == [CLOCK.to_bytes(), REG.to_bytes(), LN.to_bytes()]
    clock_entry = assoc.get(2, w.ctx()).items[0]  # type: ignore[attr-defined]
    assert clock_entry.items[:2] == (LongUnsigned(8), Unsigned(0))
    attribute_access, method_access = clock_entry.items[3].items
    assert attribute_access.items[1] == Structure((Integer(2), Enum(5), NULL))
    assert attribute_access.items[0].items[1] == Enum(0)
    assert [m.items[1] for m in method_access.items] == [Enum(0)] * 6
    own = assoc.get(2, w.ctx()).items[2]  # type: ignore[attr-defined]
    assert own.items[3].items[0].items[1].items[2] == Array((Integer(1), Integer(2), Integer(3)))


def test_object_list_selective_access() -> None:
    w, assoc = make()
    ctx = w.ctx()
    by_class = assoc.get(2, ctx, 1, Array((LongUnsigned(3), LongUnsigned(15))))
    assert [e.items[0] for e in by_class.items] == [LongUnsigned(3), LongUnsigned(15)]  # type: ignore[attr-defined]
    one = Structure((LongUnsigned(8), OctetString(CLOCK.to_bytes())))
    assert len(assoc.get(2, ctx, 3, one).items) == 1  # type: ignore[attr-defined]
    assert len(assoc.get(2, ctx, 2, Array((one,))).items) == 1  # type: ignore[attr-defined]
    hidden = Structure((LongUnsigned(1), OctetString(HIDDEN.to_bytes())))
    assert assoc.get(2, ctx, 3, hidden) == Array()
    assert result_of(lambda: assoc.get(2, ctx, 3, Integer(0))) == DataAccessResult.TYPE_UNMATCHED


def test_access_queries() -> None:
    w, assoc = make()
    assert assoc.attribute_access(CLOCK, 2) == A.READ | A.AUTHENTICATED_REQUEST
    assert assoc.attribute_access(CLOCK, 3) == A.NO_ACCESS
    assert assoc.attribute_access(HIDDEN, 2) == A.NO_ACCESS
    assert assoc.method_access(REG, 1) == M.ACCESS
    assert assoc.method_access(REG, 2) == M.NO_ACCESS
    assert assoc.is_visible(REG) and not assoc.is_visible(HIDDEN)
    # 0.0.40.0.0.255 has the rights of the association's own instance.
    assert assoc.is_visible(CURRENT_ASSOCIATION)
    assert assoc.attribute_access(CURRENT_ASSOCIATION, 2) == A.READ


def test_attributes_and_connection_copies() -> None:
    w, assoc = make()
    ctx = w.ctx()
    conn = assoc.copy_for_connection()
    conn.client_sap, conn.server_sap = 32, 1
    assert conn.get(3, ctx) == Structure((Integer(32), LongUnsigned(1)))
    assert assoc.get(3, ctx) == Structure((Integer(0), LongUnsigned(0)))
    assert conn.get(8, ctx) == Enum(0)
    assert conn.mechanism_id == 5 and conn.context_id == 1
    assert result_of(lambda: conn.get(7, ctx)) == DataAccessResult.READ_WRITE_DENIED
    conn.set(7, OctetString(b"new"), ctx)
    assert assoc.secret == b"new"  # the secret is shared configuration
    assert result_of(lambda: conn.set(8, Enum(2), ctx)) == DataAccessResult.READ_WRITE_DENIED
    assert result_of(lambda: conn.set(2, Array(), ctx)) == DataAccessResult.READ_WRITE_DENIED


class _RefusingSecret:
    def change(self, secret: bytes) -> bool:
        return False


def test_hls_methods() -> None:
    """Pass 3 is the application server's (tests/hls): the object itself has no exchange to
    answer. change_HLS_secret writes attribute 7, or goes to an injected secret holder."""
    w, assoc = make()
    ctx = w.ctx()
    conn = assoc.copy_for_connection()
    conn.status = AssociationStatus.ASSOCIATION_PENDING
    assert result_of(lambda: conn.action(1, OctetString(b"x"), ctx)) == \
        DataAccessResult.OTHER_REASON
    assert conn.status == AssociationStatus.ASSOCIATION_PENDING
    conn.action(2, OctetString(b"hls-secret"), ctx)
    assert assoc.secret == b"hls-secret"
    conn.hls_secret = _RefusingSecret()
    assert result_of(lambda: conn.action(2, OctetString(b"k"), ctx)) == \
        DataAccessResult.OTHER_REASON


def element(class_id: int, obis: Obis) -> Structure:
    rights = Structure((Array((Structure((Integer(2), Enum(1), NULL)),)),
                        Array((Structure((Integer(1), Enum(1))),))))
    return Structure((LongUnsigned(class_id), Unsigned(0), OctetString(obis.to_bytes()), rights))


def test_add_and_remove_object() -> None:
    w, assoc = make()
    ctx = w.ctx()
    assoc.action(3, element(1, HIDDEN), ctx)
    assert assoc.attribute_access(HIDDEN, 2) == A.READ
    assert result_of(lambda: assoc.action(3, element(3, HIDDEN), ctx)) == \
        DataAccessResult.OTHER_REASON
    assoc.action(4, element(1, HIDDEN), ctx)
    assert not assoc.is_visible(HIDDEN)
    assert result_of(lambda: assoc.action(4, element(1, HIDDEN), ctx)) == \
        DataAccessResult.OTHER_REASON


def test_users() -> None:
    w, assoc = make()
    ctx = w.ctx()
    user = Structure((Unsigned(1), VisibleString(b"op")))
    assoc.action(5, user, ctx)
    assert assoc.get(10, ctx) == Array((user,))
    assoc.action(6, user, ctx)
    assert assoc.get(10, ctx) == Array()
    assert axdr.decode(assoc.get(5, ctx).to_bytes()) == assoc.get(5, ctx)


def test_object_list_shows_the_protection_beyond_the_security_policy() -> None:
    """The listed access_mode leaves out what the association's security policy already demands
    (gurux-dlms 1.0.203 cannot parse read|protection bits, tests/interop/clients.py); what an
    attribute or method needs beyond it stays listed."""
    setup = Obis(0, 0, 43, 0, 0, 255)
    policy = A.AUTHENTICATED_REQUEST | A.ENCRYPTED_REQUEST | A.AUTHENTICATED_RESPONSE | A.ENCRYPTED_RESPONSE
    rights = {
        REG: ({2: A.READ | policy, 3: A.READ | policy | A.DIGITALLY_SIGNED_RESPONSE},
              {1: M(M.ACCESS | int(policy))}),
    }
    assoc = AssociationLN(LN, rights, security_setup_reference=OctetString(setup.to_bytes()))
    w = world(Register(REG), SecuritySetup(setup, security_policy=Enum(int(policy))), assoc)
    (entry,) = assoc.get(2, w.ctx()).items  # type: ignore[attr-defined]
    attribute_access, method_access = entry.items[3].items
    modes = {int(a.items[0].value): int(a.items[1].value) for a in attribute_access.items}
    assert (modes[2], modes[3]) == (A.READ, A.READ | A.DIGITALLY_SIGNED_RESPONSE)
    assert int(method_access.items[0].items[1].value) == M.ACCESS
    # Without a Security setup nothing is taken for granted: the full access rights are listed.
    bare = AssociationLN(LN, rights)
    (entry,) = bare.get(2, w.ctx()).items  # type: ignore[attr-defined]
    assert int(entry.items[3].items[0].items[1].items[1].value) == A.READ | policy
