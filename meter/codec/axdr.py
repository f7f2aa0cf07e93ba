"""A-XDR encoding of the DLMS ``Data`` CHOICE (Green Book, IEC 62056-6-2 "Data").

Each type is a frozen dataclass with a ``TAG``; classes register themselves by tag through
``__init_subclass__`` so :func:`decode` has one table and no if/elif chain. Values keep the
exact wire type, so ``decode(x.to_bytes()) == x`` for every value, which the property tests check.

Tags are those of cosem-reference.md §3 (dlms-cosem, Gurux C and Gurux Python agree). bcd is one
byte, as Gurux and the Green Book's Integer8 have it. Date/time *attributes* of COSEM objects are
normally octet-strings of 12/5/4 bytes; the tagged types 25/26/27 exist too and are kept as raw
bytes of their fixed size here (see :mod:`meter.codec.cosem_time` to interpret them).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from meter.codec.buffer import Reader, Writer, encode_length
from meter.errors import DecodeError, EncodeError

#: Nesting deeper than this is not a meter's data but an attack on the decoder's stack.
MAX_DEPTH = 32

_BY_TAG: dict[int, type[Data]] = {}


class Data:
    """Base of every A-XDR data value."""

    __slots__ = ()
    TAG: ClassVar[int]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        tag = cls.__dict__.get("TAG")
        if tag is not None:
            # dataclass(slots=True) rebuilds the class, so the same name may register twice.
            old = _BY_TAG.get(tag)
            if old is not None and old.__qualname__ != cls.__qualname__:
                raise TypeError(f"A-XDR tag {tag} registered twice")
            _BY_TAG[tag] = cls

    # Body = the value without its tag (what a compact-array carries).
    def encode_body(self, w: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> Data:
        raise NotImplementedError

    def encode(self, w: Writer) -> None:
        w.buf.append(self.TAG)
        self.encode_body(w)

    def to_bytes(self) -> bytes:
        w = Writer()
        self.encode(w)
        return w.getvalue()

    def to_python(self) -> object:
        """The plain Python value (int, bytes, str, list…) for logs and simple comparisons."""
        raise NotImplementedError


def decode(data: bytes) -> Data:
    """Decode exactly one tagged Data value filling ``data``."""
    r = Reader(data)
    value = read(r)
    r.expect_end("Data")
    return value


def read(r: Reader, depth: int = 0) -> Data:
    """Read one tagged Data value from ``r``."""
    if depth > MAX_DEPTH:
        raise DecodeError("Data nested too deeply")
    tag = r.u8()
    cls = _BY_TAG.get(tag)
    if cls is None:
        raise DecodeError(f"unknown A-XDR data tag {tag}")
    return cls.decode_body(r, depth)


# --- simple types -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NullData(Data):
    TAG: ClassVar[int] = 0

    def encode_body(self, w: Writer) -> None:
        pass

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> NullData:
        return NULL

    def to_python(self) -> object:
        return None


NULL = NullData()


@dataclass(frozen=True, slots=True)
class DontCare(Data):
    TAG: ClassVar[int] = 255

    def encode_body(self, w: Writer) -> None:
        pass

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> DontCare:
        return cls()

    def to_python(self) -> object:
        return None


@dataclass(frozen=True, slots=True)
class Boolean(Data):
    TAG: ClassVar[int] = 3
    value: bool

    def encode_body(self, w: Writer) -> None:
        w.buf.append(0xFF if self.value else 0x00)

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> Boolean:
        # Any non-zero octet is TRUE (A-XDR BOOLEAN); we always send 0xFF.
        return cls(r.u8() != 0)

    def to_python(self) -> object:
        return self.value


class _Int(Data):
    """Fixed-size two's-complement or unsigned integer types."""

    __slots__ = ()
    FMT: ClassVar[struct.Struct]
    LO: ClassVar[int]
    HI: ClassVar[int]
    value: int

    if TYPE_CHECKING:  # the concrete classes are made by _int_type(); this is their signature

        def __init__(self, value: int) -> None: ...

    def __post_init__(self) -> None:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int) or not self.LO <= v <= self.HI:
            raise EncodeError(f"{type(self).__name__} out of range: {v!r}")

    def encode_body(self, w: Writer) -> None:
        w.buf += self.FMT.pack(self.value)

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> Data:
        # FMT is an integer struct format, so the unpacked field is always an int.
        return cls(cast(int, r.unpack(cls.FMT)[0]))

    def to_python(self) -> object:
        return self.value


