"""Byte-exact APDU vectors from public sources; each decodes to the expected object and re-encodes
to the same bytes.

Sources:
[GB]  DLMS UA Green Book examples (GET.request of the clock, quoted in the project brief).
[DC-x] u9n/dlms-cosem tests (captured or Green Book v10 p.444 examples), file named after x:
      aarq = tests/test_asce/test_aarq.py, aare = tests/test_asce/test_aare.py,
      rlrq = tests/test_asce/test_rlrq.py, get = tests/test_xdlms/test_get.py,
      set = tests/test_xdlms/test_set.py (incl. Green Book Table 137), action =
      tests/test_xdlms/test_action.py, dn = tests/test_xdlms/test_data_notification.py,
      ggc = tests/test_general_global_cipher.py, gc = tests/test_xdlms/test_general_ciphering.py
      (Green Book Table 41, general-ciphering with agreed key).
"""

from __future__ import annotations

import pytest

from meter.apdu import (
    AARE,
    AARQ,
    RLRQ,
    ActionRequestNormal,
    ActionResponseNormal,
    AgreedKey,
    Apdu,
    CipheredApdu,
    Conformance,
    ConfirmedServiceError,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataNotification,
    ExceptionResponse,
    GeneralCiphering,
    GeneralGloCiphering,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    InitiateRequest,
    InitiateResponse,
    SetRequestNormal,
    SetRequestWithFirstDataBlock,
    SetResponseDataBlock,
    SetResponseLastDataBlock,
    SetResponseNormal,
    decode_apdu,
    describe,
)
from meter.codec.axdr import DoubleLongUnsigned, OctetString
from meter.codec.obis import Obis
from meter.errors import ActionResult, DataAccessResult, DecodeError

C = Conformance
CLOCK = CosemAttributeDescriptor(8, Obis(0, 0, 1, 0, 0, 255), 2)
# Green Book sample client conformance 00 7E 1F.
GB_CONFORMANCE = (C.PRIORITY_MGMT_SUPPORTED | C.ATTRIBUTE0_SUPPORTED_WITH_GET
                  | C.BLOCK_TRANSFER_WITH_GET_OR_READ | C.BLOCK_TRANSFER_WITH_SET_OR_WRITE
                  | C.BLOCK_TRANSFER_WITH_ACTION | C.MULTIPLE_REFERENCES | C.GET | C.SET
                  | C.SELECTIVE_ACCESS | C.EVENT_NOTIFICATION | C.ACTION)
GB_INITIATE = InitiateRequest(GB_CONFORMANCE, 1200)
AARE_INITIATE = InitiateResponse(
    C.PRIORITY_MGMT_SUPPORTED | C.BLOCK_TRANSFER_WITH_GET_OR_READ | C.GET | C.SET
    | C.SELECTIVE_ACCESS | C.EVENT_NOTIFICATION | C.ACTION, 500)

