"""APDU base class and the one tag table behind :func:`decode_apdu` (Green Book 9.5, xDLMS APDUs).

Every concrete APDU registers itself from ``__init_subclass__``: by its first octet (``TAG``, or
each of ``TAGS`` for envelope classes that serve several tags), and for the GET/SET/ACTION CHOICEs
also by the second octet (``CHOICE``). There is no hand-kept dispatch table.
"""

from __future__ import annotations

from typing import ClassVar, Self, TypeVar

from meter.codec.buffer import Reader, Writer
from meter.errors import DecodeError, EncodeError

K = TypeVar("K")

_BY_TAG: dict[int, type[Apdu]] = {}
_BY_CHOICE: dict[tuple[int, int], type[Apdu]] = {}
_CHOICE_TAGS: set[int] = set()  # the first octets of _BY_CHOICE


class UnknownApdu(DecodeError):
    """Not an APDU this meter knows at all (empty, or an unknown first octet), as opposed to a
    known one that is malformed: the server answers the two differently (Green Book 9.5)."""


class Apdu:
    """Base of every APDU. Subclasses are frozen slotted dataclasses.

    ``encode_body``/``decode_body`` handle what follows the tag (and the CHOICE octet when the
    class has one); ``to_bytes``/``from_bytes`` add and check those leading octets.
    """

    __slots__ = ()
    TAG: ClassVar[int]
    #: Several first octets served by one class (ciphered envelopes); defaults to (TAG,).
    TAGS: ClassVar[tuple[int, ...]] = ()
    #: Second octet selecting the CHOICE alternative (get/set/action), or None.
    CHOICE: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "TAG" not in cls.__dict__ and "TAGS" not in cls.__dict__:
            return  # an intermediate base
        tags = cls.__dict__.get("TAGS") or (cls.TAG,)
        choice = cls.__dict__.get("CHOICE")
        for tag in tags:
            if choice is None:
                _register(_BY_TAG, tag, cls)
            else:
                _register(_BY_CHOICE, (tag, choice), cls)
                _CHOICE_TAGS.add(tag)

    # --- subclass hooks ---------------------------------------------------------------------

    def encode_body(self, w: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> Apdu:
        raise NotImplementedError

    # --- public -----------------------------------------------------------------------------

    def wire_tag(self) -> int:
        return self.TAG

    def encode(self, w: Writer) -> None:
        w.u8(self.wire_tag())
        if self.CHOICE is not None:
            w.u8(self.CHOICE)
        self.encode_body(w)

    def to_bytes(self) -> bytes:
        w = Writer()
        self.encode(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        apdu = decode_apdu(data)
        if not isinstance(apdu, cls):
            raise DecodeError(f"expected {cls.__name__}, got {type(apdu).__name__}")
        return apdu


def _register(table: dict[K, type[Apdu]], key: K, cls: type[Apdu]) -> None:
    # dataclass(slots=True) rebuilds the class, so the same name registers twice on purpose.
    old = table.get(key)
    if old is not None and old.__qualname__ != cls.__qualname__:
        raise TypeError(f"APDU key {key!r} claimed by {old.__name__} and {cls.__name__}")
    table[key] = cls


def decode_apdu(data: bytes) -> Apdu:
    """Decode exactly one APDU filling ``data``. Raises only :class:`DecodeError`
    (:class:`UnknownApdu` for an empty one or an unknown tag)."""
    if not data:
        raise UnknownApdu("empty APDU")
    r = Reader(data)
    tag = r.u8()
    cls = _BY_TAG.get(tag)
    if cls is None:
        if tag not in _CHOICE_TAGS:
            raise UnknownApdu(f"unknown APDU tag 0x{tag:02X}")
        choice = r.u8()
        cls = _BY_CHOICE.get((tag, choice))
        if cls is None:
            raise DecodeError(f"unknown APDU tag 0x{tag:02X} / choice {choice}")
    try:
        apdu = cls.decode_body(r, tag)
    except EncodeError as exc:
        # A field the wire carried that our value types reject (range, size): undecodable.
        raise DecodeError(f"{cls.__name__}: {exc}") from None
    r.expect_end(cls.__name__)
    return apdu


def known_tags() -> frozenset[int]:
    """First octets :func:`decode_apdu` understands (for tests and for the link layer's checks)."""
    return frozenset(_BY_TAG) | frozenset(t for t, _ in _BY_CHOICE)