def _int_type(name: str, tag: int, fmt: str, signed: bool) -> type[_Int]:
    st = struct.Struct(">" + fmt)
    bits = st.size * 8
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    ns = {"TAG": tag, "FMT": st, "LO": lo, "HI": hi, "__annotations__": {"value": int},
          "__qualname__": name, "__module__": __name__}
    return dataclass(frozen=True, slots=True)(type(name, (_Int,), ns))


DoubleLong = _int_type("DoubleLong", 5, "i", True)
DoubleLongUnsigned = _int_type("DoubleLongUnsigned", 6, "I", False)
Bcd = _int_type("Bcd", 13, "b", True)
Integer = _int_type("Integer", 15, "b", True)
Long = _int_type("Long", 16, "h", True)
Unsigned = _int_type("Unsigned", 17, "B", False)
LongUnsigned = _int_type("LongUnsigned", 18, "H", False)
Long64 = _int_type("Long64", 20, "q", True)
Long64Unsigned = _int_type("Long64Unsigned", 21, "Q", False)
Enum = _int_type("Enum", 22, "B", False)
DeltaInteger = _int_type("DeltaInteger", 28, "b", True)
DeltaLong = _int_type("DeltaLong", 29, "h", True)
DeltaDoubleLong = _int_type("DeltaDoubleLong", 30, "i", True)
DeltaUnsigned = _int_type("DeltaUnsigned", 31, "B", False)
DeltaLongUnsigned = _int_type("DeltaLongUnsigned", 32, "H", False)
DeltaDoubleLongUnsigned = _int_type("DeltaDoubleLongUnsigned", 33, "I", False)


class _Float(Data):
    __slots__ = ()
    FMT: ClassVar[struct.Struct]
    value: float

    def encode_body(self, w: Writer) -> None:
        try:
            w.buf += self.FMT.pack(self.value)
        except (OverflowError, struct.error) as exc:
            raise EncodeError(str(exc)) from exc

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> Data:
        return cls(r.unpack(cls.FMT)[0])  # type: ignore[call-arg]

    def __eq__(self, other: object) -> bool:
        # Compare by wire bytes so NaN payloads round-trip as equal.
        if type(other) is not type(self):
            return NotImplemented
        return self.FMT.pack(self.value) == self.FMT.pack(other.value)

    def __hash__(self) -> int:
        return hash((self.TAG, self.FMT.pack(self.value)))

    def to_python(self) -> object:
        return self.value


@dataclass(frozen=True, slots=True, eq=False)
class Float32(_Float):
    TAG: ClassVar[int] = 23
    FMT: ClassVar[struct.Struct] = struct.Struct(">f")
    value: float


@dataclass(frozen=True, slots=True, eq=False)
class Float64(_Float):
    TAG: ClassVar[int] = 24
    FMT: ClassVar[struct.Struct] = struct.Struct(">d")
    value: float


class _Fixed(Data):
    """Tagged date-time (12), date (5) and time (4): raw bytes of a fixed size."""

    __slots__ = ()
    SIZE: ClassVar[int]
    value: bytes

    def __post_init__(self) -> None:
        if len(self.value) != self.SIZE:
            raise EncodeError(f"{type(self).__name__} needs {self.SIZE} bytes")

    def encode_body(self, w: Writer) -> None:
        w.buf += self.value

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> Data:
        return cls(r.bytes(cls.SIZE))  # type: ignore[call-arg]

    def to_python(self) -> object:
        return self.value


@dataclass(frozen=True, slots=True)
class DateTime(_Fixed):
    TAG: ClassVar[int] = 25
    SIZE: ClassVar[int] = 12
    value: bytes


@dataclass(frozen=True, slots=True)
class Date(_Fixed):
    TAG: ClassVar[int] = 26
    SIZE: ClassVar[int] = 5
    value: bytes


@dataclass(frozen=True, slots=True)
class Time(_Fixed):
    TAG: ClassVar[int] = 27
    SIZE: ClassVar[int] = 4
    value: bytes


@dataclass(frozen=True, slots=True)
class OctetString(Data):
    TAG: ClassVar[int] = 9
    value: bytes

    def encode_body(self, w: Writer) -> None:
        w.sized(self.value)

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> OctetString:
        return cls(r.sized())

    def to_python(self) -> object:
        return self.value


