"""The AARE accepting a plain association (no HLS, no security) is made once per context,
negotiated block and PDU size (meter/server/acse.py ``_accepted_plain``): its bytes are those
of the AARE built field by field, for each combination a client can get."""

from __future__ import annotations

import pytest

from meter import apdu as A
from meter.apdu.initiate import Conformance
from meter.server import acse


@pytest.mark.parametrize("context", [1, 3])
@pytest.mark.parametrize("conformance", [acse.SERVER_CONFORMANCE,
                                         Conformance.GET | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
                                         Conformance.GET])
@pytest.mark.parametrize("pdu", [1024, 0xFFFF])
def test_plain_aare_is_the_full_one(context: int, conformance: Conformance, pdu: int) -> None:
    initiate = A.InitiateResponse(conformance, pdu, None, acse.DLMS_VERSION).to_bytes()
    full = A.AARE(context, 0, 1, 0, None, False, None, None, initiate)  # accepted, by the user, null
    made = acse._accepted_plain(context, conformance, pdu)
    assert made == full.to_bytes()
    assert A.decode_apdu(made) == full
    assert acse._accepted_plain(context, conformance, pdu) is made  # made once


def test_a_plain_initiate_request_is_decoded_once() -> None:
    from meter.errors import DecodeError
    from meter.server import channel

    plain = A.InitiateRequest(proposed_conformance=Conformance.GET,
                              client_max_receive_pdu_size=0xFFFF).to_bytes()
    first, envelope = channel.open_initiate(plain, None, None, False)
    assert envelope is None and first.proposed_conformance == Conformance.GET
    assert channel.open_initiate(plain, None, None, False)[0] is first
    bad = plain[:-1]  # a cut one raises every time, never kept
    for _ in range(2):
        with pytest.raises(DecodeError):
            channel.open_initiate(bad, None, None, False)
    kept = channel._plain_initiate.cache_info().currsize
    with pytest.raises(DecodeError):  # not an InitiateRequest: decoded, refused, not kept
        channel.open_initiate(A.RLRQ().to_bytes(), None, None, False)
    assert channel._plain_initiate.cache_info().currsize == kept
