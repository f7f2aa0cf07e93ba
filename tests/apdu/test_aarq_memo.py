"""A head end's AARQ is decoded once (meter/apdu/acse.py ``_memo_aarq``): the same contents give
the one decoded AARQ again, different contents their own, a bad AARQ its DecodeError every time
(never kept), a long one is decoded each time, and the memo stays bounded whatever comes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import meter.apdu as A
from meter.apdu import acse
from meter.errors import DecodeError

PUBLIC = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1FFFFF")


def test_the_same_aarq_is_decoded_once() -> None:
    first = A.decode_apdu(PUBLIC)
    assert isinstance(first, A.AARQ) and first.application_context_name == 1
    assert A.decode_apdu(PUBLIC) is first
    assert A.AARQ.from_bytes(first.to_bytes()) == first


def test_different_contents_decode_to_their_own_aarq() -> None:
    lls = A.AARQ(application_context_name=1, sender_acse_requirements=True, mechanism_name=1,
                 calling_authentication_value=b"12345678",
                 user_information=A.decode_apdu(PUBLIC).user_information)  # type: ignore[attr-defined]
    other = A.decode_apdu(lls.to_bytes())
    assert other == lls and other != A.decode_apdu(PUBLIC)


def test_a_bad_aarq_raises_every_time() -> None:
    bad = bytes.fromhex("6003BE0100")  # no application-context-name, a broken user-information
    for _ in range(2):
        try:
            A.decode_apdu(bad)
        except DecodeError:
            continue
        raise AssertionError("a bad AARQ decoded")


def test_a_long_aarq_is_not_kept() -> None:
    title = bytes(300)  # far past _MEMO_AARQ_MAX
    long = A.AARQ(application_context_name=1, calling_ae_qualifier=title)
    before = acse._memo_aarq.cache_info().currsize
    decoded = A.decode_apdu(long.to_bytes())
    assert decoded == long and decoded is not A.decode_apdu(long.to_bytes())
    assert acse._memo_aarq.cache_info().currsize == before


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=8, max_size=64), min_size=40, max_size=80, unique=True))
def test_the_memo_stays_bounded(challenges: list[bytes]) -> None:
    """An HLS client's challenge makes each AARQ new: they replace each other."""
    for challenge in challenges:
        aarq = A.AARQ(application_context_name=1, sender_acse_requirements=True, mechanism_name=5,
                      calling_authentication_value=challenge)
        assert A.decode_apdu(aarq.to_bytes()) == aarq
    assert acse._memo_aarq.cache_info().currsize <= acse._memo_aarq.cache_info().maxsize  # type: ignore[operator]
