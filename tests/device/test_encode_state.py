"""A stored object state (meter/device/persist.py encode_state) is written directly, not through
the A-XDR objects: its bytes must be those of ``Array(Structure(Unsigned(i), v) ...)`` sorted by
index, which decode_state reads back, and an index that is no Unsigned fails alike."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.codec import axdr
from meter.device.persist import decode_state, encode_state
from meter.errors import EncodeError
from tests.codec.test_axdr import DATA

# Up to 200 attributes: past 127 the array's count takes a long-form length.
_STATES = st.dictionaries(st.integers(0, 255), DATA, max_size=200)


def _generic(state: dict[int, axdr.Data]) -> bytes:
    return axdr.Array(tuple(axdr.Structure((axdr.Unsigned(i), v))
                            for i, v in sorted(state.items()))).to_bytes()


@settings(max_examples=300, deadline=None)
@given(_STATES)
def test_the_bytes_are_the_generic_encodings_and_read_back(state: dict[int, axdr.Data]) -> None:
    raw = encode_state(state)
    assert raw == _generic(state)
    assert decode_state(raw) == state


@pytest.mark.parametrize("index", [-1, 256])
def test_an_index_that_is_no_unsigned_is_refused(index: int) -> None:
    with pytest.raises(EncodeError):
        encode_state({2: axdr.Unsigned(1), index: axdr.NULL})