VECTORS: list[tuple[str, str, Apdu]] = [
    ("GB get clock", "C001C100080000010000FF0200", GetRequestNormal(0xC1, CLOCK)),
    ("DC-get normal", "C001C1000100002B0100FF0200",
     GetRequestNormal(0xC1, CosemAttributeDescriptor(1, Obis(0, 0, 43, 1, 0, 255), 2))),
    ("DC-get next", "C002C100000001", GetRequestNext(0xC1, 1)),
    ("DC-get with-list", "C003C102000100002A0000FF020000080000010000FF0200",
     GetRequestWithList(0xC1, ((CosemAttributeDescriptor(1, Obis(0, 0, 42, 0, 0, 255), 2), None),
                               (CLOCK, None)))),
    ("DC-get response", "C401C1000600001391", GetResponseNormal(0xC1, DoubleLongUnsigned(5009))),
    ("DC-get response error", "C401C10101",
     GetResponseNormal(0xC1, DataAccessResult.HARDWARE_FAULT)),
    ("DC-set normal", "C101C100080000010000FF0200090C07E50118FF0E303950FFC400",
     SetRequestNormal(0xC1, CLOCK, None, OctetString(bytes.fromhex("07E50118FF0E303950FFC400")))),
    ("DC-set GB Table 137 first block",
     "C102C100010000800000FF02000000000001150932010203040506070809101112131415161718" "19",
     SetRequestWithFirstDataBlock(0xC1, CosemAttributeDescriptor(1, Obis(0, 0, 128, 0, 0, 255), 2),
                                  None, False, 1,
                                  bytes.fromhex("093201020304050607080910111213141516171819"))),
    ("DC-set response", "C501C100", SetResponseNormal(0xC1, DataAccessResult.SUCCESS)),
    ("DC-set response block", "C502C100000001", SetResponseDataBlock(0xC1, 1)),
    ("DC-set response last block", "C503C10000000002",
     SetResponseLastDataBlock(0xC1, DataAccessResult.SUCCESS, 2)),
    ("DC-action HLS reply_to_hls",
     "C301C0000F0000280000FF010109111000001A90E6D2221FA2FD85EED61ACC22",
     ActionRequestNormal(0xC0, CosemMethodDescriptor(15, Obis(0, 0, 40, 0, 0, 255), 1),
                         OctetString(bytes.fromhex("1000001A90E6D2221FA2FD85EED61ACC22")))),
    ("DC-action no params", "C301C0000F0000280000FF0100",
     ActionRequestNormal(0xC0, CosemMethodDescriptor(15, Obis(0, 0, 40, 0, 0, 255), 1))),
    ("DC-action response", "C701C00000", ActionResponseNormal(0xC0, ActionResult.SUCCESS)),
    ("DC-action response data", "C701C000010009111000001AFDE8857B728A3499106AA665D1",
     ActionResponseNormal(0xC0, ActionResult.SUCCESS,
                          OctetString(bytes.fromhex("1000001AFDE8857B728A3499106AA665D1")))),
    ("DC-action response error", "C701C0000101FA",
     ActionResponseNormal(0xC0, ActionResult.SUCCESS, DataAccessResult.OTHER_REASON)),
    ("DC-aarq no security",
     "601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0",
     AARQ(1, user_information=GB_INITIATE.to_bytes())),
    ("DC-aarq LLS",
     "6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738"
     "BE10040E01000000065F1F0400007E1F04B0",
     AARQ(1, sender_acse_requirements=True, mechanism_name=1,
          calling_authentication_value=b"12345678", user_information=GB_INITIATE.to_bytes())),
    ("DC-aarq HLS-GMAC",
     "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
     "BE10040E01000000065F1F0400007E1F04B0",
     AARQ(1, sender_acse_requirements=True, mechanism_name=5,
          calling_authentication_value=b"K56iVagY", user_information=GB_INITIATE.to_bytes())),
    ("DC-aarq ciphered LLS",
     "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201AC0A8008"
     "3132333435363738BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB004772060"
     "6B175BD52211BE6841DB204D39EE6FDB8E356855",
     AARQ(3, calling_ap_title=bytes.fromhex("4D4D4D0000BC614E"), sender_acse_requirements=True,
          mechanism_name=1, calling_authentication_value=b"12345678",
          user_information=bytes.fromhex(
              "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB"
              "204D39EE6FDB8E356855"))),
    ("DC-aare accepted",
     "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007",
     AARE(1, 0, 1, 0, user_information=AARE_INITIATE.to_bytes())),
    ("DC-aare context rejected",
     "6129A109060760857405080101A203020101A305A103020102BE10040E0800065F1F040000501F01F40007",
     AARE(1, 1, 1, 2, user_information=AARE_INITIATE.to_bytes())),
    ("DC-aare dlms version too low",
     "611FA109060760857405080101A203020101A305A103020101BE0604040E010601",
     AARE(1, 1, 1, 1, user_information=bytes.fromhex("0E010601"))),
    ("DC-aare HLS",
     "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205AA0A8008"
     "503677524A323146BE10040E0800065F1F040000501F01F40007",
     AARE(1, 0, 1, 14, responder_acse_requirements=True, mechanism_name=5,
          responding_authentication_value=b"P6wRJ21F",
          user_information=AARE_INITIATE.to_bytes())),
    ("DC-rlrq", "6203800100", RLRQ(0)),
    ("DC-rlrq ciphered",
     "6239800100BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175B"
     "D52211BE6841DB204D39EE6FDB8E356855",
     RLRQ(0, bytes.fromhex("21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B"
                           "175BD52211BE6841DB204D39EE6FDB8E356855"))),
    ("DC-ggc general-glo-ciphering",
     "DB082F192291991641033B30000001E5025CE9D2271FD78BE8C204211A916A9D7F587E0A7A814CADEA89"
     "E9593F01F92EA8C087B5BDFDEFEAB6BECF282DFE49C08F5BE6DC8400",
     GeneralGloCiphering(bytes.fromhex("2F19229199164103"), 0x30, 0x1E5, bytes.fromhex(
         "025CE9D2271FD78BE8C204211A916A9D7F587E0A7A814CADEA89E9593F01F92EA8C087B5BDFDEFEAB6"
         "BECF282DFE49C08F5BE6DC8400"))),
    ("DC-dn data-notification",
     "0F000001DB000922125A8591360000000049000000110000000A5A8513D014800000000D0000000A0100",
     DataNotification(0x1DB, None, OctetString(bytes.fromhex(
         "125A8591360000000049000000110000000A5A8513D014800000000D0000000A0100")))),
]


@pytest.mark.parametrize(("hex_", "expected"), [(h, o) for _, h, o in VECTORS],
                         ids=[n for n, _, _ in VECTORS])
def test_vector(hex_: str, expected: Apdu) -> None:
    data = bytes.fromhex(hex_)
    decoded = decode_apdu(data)
    assert decoded == expected
    assert expected.to_bytes() == data
    assert type(expected).from_bytes(data) == expected
    assert describe(decoded).startswith(type(expected).__name__)


