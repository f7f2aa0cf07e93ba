"""ACSE requests built by hand (Green Book 9.3.2 AARQ, 9.2.7.4 HLS-GMAC user-information) for
tests that send what refclient's associate() would not."""

from __future__ import annotations

from refclient import WANTED, Keys

from meter import apdu as A
from meter.security import gcm


def initiate(conformance: int = WANTED, max_pdu: int = 0xFFFF, version: int = 6) -> bytes:
    return A.InitiateRequest(proposed_conformance=A.Conformance(conformance),
                             client_max_receive_pdu_size=max_pdu,
                             proposed_dlms_version_number=version).to_bytes()


def make_aarq(**overrides: object) -> A.AARQ:
    """A plain LN AARQ (public association) with fields overridden."""
    fields: dict[str, object] = dict(application_context_name=1, user_information=initiate())
    fields.update(overrides)
    return A.AARQ(**fields)  # type: ignore[arg-type]


def hls_aarq(ctos: bytes, keys: Keys) -> A.AARQ:
    """The AARQ of HLS-GMAC (mechanism 5) with a glo-ciphered initiate request; moves ``keys``'s
    invocation counter on."""
    ic = keys.invocation_counter
    keys.invocation_counter += 1
    user_info = A.CipheredApdu(0x21, 0x30, ic, gcm.protect(0x30, keys.system_title, ic, keys.ek,
                                                            keys.ak, initiate())).to_bytes()
    return A.AARQ(application_context_name=3, calling_ap_title=keys.system_title,
                  sender_acse_requirements=True, mechanism_name=5,
                  calling_authentication_value=ctos, user_information=user_info)
