"""Deciphering an APDU with known keys, for reading traffic (``acesm-meter decode``, the
control API's APDU trace): the plaintext of a ciphered APDU, or of the xDLMS initiate inside an
AARQ/AARE/RLRQ/RLRE."""

from __future__ import annotations

from meter.apdu import decode_apdu
from meter.apdu.acse import AARE, AARQ, RLRE, RLRQ
from meter.apdu.ciphered import CipheredApdu, GeneralDedCiphering, GeneralGloCiphering
from meter.security import gcm

__all__ = ["decipher"]


def decipher(
    apdu: object, ek: bytes | None, ak: bytes | None, system_title: bytes | None
) -> bytes | None:
    """The plaintext of a ciphered APDU (or of the xDLMS initiate an AARQ/AARE carries) when the
    keys are known, else None."""
    if ek is None:
        return None
    if isinstance(apdu, (AARQ, AARE, RLRQ, RLRE)):
        if not apdu.user_information:
            return None
        # The initiate inside is ciphered under the AP title sent beside it, if any (Green Book
        # 9.2.7); a release's under the sender's title.
        own = (apdu.calling_ap_title if isinstance(apdu, AARQ)
               else apdu.responding_ap_title if isinstance(apdu, AARE) else None)
        return decipher(decode_apdu(apdu.user_information), ek, ak, own or system_title)
    if isinstance(apdu, (GeneralGloCiphering, GeneralDedCiphering)):
        title = apdu.system_title or system_title
    elif isinstance(apdu, CipheredApdu):
        title = system_title
    else:
        return None
    if title is None:
        raise ValueError("deciphering needs --system-title (the sender's)")
    return gcm.unprotect(
        apdu.security_control, title, apdu.invocation_counter, ek, ak or b"", apdu.payload
    )
