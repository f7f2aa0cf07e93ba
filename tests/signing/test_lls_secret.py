"""Item 1 of issue 4: the LLS secret is the association's attribute 7 (Blue Book 4.4.3
Association LN "secret": the LLS secret is written with SET attribute 7), written by the
management association, checked on every LLS AARQ and kept across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import LLS_SECRET, READER, ClientError, Meter

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis

READER_ASSOCIATION = Obis.parse("0.0.40.0.2.255")
NEW_SECRET = b"N3w-S3cr3t"


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    m = Meter(tmp_path / "state", history=None)
    yield m
    m.close()


def _lls(meter: Meter, secret: bytes) -> bool:
    c = meter.connect(READER)
    try:
        c.associate(mechanism=1, secret=secret)
    except ClientError:
        return False
    c.release()
    return True


def test_management_writes_the_reader_secret(meter: Meter) -> None:
    assert _lls(meter, LLS_SECRET)
    m = meter.management()
    assert m.set(15, READER_ASSOCIATION, 7, axdr.OctetString(NEW_SECRET)) == 0  # success
    # The secret stays write-only, even for management.
    reply = m.exchange(A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(15, READER_ASSOCIATION, 7),
                                          None))
    assert not isinstance(getattr(reply, "result", None), axdr.OctetString)
    m.release()
    assert not _lls(meter, LLS_SECRET)
    assert _lls(meter, NEW_SECRET)
    meter.reopen()
    assert not _lls(meter, LLS_SECRET)
    assert _lls(meter, NEW_SECRET)


def test_reader_cannot_write_its_secret(meter: Meter) -> None:
    r = meter.reader()
    assert r.set(15, READER_ASSOCIATION, 7, axdr.OctetString(NEW_SECRET)) != 0
    r.release()
    assert _lls(meter, LLS_SECRET)


def test_empty_secret_opens_nothing(meter: Meter) -> None:
    m = meter.management()
    assert m.set(15, READER_ASSOCIATION, 7, axdr.OctetString(b"")) == 0
    m.release()
    assert not _lls(meter, b"")
    assert not _lls(meter, LLS_SECRET)
