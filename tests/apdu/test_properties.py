"""Property tests for every APDU: decode(encode(x)) == x, and decode_apdu of random or mutated
bytes raises nothing but DecodeError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meter.apdu as A
from meter.apdu import registry
from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import ActionResult, DataAccessResult, DecodeError, EncodeError

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
i8 = st.integers(-128, 127)
blob = st.binary(max_size=40)
obis = st.builds(Obis, u8, u8, u8, u8, u8, u8)

_scalars = st.one_of(
    st.just(axdr.NULL),
    st.builds(axdr.Boolean, st.booleans()),
    st.builds(axdr.Unsigned, u8),
    st.builds(axdr.LongUnsigned, u16),
    st.builds(axdr.DoubleLongUnsigned, u32),
    st.builds(axdr.Long64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(axdr.Integer, i8),
    st.builds(axdr.Enum, u8),
    st.builds(axdr.OctetString, blob),
    st.builds(axdr.VisibleString, blob),
    st.builds(axdr.Utf8String, st.text(max_size=10)),
    st.builds(axdr.BitString.from_bits, st.text("01", max_size=20)),
    st.builds(axdr.Float64, st.floats(allow_nan=False)),
)
data = st.recursive(
    _scalars,
    lambda inner: st.builds(axdr.Structure, st.lists(inner, max_size=4).map(tuple))
    | st.builds(axdr.Array, st.lists(inner, max_size=4).map(tuple)),
    max_leaves=8,
)
dar = st.sampled_from(DataAccessResult)
get_result = data | dar
attr = st.builds(A.CosemAttributeDescriptor, u16, obis, i8)
method = st.builds(A.CosemMethodDescriptor, u16, obis, i8)
access = st.none() | st.builds(A.SelectiveAccess, u8, data)
items = st.lists(st.tuples(attr, access), max_size=3).map(tuple)
conformance = st.integers(0, 0xFFFFFF).map(A.Conformance)
optional_blob = st.none() | st.binary(min_size=1, max_size=20)
block = (st.booleans(), u32, blob)
outcome = st.tuples(st.sampled_from(ActionResult), st.none() | get_result)
ciphered_tags = st.sampled_from(A.CipheredApdu.TAGS)
key_info = st.none() | st.builds(A.IdentifiedKey, u8) | st.builds(A.WrappedKey, u8, blob) \
    | st.builds(A.AgreedKey, blob, blob)
arc = st.integers(0, 2**20)

STRATEGIES: dict[type[A.Apdu], st.SearchStrategy[A.Apdu]] = {
    A.GetRequestNormal: st.builds(A.GetRequestNormal, u8, attr, access),
    A.GetRequestNext: st.builds(A.GetRequestNext, u8, u32),
    A.GetRequestWithList: st.builds(A.GetRequestWithList, u8, items),
    A.GetResponseNormal: st.builds(A.GetResponseNormal, u8, get_result),
    A.GetResponseWithDataBlock: st.builds(A.GetResponseWithDataBlock, u8, st.booleans(), u32,
                                          blob | dar),
    A.GetResponseWithList: st.builds(A.GetResponseWithList, u8,
                                     st.lists(get_result, max_size=4).map(tuple)),
    A.SetRequestNormal: st.builds(A.SetRequestNormal, u8, attr, access, data),
    A.SetRequestWithFirstDataBlock: st.builds(A.SetRequestWithFirstDataBlock, u8, attr, access,
                                              *block),
    A.SetRequestWithDataBlock: st.builds(A.SetRequestWithDataBlock, u8, *block),
    A.SetRequestWithList: st.builds(A.SetRequestWithList, u8, items,
                                    st.lists(data, max_size=3).map(tuple)),
    A.SetRequestWithListAndFirstDataBlock: st.builds(A.SetRequestWithListAndFirstDataBlock, u8,
                                                     items, *block),
    A.SetResponseNormal: st.builds(A.SetResponseNormal, u8, dar),
    A.SetResponseDataBlock: st.builds(A.SetResponseDataBlock, u8, u32),
    A.SetResponseLastDataBlock: st.builds(A.SetResponseLastDataBlock, u8, dar, u32),
    A.SetResponseLastDataBlockWithList: st.builds(A.SetResponseLastDataBlockWithList, u8,
                                                  st.lists(dar, max_size=4).map(tuple), u32),
    A.SetResponseWithList: st.builds(A.SetResponseWithList, u8,
                                     st.lists(dar, max_size=4).map(tuple)),
    A.ActionRequestNormal: st.builds(A.ActionRequestNormal, u8, method, st.none() | data),
    A.ActionRequestNextPBlock: st.builds(A.ActionRequestNextPBlock, u8, u32),
    A.ActionRequestWithList: st.builds(A.ActionRequestWithList, u8,
                                       st.lists(method, max_size=3).map(tuple),
                                       st.lists(data, max_size=3).map(tuple)),
    A.ActionRequestWithFirstPBlock: st.builds(A.ActionRequestWithFirstPBlock, u8, method, *block),
    A.ActionRequestWithListAndFirstPBlock: st.builds(A.ActionRequestWithListAndFirstPBlock, u8,
                                                     st.lists(method, max_size=3).map(tuple),
                                                     *block),
    A.ActionRequestWithPBlock: st.builds(A.ActionRequestWithPBlock, u8, *block),
    A.ActionResponseNormal: st.builds(A.ActionResponseNormal, u8, st.sampled_from(ActionResult),
                                      st.none() | get_result),
    A.ActionResponseWithPBlock: st.builds(A.ActionResponseWithPBlock, u8, *block),
    A.ActionResponseWithList: st.builds(A.ActionResponseWithList, u8,
                                        st.lists(outcome, max_size=3).map(tuple)),
    A.ActionResponseNextPBlock: st.builds(A.ActionResponseNextPBlock, u8, u32),
    A.ExceptionResponse: st.builds(A.ExceptionResponse, u8, st.integers(0, 5))
    | st.builds(A.ExceptionResponse, u8, st.just(6), u32),
    A.ConfirmedServiceError: st.builds(A.ConfirmedServiceError, u8, u8, u8),
    A.DataNotification: st.builds(A.DataNotification, u32, optional_blob, data),
    A.EventNotificationRequest: st.builds(A.EventNotificationRequest, st.none() | blob, attr,
                                          data),
    A.InitiateRequest: st.builds(A.InitiateRequest, conformance, u16, st.none() | blob,
                                 st.booleans(), st.none() | i8, u8),
    A.InitiateResponse: st.builds(A.InitiateResponse, conformance, u16, st.none() | i8, u8, u16),
    A.AARQ: st.builds(A.AARQ, arc, optional_blob, optional_blob, st.booleans(),
                      st.none() | arc, optional_blob, optional_blob,
                      st.none() | st.just(bytes.fromhex("0780")), optional_blob, optional_blob),
    A.AARE: st.builds(A.AARE, arc, st.integers(0, 2), st.integers(1, 2), st.integers(0, 14),
                      optional_blob, st.booleans(), st.none() | arc, optional_blob,
                      optional_blob, optional_blob),
    A.RLRQ: st.builds(A.RLRQ, st.none() | st.integers(-1000, 1000), optional_blob),
    A.RLRE: st.builds(A.RLRE, st.none() | st.integers(-1000, 1000), optional_blob),
    A.CipheredApdu: st.builds(A.CipheredApdu, ciphered_tags, u8, u32, blob),
    A.GeneralGloCiphering: st.builds(A.GeneralGloCiphering, blob, u8, u32, blob),
    A.GeneralDedCiphering: st.builds(A.GeneralDedCiphering, blob, u8, u32, blob),
    A.GeneralBlockTransfer: st.builds(A.GeneralBlockTransfer, st.booleans(), st.booleans(),
                                      st.integers(0, 63), u16, u16, blob),
    A.GeneralCiphering: st.builds(A.GeneralCiphering, blob, blob, blob, blob, blob, key_info, u8,
                                  u32, blob),
    A.GeneralSigning: st.builds(A.GeneralSigning, blob, blob, blob, blob, blob, blob, blob),
}
any_apdu = st.one_of(*STRATEGIES.values())


def test_every_registered_apdu_has_a_strategy() -> None:
    registered = set(registry._BY_TAG.values()) | set(registry._BY_CHOICE.values())
    assert registered == set(STRATEGIES)


@given(any_apdu)
@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
def test_roundtrip(apdu: A.Apdu) -> None:
    data = apdu.to_bytes()
    assert A.decode_apdu(data) == apdu
    assert A.describe(apdu)


@given(st.binary(max_size=64))
@settings(max_examples=1500)
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        A.decode_apdu(data)
    except DecodeError:
        pass


@given(st.sampled_from(sorted(registry.known_tags())), st.binary(max_size=64))
@settings(max_examples=800)
def test_known_tag_then_random_bytes(tag: int, rest: bytes) -> None:
    try:
        A.decode_apdu(bytes((tag,)) + rest)
    except DecodeError:
        pass


@given(any_apdu, st.data())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_apdus_raise_only_decode_error(apdu: A.Apdu, draw: st.DataObject) -> None:
    data = bytearray(apdu.to_bytes())
    for _ in range(draw.draw(st.integers(1, 4))):
        op = draw.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw.draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw.draw(u8)
        elif op == "cut":
            del data[pos:]
        else:
            data[pos:pos] = draw.draw(st.binary(min_size=1, max_size=3))
    try:
        decoded = A.decode_apdu(bytes(data))
    except DecodeError:
        return
    # Whatever decodes must describe, and re-encode unless it named a non-DLMS OID (which decodes
    # to UNKNOWN_OID so the server can reject it, but is not ours to send).
    A.describe(decoded)
    try:
        decoded.to_bytes()
    except EncodeError:
        assert A.UNKNOWN_OID in (getattr(decoded, "application_context_name", None),
                                 getattr(decoded, "mechanism_name", None))
