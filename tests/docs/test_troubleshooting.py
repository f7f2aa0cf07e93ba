"""The README's "When the meter says no" table holds: each answer it names is what the meter
sends in the case it describes (issue 13 item 4). Each case names its row the way the table
does (the standard's name and value), so a row that no longer matches the code fails here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.meter import MANAGEMENT, PUBLIC, READER, Meter, connect
from support.paths import ROOT

from meter import apdu as A
from meter.apdu.initiate import Conformance
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import DataAccessResult

TABLE = (ROOT / "README.md").read_text(encoding="utf-8").split("### When the meter says no")[1]
CLOCK = Obis.parse("0.0.1.0.0.255")
ENERGY = Obis.parse("1.0.1.8.0.255")
INITIATE = A.InitiateRequest(proposed_conformance=Conformance.GET | Conformance.SET,
                             client_max_receive_pdu_size=0xFFFF).to_bytes()


def _name(member: object) -> str:
    return str(getattr(member, "name")).lower().replace("_", "-")


def _row(*names: str) -> str:
    """The table row that names all of ``names`` (case aside: the standard writes AP)."""
    rows = [line for line in TABLE.splitlines() if all(n.lower() in line.lower() for n in names)]
    assert rows, f"no row of the README table names {names}"
    return rows[0]


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    m = Meter(tmp_path / "state")
    yield m
    m.close()


def _aarq(context: int = 1, mechanism: int | None = None, value: bytes | None = None,
          title: bytes | None = None) -> A.AARQ:
    return A.AARQ(application_context_name=context, calling_ap_title=title,
                  calling_ae_qualifier=None, sender_acse_requirements=mechanism is not None,
                  mechanism_name=mechanism, calling_authentication_value=value,
                  user_information=INITIATE)


@pytest.mark.parametrize(("client", "aarq", "diagnostic"), [
    (17, _aarq(), A.AcseServiceUser.NO_REASON_GIVEN),  # no such association
    (MANAGEMENT, _aarq(context=1), A.AcseServiceUser.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED),
    (MANAGEMENT, _aarq(context=3, mechanism=5, value=os.urandom(16)),
     A.AcseServiceUser.CALLING_AP_TITLE_NOT_RECOGNIZED),
    (READER, _aarq(mechanism=5, value=os.urandom(16)),
     A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED),
    (READER, _aarq(), A.AcseServiceUser.AUTHENTICATION_MECHANISM_NAME_REQUIRED),
    (READER, _aarq(mechanism=1, value=b"wrong"), A.AcseServiceUser.AUTHENTICATION_FAILURE),
], ids=lambda v: _name(v) if isinstance(v, A.AcseServiceUser) else None)
def test_aare_rejections(meter: Meter, client: int, aarq: A.AARQ,
                         diagnostic: A.AcseServiceUser) -> None:
    _row("AARE rejected", f"{_name(diagnostic)} ({int(diagnostic)})")
    aare = meter.connect(client).aarq(aarq)
    assert isinstance(aare, A.AARE)
    assert (aare.result, aare.diagnostic) == (1, diagnostic)


def test_hls_is_accepted_with_authentication_required(meter: Meter) -> None:
    diagnostic = A.AcseServiceUser.AUTHENTICATION_REQUIRED
    _row("AARE accepted", f"{_name(diagnostic)} ({int(diagnostic)})")
    client = connect(meter.device, meter.timebase, MANAGEMENT)
    aare = client.associate(mechanism=5, keys=meter.keys())
    assert (aare.result, aare.diagnostic) == (0, diagnostic)


def _exception(reply: A.Apdu, state: A.StateError, service: A.ServiceError) -> None:
    _row("exception-response", f"{_name(state)}, {_name(service)}")
    assert isinstance(reply, A.ExceptionResponse)
    assert (reply.state_error, reply.service_error) == (state, service)


def test_exception_responses(meter: Meter) -> None:
    outside = meter.connect(PUBLIC)
    get_clock = A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(8, CLOCK, 2))
    _exception(outside.send_apdu(get_clock), A.StateError.SERVICE_NOT_ALLOWED,
               A.ServiceError.OPERATION_NOT_POSSIBLE)
    public = meter.public()
    _exception(public.send_apdu(b"\xc0\x01\xc1" + bytes(1100)), A.StateError.SERVICE_NOT_ALLOWED,
               A.ServiceError.PDU_TOO_LONG)
    _exception(public.send_apdu(b"\x05\x01\x00\x00"),  # an SN read-request
               A.StateError.SERVICE_UNKNOWN, A.ServiceError.SERVICE_NOT_SUPPORTED)
    management = meter.management()
    management.keys = None  # a plain request inside the ciphered association
    _exception(management.send_apdu(get_clock), A.StateError.SERVICE_NOT_ALLOWED,
               A.ServiceError.OPERATION_NOT_POSSIBLE)


@pytest.mark.parametrize(("class_id", "obis", "result"), [
    (3, ENERGY, DataAccessResult.OBJECT_UNDEFINED),  # not in the public object_list
    (1, CLOCK, DataAccessResult.OBJECT_CLASS_INCONSISTENT),
], ids=lambda v: _name(v) if isinstance(v, DataAccessResult) else None)
def test_data_access_results_of_a_get(meter: Meter, class_id: int, obis: Obis,
                                      result: DataAccessResult) -> None:
    _row("data-access-result", f"{_name(result)} ({int(result)})")
    reply = meter.public().send_apdu(
        A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(class_id, obis, 2)))
    assert isinstance(reply, A.GetResponseNormal) and reply.result == result


def test_a_set_the_association_may_not_make_is_denied(meter: Meter) -> None:
    result = DataAccessResult.READ_WRITE_DENIED
    _row("data-access-result", f"{_name(result)} ({int(result)})")
    reply = meter.reader().send_apdu(A.SetRequestNormal(
        0xC1, A.CosemAttributeDescriptor(8, CLOCK, 3), None, axdr.Long(60)))
    assert isinstance(reply, A.SetResponseNormal) and reply.result == result
