"""What an interface class builds one object from: its ``[[object]]`` profile entry.

Each class turns its entry into an object with ``from_profile(entry)`` (cosem/base.py), in its
own module; meter/device/build.py makes the :class:`ProfileEntry` (it knows the profile and the
meter) and names the entry in any :class:`OptionError`. meter/profile_schema.py validates the
options before any class sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meter.codec.axdr import Data
from meter.codec.obis import Obis
from meter.errors import MeterError

if TYPE_CHECKING:
    from meter.cosem.base import Context, CosemObject


class OptionError(MeterError):
    """Options a class cannot build from; the builder prefixes the entry's name."""


@dataclass(frozen=True, slots=True)
class ProfileEntry:
    obis: Obis
    #: The entry's class-specific keys (everything but obis, class and roles).
    options: Mapping[str, Any]
    #: Profile sections some classes start from: ``[meter]``, ``[tcp]``, ``[hdlc]``, ``[metrology]``.
    meter: Mapping[str, Any]
    tcp: Mapping[str, Any]
    hdlc: Mapping[str, Any]
    metrology: Mapping[str, Any]
    system_title: bytes
    #: A profile typed value (``{ unsigned = 3 }``) as Data; raises the profile's own error.
    typed_value: Callable[[Any], Data]
    #: True simulated UTC seconds (the Clock's time source).
    time_source: Callable[[], float]
    #: The objects built so far (profiles are built after what they capture).
    built: Mapping[Obis, CosemObject]
    #: Class id of an object of the profile, built or not (None: not in the profile).
    class_id_of: Callable[[Obis], int | None]
    #: Called with (OBIS value group E, algorithm) when a measurement algorithm is written.
    algorithm_written: Callable[[int, int], None]
    #: Meter behaviour a script marked with the key runs after its actions (``closes_billing``).
    script_steps: Mapping[str, Callable[[Context], None]]

    def int_option(self, key: str, default: int) -> int:
        """Integer option ``key`` (``default`` when absent)."""
        return int(self.options.get(key, default))