@dataclass(frozen=True, slots=True)
class VisibleString(Data):
    """ISO 646 text. Held as bytes: a meter must echo whatever octets it was given."""

    TAG: ClassVar[int] = 10
    value: bytes

    def encode_body(self, w: Writer) -> None:
        w.sized(self.value)

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> VisibleString:
        return cls(r.sized())

    def to_python(self) -> object:
        return self.value.decode("latin-1")


@dataclass(frozen=True, slots=True)
class Utf8String(Data):
    TAG: ClassVar[int] = 12
    value: str

    def encode_body(self, w: Writer) -> None:
        w.sized(self.value.encode("utf-8", "surrogatepass"))

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> Utf8String:
        raw = r.sized()
        try:
            return cls(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DecodeError(f"invalid utf8-string: {exc}") from None

    def to_python(self) -> object:
        return self.value


@dataclass(frozen=True, slots=True)
class BitString(Data):
    """A bit-string of ``length`` bits, first bit = most significant bit of ``value[0]``."""

    TAG: ClassVar[int] = 4
    value: bytes
    length: int

    def __post_init__(self) -> None:
        if self.length < 0 or len(self.value) != (self.length + 7) // 8:
            raise EncodeError("bit-string length does not match its bytes")
        spare = len(self.value) * 8 - self.length
        if spare and self.value[-1] & ((1 << spare) - 1):
            raise EncodeError("bit-string has bits set beyond its length")

    @classmethod
    def from_bits(cls, bits: str) -> BitString:
        n = len(bits)
        padded = bits + "0" * (-n % 8)
        return cls(int(padded, 2).to_bytes(len(padded) // 8, "big") if n else b"", n)

    @property
    def bits(self) -> str:
        if not self.length:
            return ""
        return format(int.from_bytes(self.value, "big"), f"0{len(self.value) * 8}b")[: self.length]

    def encode_body(self, w: Writer) -> None:
        w.length(self.length)
        w.buf += self.value

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> BitString:
        n = r.length()
        raw = bytearray(r.bytes((n + 7) // 8))
        spare = len(raw) * 8 - n
        if spare:
            raw[-1] &= 0xFF ^ ((1 << spare) - 1)  # padding bits carry no value
        return cls(bytes(raw), n)

    def to_python(self) -> object:
        return self.bits


# --- complex types ------------------------------------------------------------------------


class _Sequence(Data):
    """array and structure: a count, then that many tagged values."""

    __slots__ = ()
    items: tuple[Data, ...]

    def encode_body(self, w: Writer) -> None:
        w.length(len(self.items))
        for item in self.items:
            item.encode(w)

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> Data:
        n = r.length()
        if n > r.remaining():  # every element takes at least its tag byte
            raise DecodeError(f"{cls.__name__.lower()} of {n} cannot fit in {r.remaining()} bytes")
        return cls(tuple(read(r, depth + 1) for _ in range(n)))  # type: ignore[call-arg]

    def to_python(self) -> object:
        return [i.to_python() for i in self.items]


@dataclass(frozen=True, slots=True)
class Array(_Sequence):
    TAG: ClassVar[int] = 1
    items: tuple[Data, ...] = ()


@dataclass(frozen=True, slots=True)
class Structure(_Sequence):
    TAG: ClassVar[int] = 2
    items: tuple[Data, ...] = ()


# --- compact-array ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeDescription:
    """Compact-array TypeDescription: a simple tag, or array/structure with element types."""

    tag: int
    count: int = 0  # number of elements, for an array
    elements: tuple[TypeDescription, ...] = ()  # one for an array, n for a structure

    def encode(self, w: Writer) -> None:
        w.u8(self.tag)
        if self.tag == Array.TAG:
            w.u16(self.count)
            self.elements[0].encode(w)
        elif self.tag == Structure.TAG:
            w.length(len(self.elements))
            for e in self.elements:
                e.encode(w)

    @classmethod
    def read(cls, r: Reader, depth: int = 0) -> TypeDescription:
        if depth > MAX_DEPTH:
            raise DecodeError("type description nested too deeply")
        tag = r.u8()
        if tag == Array.TAG:
            count = r.u16()
            return cls(tag, count, (cls.read(r, depth + 1),))
        if tag == Structure.TAG:
            n = r.length()
            if n > r.remaining():
                raise DecodeError("type description longer than its data")
            return cls(tag, 0, tuple(cls.read(r, depth + 1) for _ in range(n)))
        if tag == CompactArray.TAG or tag not in _BY_TAG:
            raise DecodeError(f"tag {tag} not allowed in a compact-array type description")
        return cls(tag)

    @classmethod
    def of(cls, value: Data) -> TypeDescription:
        """The description that fits ``value`` (for building compact arrays)."""
        if isinstance(value, Array):
            if not value.items:
                raise EncodeError("cannot describe an empty array")
            return cls(Array.TAG, len(value.items), (cls.of(value.items[0]),))
        if isinstance(value, Structure):
            return cls(Structure.TAG, 0, tuple(cls.of(i) for i in value.items))
        return cls(value.TAG)


def _write_described(w: Writer, td: TypeDescription, value: Data) -> None:
    if value.TAG != td.tag:
        raise EncodeError(f"compact-array element of tag {value.TAG}, described as {td.tag}")
    if isinstance(value, Array):
        if len(value.items) != td.count:
            raise EncodeError("compact-array element array has the wrong count")
        for item in value.items:
            _write_described(w, td.elements[0], item)
    elif isinstance(value, Structure):
        if len(value.items) != len(td.elements):
            raise EncodeError("compact-array element structure has the wrong count")
        for e, item in zip(td.elements, value.items, strict=True):
            _write_described(w, e, item)
    else:
        value.encode_body(w)


def _read_described(r: Reader, td: TypeDescription, depth: int) -> Data:
    if depth > MAX_DEPTH:
        raise DecodeError("compact-array nested too deeply")
    if td.tag == Array.TAG:
        return Array(tuple(_read_described(r, td.elements[0], depth + 1) for _ in range(td.count)))
    if td.tag == Structure.TAG:
        return Structure(tuple(_read_described(r, e, depth + 1) for e in td.elements))
    return _BY_TAG[td.tag].decode_body(r, depth)


@dataclass(frozen=True, slots=True)
class CompactArray(Data):
    """compact-array: one TypeDescription, then the untagged elements as one octet-string."""

    TAG: ClassVar[int] = 19
    type_description: TypeDescription
    items: tuple[Data, ...] = ()

    def encode_body(self, w: Writer) -> None:
        self.type_description.encode(w)
        body = Writer()
        for item in self.items:
            _write_described(body, self.type_description, item)
        w.sized(body.buf)

    @classmethod
    def decode_body(cls, r: Reader, depth: int) -> CompactArray:
        td = TypeDescription.read(r, depth + 1)
        contents = Reader(r.sized())
        items = []
        while not contents.at_end():
            before = contents.pos
            items.append(_read_described(contents, td, depth + 1))
            if contents.pos == before:  # zero-size elements would loop forever
                raise DecodeError("compact-array of zero-size elements")
        return cls(td, tuple(items))

    def to_python(self) -> object:
        return [i.to_python() for i in self.items]


def is_finite_number(value: Data) -> bool:
    """True for integer types and finite floats (what a Register value may hold)."""
    if isinstance(value, _Int):
        return True
    return isinstance(value, _Float) and math.isfinite(value.value)


INTEGER_TYPES: tuple[type[Data], ...] = tuple(c for c in _BY_TAG.values() if issubclass(c, _Int))


@dataclass(frozen=True, slots=True)
class RawArray(Data):
    """An array of already-encoded elements, kept as its pieces (a profile buffer's rows).

    A long GET sends it block by block (server/services.py) without ever joining the whole
    buffer; :meth:`to_bytes` joins it for a response that fits in one APDU.
    """

    elements: Sequence[bytes]

    def pieces(self) -> list[bytes]:
        return [b"\x01" + encode_length(len(self.elements)), *self.elements]

    def encode(self, w: Writer) -> None:
        w.buf += self.to_bytes()

    def to_bytes(self) -> bytes:
        return b"".join(self.pieces())

    def to_python(self) -> object:
        return decode(self.to_bytes()).to_python()


@dataclass(frozen=True, slots=True)
class Raw(Data):
    """An already-encoded tagged value, written as is (not a wire type of its own).

    Lets large values (a profile buffer of pre-encoded rows) go to the wire without being
    rebuilt as objects; decode the bytes with :func:`decode` to look inside.
    """

    encoded: bytes

    def encode(self, w: Writer) -> None:
        w.buf += self.encoded

    def to_bytes(self) -> bytes:
        return self.encoded

    def to_python(self) -> object:
        return decode(self.encoded).to_python()
