"""A glo-/ded- ciphered APDU's wire bytes (ciphered_bytes, the server's sealing path) are those
of the generic encoder, short and long form lengths alike."""

from __future__ import annotations

import pytest

from meter import apdu as A
from meter.codec.buffer import Writer
from meter.errors import EncodeError


@pytest.mark.parametrize("size", [0, 1, 122, 123, 250, 300, 70000])
def test_the_one_pack_header_is_the_generic_encoding(size: int) -> None:
    apdu = A.CipheredApdu(0xCC, 0x30, 0x01020304, bytes(range(256)) * (size // 256) + bytes(size % 256))
    w = Writer()
    apdu.encode(w)
    assert apdu.to_bytes() == w.getvalue()
    assert A.decode_apdu(apdu.to_bytes()) == apdu


@pytest.mark.parametrize(("sc", "ic"), [(0x130, 1), (0x30, 1 << 32), (-1, 0)])
def test_fields_out_of_range_are_an_encode_error(sc: int, ic: int) -> None:
    with pytest.raises(EncodeError):
        A.ciphered_bytes(0xCC, sc, ic, b"x")
