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

_SIMPLE = st.one_of(
    st.just(axdr.NULL),
    st.booleans().map(axdr.Boolean),
    st.integers(0, 255).map(axdr.Unsigned),
    st.integers(-(1 << 31), (1 << 31) - 1).map(axdr.DoubleLong),
    st.integers(0, (1 << 64) - 1).map(axdr.Long64Unsigned),
    st.binary(max_size=300).map(axdr.OctetString),
    st.text(max_size=20).map(axdr.Utf8String),
)
_VALUES = st.recursive(
    _SIMPLE,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(lambda xs: axdr.Array(tuple(xs))),
        st.lists(children, max_size=5).map(lambda xs: axdr.Structure(tuple(xs))),
    ),
    max_leaves=12,
)
# Up to 200 attributes: past 127 the array's count takes a long-form length.
_STATES = st.dictionaries(st.integers(0, 255), _VALUES, max_size=200)


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