def test_initiate_inside_aarq() -> None:
    aarq = decode_apdu(bytes.fromhex(VECTORS[17][1]))
    assert isinstance(aarq, AARQ) and aarq.user_information is not None
    initiate = decode_apdu(aarq.user_information)
    assert initiate == GB_INITIATE
    assert initiate.proposed_conformance & C.GET  # type: ignore[attr-defined]


def test_initiate_error_in_aare() -> None:
    expected = ConfirmedServiceError(1, 6, 1)
    assert ConfirmedServiceError.from_bytes(bytes.fromhex("0E010601")) == expected


def test_ciphered_initiate_in_aarq() -> None:
    aarq = decode_apdu(bytes.fromhex(VECTORS[19][1]))
    assert isinstance(aarq, AARQ) and aarq.user_information is not None
    apdu = decode_apdu(aarq.user_information)
    assert apdu == CipheredApdu(0x21, 0x30, 0x01234567, bytes.fromhex(
        "801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855"))
    assert isinstance(apdu, CipheredApdu) and apdu.is_global and apdu.plain_tag == 0x01


GC_HEX = (
    "DD080102030405060708084D4D4D0000BC614E084D4D4D000000000100000102"
    "01018180C323C2BD45711DE4688637D919F92E9DB8FB2DFC213A88D21C9DC8DC"
    "BA917D8170511DE1BADB360D50058F794B0960AE11FA28D392CFF907A62D13E3"
    "357B1DC0B51BE089D0B682863B2217201E73A1A9031968A9B4121DCBC3281A69"
    "739AF87429F5B3AC5471E7B6A04A2C0F2F8A25FD772A317DF97FC5463FEAC248"
    "EB8AB8BE81EB3100000000F435069679270C5BF4425EE5777402A6C8D51C620E"
    "ED52DBB188378B836E2857D5C053E6DDF27FA87409AEF502CD9618AE47017C01"
    "0224FD109CC0BEB21E742D44AB40CD11908743EC90EC8C40E221D517F72228E1"
    "A26E827F43DC18ED27B5F458D66508B05A2A4CC6FED178C881AFC3BC67064689"
    "BE8BB41C80ABB3C114A31F4CB03B8B64C7E0B4CE77B2399C93347858888F9223"
    "9713B38DF01C4858245827A92EF334172EA636B31CBBDF2A96AD5D035F66AA38"
    "F1A2D97D4BBA99622E6B5F18789CECB2DFB3937D9F3E17F8B472098E6563238F"
    "37528374809836002AEA6E7012D2ADFAA7"
)


def test_general_ciphering_green_book_table_41() -> None:
    data = bytes.fromhex(GC_HEX)
    gc = decode_apdu(data)
    assert isinstance(gc, GeneralCiphering)
    assert gc.transaction_id == bytes.fromhex("0102030405060708")
    assert gc.originator_system_title == bytes.fromhex("4D4D4D0000BC614E")
    assert gc.recipient_system_title == bytes.fromhex("4D4D4D0000000001")
    assert gc.date_time == b"" and gc.other_information == b""
    assert isinstance(gc.key_info, AgreedKey) and gc.key_info.key_parameters == b"\x01"
    assert len(gc.key_info.key_ciphered_data) == 128
    assert (gc.security_control, gc.invocation_counter) == (0x31, 0)
    assert gc.to_bytes() == data


def test_exception_response() -> None:
    assert ExceptionResponse(1, 2).to_bytes() == bytes.fromhex("D80102")
    ic = ExceptionResponse(1, 6, 0x01020304)
    assert ic.to_bytes() == bytes.fromhex("D8010601020304")
    assert decode_apdu(ic.to_bytes()) == ic


def test_get_response_encode_raw_matches_object() -> None:
    value = DoubleLongUnsigned(5009)
    assert GetResponseNormal.encode_raw(0xC1, value.to_bytes()) == \
        GetResponseNormal(0xC1, value).to_bytes()


def test_get_response_block() -> None:
    block = GetResponseWithDataBlock(0xC1, False, 1, bytes.fromhex("0182"))
    assert block.to_bytes() == bytes.fromhex("C402C1000000000100020182")
    err = GetResponseWithDataBlock(0xC1, True, 2, DataAccessResult.DATA_BLOCK_NUMBER_INVALID)
    assert decode_apdu(err.to_bytes()) == err


@pytest.mark.parametrize("hex_", [
    "", "C0", "C009C1", "C001C100080000010000FF02", "C001C100080000010000FF020099",
    "C401C10105", "6100", "6103A10100", "FF", "C401C1000600001391FF",
])
def test_rejects(hex_: str) -> None:
    with pytest.raises(DecodeError):
        decode_apdu(bytes.fromhex(hex_))


def test_from_bytes_checks_class() -> None:
    with pytest.raises(DecodeError):
        GetRequestNext.from_bytes(bytes.fromhex(VECTORS[0][1]))


def test_unknown_context_and_unknown_fields() -> None:
    # OID 1.2.3 as context, plus an unmodelled implementation-information [29] field.
    body = bytes.fromhex("A10406022A03" "BD020400")
    aarq = AARQ.from_bytes(bytes((0x60, len(body))) + body)
    assert aarq.application_context_name == -1
