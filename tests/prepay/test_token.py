"""The ACESM top-up token (meter/security/prepay_token.py): round trips, and what is refused —
a changed byte anywhere, another meter's system title, another key, garbage of any length
(hypothesis: only TokenError, never another exception)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter.security.prepay_token import (
    MAX_AMOUNT, MAX_ID, TOKEN_BYTES, TokenAuthError, TokenError, TokenFormatError, make_token,
    open_token)

KEY = bytes(range(16))
TITLE = bytes.fromhex("4143450000000003")


@given(st.integers(1, MAX_ID), st.integers(1, MAX_AMOUNT))
def test_round_trip(token_id: int, amount: int) -> None:
    token = make_token(KEY, TITLE, token_id, amount)
    assert len(token) == TOKEN_BYTES == 26
    found = open_token(token, KEY, TITLE)
    assert (found.token_id, found.amount) == (token_id, amount)


def test_layout_is_as_documented() -> None:
    token = make_token(KEY, TITLE, 0x01020304, 1000)
    assert token[:10] == bytes.fromhex("0101" "01020304" "000003E8")


@pytest.mark.parametrize("offset", range(TOKEN_BYTES))
def test_any_changed_byte_is_refused(offset: int) -> None:
    token = bytearray(make_token(KEY, TITLE, 7, 500))
    token[offset] ^= 0x01
    with pytest.raises(TokenError):
        open_token(bytes(token), KEY, TITLE)


def test_another_meter_or_key_is_an_authentication_failure() -> None:
    token = make_token(KEY, TITLE, 7, 500)
    with pytest.raises(TokenAuthError):
        open_token(token, KEY, bytes.fromhex("4143450000000001"))
    with pytest.raises(TokenAuthError):
        open_token(token, bytes(16), TITLE)


@pytest.mark.parametrize(("token_id", "amount"), [(0, 1), (MAX_ID + 1, 1), (1, 0), (1, -5),
                                                  (1, MAX_AMOUNT + 1)])
def test_out_of_range_fields_are_not_made(token_id: int, amount: int) -> None:
    with pytest.raises(TokenFormatError):
        make_token(KEY, TITLE, token_id, amount)


@given(st.binary(max_size=80))
def test_garbage_is_refused_with_a_token_error_only(data: bytes) -> None:
    with pytest.raises(TokenError):
        open_token(data, KEY, TITLE)
