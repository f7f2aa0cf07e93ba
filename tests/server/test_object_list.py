"""object_list of each association (Blue Book 4.4.3, Association LN attribute 2): it lists exactly
what the association's rights allow, and every readable attribute it lists reads back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support import MemoryClient, Meter

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import DataAccessResult

from .harness import CURRENT

READ = 1


def object_list(c: MemoryClient) -> list[tuple[int, Obis, list[tuple[int, int]]]]:
    value = c.get(15, CURRENT, 2)
    assert isinstance(value, axdr.Array)
    out = []
    for entry in value.items:
        class_id, _version, ln, rights = entry.items  # type: ignore[attr-defined]
        attributes = [(int(a.items[0].value), int(a.items[1].value)) for a in rights.items[0].items]
        out.append((int(class_id.value), Obis.from_bytes(ln.value), attributes))
    return out


CLIENTS: dict[str, Callable[[Meter], MemoryClient]] = {
    "public": Meter.public, "reader": Meter.reader, "management": Meter.management,
}


@pytest.mark.parametrize("who", list(CLIENTS))
def test_object_list_reads_back(meter: Meter, who: str) -> None:
    c = CLIENTS[who](meter)
    listed = object_list(c)
    assert listed
    seen = {obis for _, obis, _ in listed}
    for class_id, obis, attributes in listed:
        for attribute_id, mode in attributes:
            reply = c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(class_id, obis, attribute_id)))
            if isinstance(reply, A.GetResponseWithDataBlock):  # long: let refclient reassemble it
                c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(1, CURRENT, 1)))
                assert isinstance(c.get(class_id, obis, attribute_id), axdr.Data)
                continue
            assert isinstance(reply, A.GetResponseNormal)
            if mode & READ:
                assert isinstance(reply.result, axdr.Data), (obis, attribute_id, reply.result)
            else:
                assert reply.result == DataAccessResult.READ_WRITE_DENIED, (obis, attribute_id)
    # What is not listed is invisible.
    for obj in meter.device.directory:
        if obj.logical_name not in seen:
            reply = c.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(obj.CLASS_ID, obj.logical_name, 1)))
            assert isinstance(reply, A.GetResponseNormal)
            assert reply.result == DataAccessResult.OBJECT_UNDEFINED, obj.logical_name


def test_roles_nest(meter: Meter) -> None:
    public = {o for _, o, _ in object_list(meter.public())}
    reader = {o for _, o, _ in object_list(meter.reader())}
    management = {o for _, o, _ in object_list(meter.management())}
    assert Obis.parse("1.0.1.8.0.255") not in public
    assert Obis.parse("1.0.1.8.0.255") in reader
    assert public - {CURRENT} <= reader | {Obis.parse("0.0.40.0.1.255")}
    assert reader - {Obis.parse("0.0.40.0.2.255")} <= management
