"""The optical port's IEC 62056-21 mode E opening, made afresh for every sign-on.

The identification message offers the baud rate of the port's IEC HDLC setup comm_speed (class
23 attribute 2, Blue Book), so a SET of comm_speed applies to the next sign-on; the client's
acknowledgement then picks that rate or a slower one, and the port switches to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.link.iec62056_21 import ModeEOpening, baud_character

__all__ = ["opening_factory"]


def opening_factory(manufacturer: str,
                    objects: Callable[[], Iterable[object]]) -> Callable[[], ModeEOpening]:
    """Openings offering the comm_speed of the first HDLC setup among ``objects()`` (the one
    the meter's HDLC ports run with, Device.new_stack); the default offer while there is none
    (the device not yet open)."""

    def opening() -> ModeEOpening:
        setup = next((o for o in objects() if isinstance(o, IecHdlcSetup)), None)
        if setup is None:
            return ModeEOpening(manufacturer=manufacturer)
        return ModeEOpening(manufacturer=manufacturer, max_baud_char=baud_character(setup.baud))

    return opening
