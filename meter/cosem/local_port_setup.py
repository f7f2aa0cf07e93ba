"""IEC local port setup (class_id 19, version 1; Blue Book "IEC local port setup",
cosem-reference.md §2.2): how the optical port opens a session by IEC 62056-21.

Attributes: 2 default_mode enum (0 IEC 62056-21 protocol, 1 DLMS/COSEM: HDLC after the mode E
opening, 2 not specified); 3 default_baud enum (the rate the opening starts at); 4 prop_baud
enum (the rate the meter proposes in its identification message); 5 response_time enum (0 20 ms,
1 200 ms: the minimum reaction time tr); 6 device_addr octet-string (the address a request
"/?address!" must name; empty: only requests without one); 7 pass_p1, 8 pass_p2, 9 pass_w5
octet-strings (the passwords of IEC 62056-21 programming mode C, which this meter does not
offer: they are kept and served as written). Baud enums as IEC HDLC setup comm_speed (0 300 ...
9 115200). All static; no methods.

The optical port's mode E opening (meter/device/port_setups.py) takes the proposed rate, the
device address, the sign-on rate and the reaction time from here, so a SET applies to the next
sign-on. default_mode is kept as written: mode E (HDLC) is the one protocol this meter's optical
port speaks, so the identification always offers it.
"""

from __future__ import annotations

from meter.codec.axdr import Data, Enum, OctetString
from meter.cosem.base import Attr, Context, CosemObject, in_range, octets, on_set
from meter.cosem.hdlc_setup import BAUD_RATES
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult

__all__ = ["IecLocalPortSetup", "MAX_DEVICE_ADDRESS", "MAX_PASSWORD"]

#: default_mode: DLMS/COSEM (HDLC, entered by mode E).
MODE_DLMS = 1
#: IEC 62056-21 6.3.1: a device address is at most 32 characters.
MAX_DEVICE_ADDRESS = 32
#: IEC 62056-21 passwords (P1/P2/W5 commands) are short; 32 bytes bounds what a client stores.
MAX_PASSWORD = 32
_ENUM_RANGES = {"default_mode": (0, 2), "default_baud": (0, len(BAUD_RATES) - 1),
                "prop_baud": (0, len(BAUD_RATES) - 1), "response_time": (0, 1)}
#: response_time enum -> minimum reaction time in s.
RESPONSE_TIMES = (0.020, 0.200)


def check_device_address(raw: bytes) -> str:
    """A device address as IEC 62056-21 allows it (printable ASCII, no "/", "!" or "?"), or
    ValueError."""
    text = raw.decode("ascii")
    if len(raw) > MAX_DEVICE_ADDRESS or any(c in "/!?" or not c.isprintable() for c in text):
        raise ValueError(f"device address {raw!r}: at most {MAX_DEVICE_ADDRESS} printable "
                         "characters, no / ! ?")
    return text


class IecLocalPortSetup(CosemObject):
    CLASS_ID = 19
    VERSION = 1
    NAME = "local_port_setup"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "default_mode", Enum, default=Enum(MODE_DLMS)),
        Attr(3, "default_baud", Enum, default=Enum(0)),  # 300 baud, as IEC 62056-21 opens
        Attr(4, "prop_baud", Enum, default=Enum(5)),  # 9600 baud
        Attr(5, "response_time", Enum, default=Enum(0)),
        Attr(6, "device_addr", OctetString, default=OctetString(b"")),
        Attr(7, "pass_p1", OctetString, default=OctetString(b"")),
        Attr(8, "pass_p2", OctetString, default=OctetString(b"")),
        Attr(9, "pass_w5", OctetString, default=OctetString(b"")),
    )

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """default_mode, default_baud, prop_baud, response_time (enums), device_address
        (text)."""
        values: dict[str, Data] = {}
        for name, (lo, hi) in _ENUM_RANGES.items():
            if name in entry.options:
                value = int(entry.options[name])
                if not lo <= value <= hi:
                    raise OptionError(f"{name} {value} outside {lo}..{hi}")
                values[name] = Enum(value)
        if "device_address" in entry.options:
            raw = str(entry.options["device_address"]).encode("ascii", "replace")
            try:
                check_device_address(raw)
            except ValueError as exc:
                raise OptionError(str(exc)) from None
            values["device_addr"] = OctetString(raw)
        return {**super().profile_values(entry), **values}

    # --- what the optical port reads ---------------------------------------------------------

    @property
    def proposed_baud(self) -> int:
        """The rate the identification message proposes (prop_baud)."""
        return BAUD_RATES[self.int_value("prop_baud")]

    @property
    def sign_on_baud(self) -> int:
        """The rate the opening starts at (default_baud)."""
        return BAUD_RATES[self.int_value("default_baud")]

    @property
    def device_address(self) -> str:
        return self.octets("device_addr").decode("ascii")

    @property
    def reaction_time(self) -> float:
        """The minimum time (s) between a request and the meter's answer (response_time)."""
        return RESPONSE_TIMES[self.int_value("response_time")]

    # --- writes --------------------------------------------------------------------------------

    def set(self, index: int, value: Data, ctx: Context, selector: int | None = None,
            parameters: Data | None = None) -> None:
        attr = self._attr(index)
        limits = _ENUM_RANGES.get(attr.py_name)
        if limits is not None and isinstance(value, Enum):
            in_range(value.value, *limits, attr.name)
        if attr.py_name.startswith("pass_") and isinstance(value, OctetString) \
                and len(value.value) > MAX_PASSWORD:
            raise AccessError(DataAccessResult.OTHER_REASON,
                              f"{attr.name}: at most {MAX_PASSWORD} bytes")
        super().set(index, value, ctx, selector, parameters)

    @on_set("device_addr")
    def write_device_addr(self, value: Data, ctx: Context) -> None:
        raw = octets(value, "device_addr")
        try:
            check_device_address(raw)
        except (ValueError, UnicodeDecodeError):
            raise AccessError(DataAccessResult.OTHER_REASON,
                              f"device_addr: at most {MAX_DEVICE_ADDRESS} printable characters, "
                              "no / ! ?") from None
        self.store("device_addr", value)
