"""Mutated ciphered requests (Green Book 9.2.7.2: security header SC || IC, GCM tag of 12 octets,
IV = system title || IC) and what the meter must make of each: a failed decryption (fraud event
49), a replay (event 50) or an APDU it cannot even decode (no event).

Every mutation starts from a genuine glo-/general-glo-ciphered GET built the way the management
client builds it, so the only thing wrong is the named defect.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from meter import apdu as A
from meter.codec.obis import Obis
from meter.security import gcm

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")  # refclient's Keys() default
GLO_GET = 0xC8
SC = 0x30  # authenticated and encrypted, suite 0

FAILURE, REPLAY, UNDECODABLE = "failure", "replay", "undecodable"
#: The exception-response service-error each outcome gets (Green Book 9.5, ExceptionResponse).
SERVICE_ERROR = {FAILURE: A.ServiceError.DECIPHERING_ERROR, REPLAY: A.ServiceError.INVOCATION_COUNTER_ERROR,
                 UNDECODABLE: A.ServiceError.OTHER_REASON}


@dataclass(frozen=True, slots=True)
class Mutant:
    kind: str  # the defect, for the report
    outcome: str  # FAILURE, REPLAY or UNDECODABLE
    wire: bytes


def get_energy() -> bytes:
    return A.GetRequestNormal(0xC1, A.CosemAttributeDescriptor(3, Obis.parse("1.0.1.8.0.255"), 2)).to_bytes()


def _glo(ic: int, *, sc: int = SC, title: bytes = CLIENT_TITLE, plain: bytes | None = None,
         tag: int = GLO_GET, ek: bytes = EK, ak: bytes = AK) -> bytes:
    payload = gcm.protect(sc, title, ic, ek, ak, plain or get_energy())
    return A.CipheredApdu(tag, sc, ic, payload).to_bytes()


def _flip(data: bytes, index: int, rng: random.Random) -> bytes:
    return data[:index] + bytes((data[index] ^ rng.randrange(1, 256),)) + data[index + 1:]


def _header_len(wire: bytes) -> int:
    """Tag, BER length and SC || IC of a glo-APDU: where the protected payload starts."""
    n = wire[1]
    length_octets = 1 + (n & 0x7F if n & 0x80 else 0)
    return 1 + length_octets + 5


def wrong_auth_tag(ic: int, replayable: int, rng: random.Random) -> Mutant:
    wire = _glo(ic)
    return Mutant("auth-tag", FAILURE, _flip(wire, len(wire) - rng.randrange(1, 13), rng))


def flipped_ciphertext(ic: int, replayable: int, rng: random.Random) -> Mutant:
    wire = _glo(ic)
    start = _header_len(wire)
    return Mutant("ciphertext", FAILURE, _flip(wire, rng.randrange(start, len(wire) - 12), rng))


def wrong_counter(ic: int, replayable: int, rng: random.Random) -> Mutant:
    """The IC in the header changed after the tag was computed (the IV no longer matches)."""
    wire = bytearray(_glo(ic))
    at = _header_len(bytes(wire)) - 4
    wire[at:at + 4] = (ic + rng.randrange(1, 1000)).to_bytes(4, "big")
    return Mutant("counter", FAILURE, bytes(wire))


def replayed(ic: int, replayable: int, rng: random.Random) -> Mutant:
    """A genuine APDU with a counter the meter already accepted (a recorded one, sent again)."""
    return Mutant("replay", REPLAY, _glo(rng.randrange(1, replayable + 1)))


def wrong_system_title(ic: int, replayable: int, rng: random.Random) -> Mutant:
    title = bytes(CLIENT_TITLE[:7]) + bytes(((CLIENT_TITLE[7] + rng.randrange(1, 256)) % 256,))
    if rng.random() < 0.5:  # glo: ciphered under another title than the AARQ's
        return Mutant("system-title", FAILURE, _glo(ic, title=title))
    # general-glo: the APDU names another title than the AARQ's
    payload = gcm.protect(SC, title, ic, EK, AK, get_energy())
    return Mutant("system-title", FAILURE, A.GeneralGloCiphering(title, SC, ic, payload).to_bytes())


def truncated(ic: int, replayable: int, rng: random.Random) -> Mutant:
    wire = _glo(ic)
    if rng.random() < 0.5:  # shorter payload, consistent length: the tag cannot verify
        cut = rng.randrange(0, len(wire) - _header_len(wire))
        payload = wire[_header_len(wire):][:cut]
        return Mutant("truncated", FAILURE, A.CipheredApdu(GLO_GET, SC, ic, payload).to_bytes())
    # cut on the wire: the length octet promises more than arrives
    return Mutant("truncated-raw", UNDECODABLE, wire[:rng.randrange(_header_len(wire), len(wire))])


def wrong_security_control(ic: int, replayable: int, rng: random.Random) -> Mutant:
    """Another SC than the one the tag was computed with, or one the policy/meter refuses."""
    sc = rng.choice((0x00, 0x10, 0x20, 0x31, 0x70, 0xB0, 0x30 | rng.randrange(1, 16)))
    wire = bytearray(_glo(ic))
    wire[_header_len(bytes(wire)) - 5] = sc
    return Mutant("security-control", FAILURE, bytes(wire))


def wrong_suite(ic: int, replayable: int, rng: random.Random) -> Mutant:
    """Protected consistently, but under a suite the Security setup does not have (1: same
    key length; 2: AES-256)."""
    suite = rng.choice((1, 2))
    return Mutant("suite", FAILURE, _glo(ic, sc=SC | suite, ek=EK * suite, ak=AK * suite))


def wrong_apdu_tag(ic: int, replayable: int, rng: random.Random) -> Mutant:
    """A genuine protected GET behind another glo-/ded- tag (the AAD does not cover the tag)."""
    tag = rng.choice((0xC9, 0xCB, 0xD0, 0xD1, 0xD3))  # glo-set, glo-action, ded-get/-set/-action
    return Mutant("apdu-tag", FAILURE, _glo(ic, tag=tag))


MUTATORS: tuple[Callable[[int, int, random.Random], Mutant], ...] = (
    wrong_auth_tag, flipped_ciphertext, wrong_counter, replayed, wrong_system_title, truncated,
    wrong_security_control, wrong_suite, wrong_apdu_tag,
)


def mutants(n: int, first_ic: int, replayable: int, seed: int) -> list[Mutant]:
    """``n`` mutants; fresh counters from ``first_ic`` up (none may ever be accepted), replays
    from 1..``replayable`` (counters the meter accepted before)."""
    rng = random.Random(seed)
    return [MUTATORS[i % len(MUTATORS)](first_ic + i, replayable, rng) for i in range(n)]
