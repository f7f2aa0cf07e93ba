"""The communication setup objects as the edges read them: the optical port's IEC 62056-21
mode E opening from the IEC HDLC setup, the wrapper listener's TCP-UDP setup.

The opening is made afresh for every sign-on, and its identification message offers the baud
rate of the HDLC setup's comm_speed (class 23 attribute 2, Blue Book), so a SET of comm_speed
applies to the next sign-on; the client's acknowledgement then picks that rate or a slower one,
and the port switches to it. Each medium uses the first setup object of its kind, as
Device.new_stack does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.tcp_udp_setup import TcpUdpSetup
from meter.link.iec62056_21 import ModeEOpening, baud_character

__all__ = ["opening_factory", "tcp_udp_setup"]


def opening_factory(manufacturer: str,
                    objects: Callable[[], Iterable[object]]) -> Callable[[], ModeEOpening]:
    """Openings offering the comm_speed of the first HDLC setup among ``objects()``; the
    default offer while there is none (the device not yet open)."""

    def opening() -> ModeEOpening:
        setup = next((o for o in objects() if isinstance(o, IecHdlcSetup)), None)
        if setup is None:
            return ModeEOpening(manufacturer=manufacturer)
        return ModeEOpening(manufacturer=manufacturer, max_baud_char=baud_character(setup.baud))

    return opening


def tcp_udp_setup(objects: Iterable[object]) -> TcpUdpSetup | None:
    """The TCP-UDP setup the wrapper listener follows (meter.transport.tcp_setup)."""
    return next((o for o in objects if isinstance(o, TcpUdpSetup)), None)
