"""The communication setup objects as the edges read them: the optical port's IEC 62056-21
mode E opening from the IEC local port setup (or the IEC HDLC setup), the wrapper listener's
TCP-UDP setup.

The opening is made afresh for every sign-on, so a SET applies to the next sign-on. Which object
rules the rate the identification message offers: the IEC local port setup (class 19) when the
meter has one, since its prop_baud is by definition "the baud rate to be proposed by the meter"
in the IEC 62056-21 opening, and its device_addr the address a request names (Blue Book, IEC
local port setup); the IEC HDLC setup's comm_speed (class 23) is the speed of a port that
speaks HDLC from the start, which the Blue Book lets a special mode of another protocol
override when HDLC is entered through it (my reading of the class 23 text, M) - here mode E.
comm_speed rules the sign-on only on a meter without a local port setup (as before that
object existed). The client's
acknowledgement then picks that rate or a slower one, and the port switches to it. Each medium
uses the first setup object of its kind, as Device.new_stack does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.local_port_setup import IecLocalPortSetup
from meter.cosem.tcp_udp_setup import TcpUdpSetup
from meter.link.iec62056_21 import ModeEOpening, baud_character

__all__ = ["opening_factory", "tcp_udp_setup"]


def opening_factory(manufacturer: str,
                    objects: Callable[[], Iterable[object]]) -> Callable[[], ModeEOpening]:
    """Openings offering the prop_baud and answering the device_addr of the first IEC local
    port setup among ``objects()``, else the comm_speed of the first HDLC setup; the default
    offer while there is neither (the device not yet open)."""

    def opening() -> ModeEOpening:
        found = list(objects())
        local = next((o for o in found if isinstance(o, IecLocalPortSetup)), None)
        if local is not None:
            return ModeEOpening(manufacturer=manufacturer,
                                max_baud_char=baud_character(local.proposed_baud),
                                device_address=local.device_address,
                                sign_on_baud=local.sign_on_baud,
                                reaction_time=local.reaction_time)
        setup = next((o for o in found if isinstance(o, IecHdlcSetup)), None)
        if setup is None:
            return ModeEOpening(manufacturer=manufacturer)
        return ModeEOpening(manufacturer=manufacturer, max_baud_char=baud_character(setup.baud))

    return opening


def tcp_udp_setup(objects: Iterable[object]) -> TcpUdpSetup | None:
    """The TCP-UDP setup the wrapper listener follows (meter.transport.tcp_setup)."""
    return next((o for o in objects if isinstance(o, TcpUdpSetup)), None)
