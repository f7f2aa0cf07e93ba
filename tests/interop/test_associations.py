"""Association establishment and release (Green Book 9.3.2 ACSE, 9.2.7.2 HLS) and the object list
(Blue Book 4.4.3 Association LN) seen by two independent clients over the wrapper and HDLC.

The object list is parsed by each library's own parser (gurux-dlms GXDLMSClient.parseObjects,
dlms-cosem AssociationObjectListParser); where gurux and the Blue Book disagree is written down in
clients.py."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from .clients import (
    DRIVERS,
    HDLC,
    MANAGEMENT,
    PUBLIC,
    READER,
    Association,
    Ref,
    obis_bytes,
    readable,
)
from .conftest import Connect, Meter

pytestmark = pytest.mark.interop

PROFILE = tomllib.loads((Path(__file__).resolve().parents[2] / "profiles/acesm.toml").read_text())
LDN = (PROFILE["meter"]["manufacturer"] + PROFILE["meter"]["serial"]).encode()
LDN_REF = Ref(1, "0.0.42.0.0.255", 2)
CURRENT_ASSOCIATION = "0.0.40.0.0.255"

# Objects each role must find in its object list (interop.md contract).
PUBLIC_OBJECTS = {"0.0.40.0.0.255", "0.0.42.0.0.255", "0.0.1.0.0.255", "0.0.43.1.0.255", "0.0.41.0.0.255"}
READER_OBJECTS = PUBLIC_OBJECTS | {
    "1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.3.8.0.255", "1.0.4.8.0.255", "1.0.32.7.0.255",
    "1.0.31.7.0.255", "1.0.1.7.0.255", "1.0.14.7.0.255", "1.0.99.1.0.255", "0.0.98.1.0.255",
    "0.0.96.1.0.255", "1.0.0.2.0.255",
}
EXPECTED = {"public": PUBLIC_OBJECTS, "reader": READER_OBJECTS, "management": READER_OBJECTS}
ASSOCIATIONS = [PUBLIC, READER, MANAGEMENT]


@pytest.mark.parametrize("association", ASSOCIATIONS, ids=lambda a: a.name)
def test_associate_read_ldn_release(connect: Connect, association: Association) -> None:
    driver = connect(association)
    outcome = driver.get(LDN_REF)
    assert outcome.ok, f"LDN read refused: data-access-result {outcome.result}"
    assert outcome.value == LDN
    driver.release()


@pytest.mark.parametrize("association", ASSOCIATIONS, ids=lambda a: a.name)
def test_object_list_then_every_readable_attribute(
    connect: Connect, association: Association
) -> None:
    """Every attribute the object list marks readable reads back with success: no timeout, no
    disconnect, no error result (the list is the meter's own statement of access rights)."""
    driver = connect(association)
    entries = driver.object_list()
    listed = {entry.obis for entry in entries}
    assert EXPECTED[association.name] <= listed, sorted(EXPECTED[association.name] - listed)
    # The current association is listed as itself (class 15, version 3): gurux takes the coding
    # of every access mode in the list from this entry.
    own = [e for e in entries if e.class_id == 15 and e.obis == CURRENT_ASSOCIATION]
    assert [e.version for e in own] == [3]
    version = own[0].version
    failures = []
    reads = 0
    for entry in entries:
        for index, mode in sorted(entry.attribute_access.items()):
            if not readable(mode, version):
                continue
            outcome = driver.get(Ref(entry.class_id, entry.obis, index))
            reads += 1
            if not outcome.ok:
                failures.append((entry.class_id, entry.obis, index, outcome.result))
    assert reads >= len(entries), "fewer readable attributes than objects: access rights look empty"
    assert not failures, f"(class, obis, attribute, data-access-result) refused: {failures}"
    # The association still works after the sweep.
    assert driver.get(LDN_REF).value == LDN
    driver.release()


@pytest.mark.parametrize("association", ASSOCIATIONS, ids=lambda a: a.name)
def test_every_listed_object_answers_its_listed_name(
    connect: Connect, association: Association
) -> None:
    """A head end that reads logical_name of each listed object gets the name it was listed under
    (the current association answers 0.0.40.0.0.255, its instance 0.0.40.0.E.255)."""
    driver = connect(association)
    entries = driver.object_list()
    assert {CURRENT_ASSOCIATION} < {e.obis for e in entries if e.class_id == 15}
    names = {e.obis: driver.get(Ref(e.class_id, e.obis, 1)).value for e in entries}
    assert {obis: value for obis, value in names.items() if value != obis_bytes(obis)} == {}
    driver.release()


@pytest.mark.parametrize("guard", ["0.0.44.2.0.255", "0.0.44.2.1.255"])
def test_public_reads_port_protection(connect: Connect, guard: str) -> None:
    """Communication port protection (class 124) is listed for and readable by the public client:
    a head end locked out of authenticated associations can learn why (protection_status 8,
    failed_attempts 9, lockout times 4 and 6)."""
    driver = connect(PUBLIC)
    listed = {e.obis: e for e in driver.object_list()}
    assert guard in listed and listed[guard].class_id == 124
    values = {index: driver.get(Ref(124, guard, index)) for index in range(2, 11)}
    assert {i: o.result for i, o in values.items() if not o.ok} == {}
    assert values[8].value in (0, 1, 2) and values[4].value > 0 and values[6].value > 0
    driver.release()


def test_public_cannot_read_energy(connect: Connect) -> None:
    """An object outside the public role answers a data-access-result, not silence or a drop."""
    driver = connect(PUBLIC)
    outcome = driver.get(Ref(3, "1.0.1.8.0.255", 2))
    assert not outcome.ok
    assert driver.get(LDN_REF).value == LDN
    driver.release()


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_hdlc_default_two_byte_server_address(meter: Meter, client: str) -> None:
    """Both libraries' default HDLC server address is the 2-byte form (logical 1, physical 17)."""
    driver = DRIVERS[client](meter.hdlc, PUBLIC, 0, False)  # type: ignore[call-arg]
    driver.associate()
    assert driver.get(LDN_REF).value == LDN
    driver.release()
    assert HDLC == meter.hdlc.framing
