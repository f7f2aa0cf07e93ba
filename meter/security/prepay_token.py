"""The ACESM top-up token: what Token gateway (class 115) ``enter`` receives.

The Blue Book leaves the token's format to the payment scheme. The public scheme of the field
(STS, IEC 62055-41) is not public text, so this is our own format, not STS. A token is 26 bytes;
integers are big-endian::

    offset  size  field
    0       1     version, 1
    1       1     kind, 1 = credit top-up
    2       4     token id: the vending system's counter for this meter, 1 .. 2**32-1; the meter
                  accepts each id once (Token gateway keeps the highest id and a window below it)
    6       4     amount, 1 .. 2**31-1, in the account currency's smallest unit (its
                  currency_scale: -2 = cents)
    10      16    MAC: HMAC-SHA-256 under the meter's token key over
                  "ACESM-TOKEN-1" || the meter's system title (8 bytes) || bytes 0..9,
                  the first 16 bytes

The token key is per meter (the Token gateway's ``token_key`` in the profile); binding the
system title into the MAC also refuses a token made for another meter under the same key.
``acesm-meter token make`` makes one; head ends and tests send the 26 bytes as the octet-string
of enter, or as 52 hex digits where a person types it.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from meter.errors import SecurityError

__all__ = ["MAX_AMOUNT", "MAX_ID", "TOKEN_BYTES", "Token", "TokenAuthError", "TokenError",
           "TokenFormatError", "make_token", "open_token"]

VERSION = 1
KIND_CREDIT = 1
MAC_BYTES = 16
_BODY = struct.Struct(">BBIi")
TOKEN_BYTES = _BODY.size + MAC_BYTES
MAX_ID = 0xFFFFFFFF
MAX_AMOUNT = 0x7FFFFFFF
_LABEL = b"ACESM-TOKEN-1"
MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 64


class TokenError(SecurityError):
    """A token the meter refuses."""


class TokenFormatError(TokenError):
    """Not a token of this format (length, version, kind, id or amount out of range)."""


class TokenAuthError(TokenError):
    """The MAC does not verify under this meter's key and system title."""


@dataclass(frozen=True, slots=True)
class Token:
    token_id: int
    amount: int


def _mac(key: bytes, system_title: bytes, body: bytes) -> bytes:
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise TokenError(f"token key of {len(key)} bytes (want {MIN_KEY_BYTES}..{MAX_KEY_BYTES})")
    if len(system_title) != 8:
        raise TokenError("system title of the meter must be 8 bytes")
    return hmac.new(key, _LABEL + system_title + body, hashlib.sha256).digest()[:MAC_BYTES]


def make_token(key: bytes, system_title: bytes, token_id: int, amount: int) -> bytes:
    """The 26 bytes of a top-up token of ``amount`` with id ``token_id`` for this meter."""
    if not 1 <= token_id <= MAX_ID:
        raise TokenFormatError(f"token id {token_id} not in 1..{MAX_ID}")
    if not 1 <= amount <= MAX_AMOUNT:
        raise TokenFormatError(f"amount {amount} not in 1..{MAX_AMOUNT}")
    body = _BODY.pack(VERSION, KIND_CREDIT, token_id, amount)
    return body + _mac(key, system_title, body)


def open_token(token: bytes, key: bytes, system_title: bytes) -> Token:
    """The token's id and amount; TokenFormatError or TokenAuthError when it is refused."""
    if len(token) != TOKEN_BYTES:
        raise TokenFormatError(f"a token is {TOKEN_BYTES} bytes, not {len(token)}")
    body, mac = token[:_BODY.size], token[_BODY.size:]
    version, kind, token_id, amount = _BODY.unpack(body)
    if version != VERSION or kind != KIND_CREDIT:
        raise TokenFormatError(f"token version {version} kind {kind} unknown")
    # The MAC before the field ranges: a forged token learns nothing about which check failed.
    if not hmac.compare_digest(mac, _mac(key, system_title, body)):
        raise TokenAuthError("token MAC does not verify")
    if token_id < 1 or amount < 1:
        raise TokenFormatError("token id and amount must be positive")
    return Token(token_id, amount)
