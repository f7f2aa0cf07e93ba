"""Context.internal: the device's own context is already internal (a capture reuses it); a
request's context gives one without its association and with the same callbacks."""

from __future__ import annotations

from meter.cosem.association_ln import AssociationLN
from meter.cosem.base import Context
from meter.cosem.registry import ObjectDirectory
from meter.codec.obis import Obis


def test_internal_of_internal_is_itself_and_of_a_request_drops_the_association() -> None:
    directory = ObjectDirectory([])
    changed: list[object] = []
    internal = Context(directory, None, changed=changed.append)
    assert internal.internal() is internal
    request = Context(directory, AssociationLN(Obis(0, 0, 40, 0, 1, 255)), changed=changed.append)
    inner = request.internal()
    assert inner is not request and inner.association is None
    assert inner.directory is directory and inner.changed == request.changed
