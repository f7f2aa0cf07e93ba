"""TCP-UDP setup (class_id 41, version 0; Blue Book "TCP-UDP setup", cosem-reference.md §2.2).

Values are validated on write; the transport reads them when it (re)opens its listener.
"""

from __future__ import annotations

from meter.codec.axdr import Data, LongUnsigned, OctetString, Unsigned
from meter.cosem.base import Attr, Context, CosemObject, expect, in_range, on_set, out_of_range
from meter.cosem.profile_entry import ProfileEntry


class TcpUdpSetup(CosemObject):
    CLASS_ID = 41
    VERSION = 0
    NAME = "tcp_udp_setup"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "TCP_UDP_port", LongUnsigned, default=LongUnsigned(4059)),  # IANA DLMS/COSEM
        Attr(3, "IP_reference", OctetString, default=OctetString(bytes((0, 0, 25, 1, 0, 255)))),
        Attr(4, "MSS", LongUnsigned, default=LongUnsigned(576)),
        Attr(5, "nb_of_sim_conn", Unsigned, default=Unsigned(1)),
        Attr(6, "inactivity_time_out", LongUnsigned, default=LongUnsigned(180)),
    )

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        # [tcp] inactivity_timeout is the initial value; a SET by the head end overrides it.
        return {**super().profile_values(entry),
                "inactivity_time_out": LongUnsigned(int(entry.tcp.get("inactivity_timeout", 180)))}

    @on_set("ip_reference")
    def write_ip_reference(self, value: Data, ctx: Context) -> None:
        if len(expect(value, OctetString, "IP_reference").value) != 6:
            raise out_of_range("IP_reference is a logical name")
        self.store("ip_reference", value)

    @on_set("mss")
    def write_mss(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, LongUnsigned, "MSS").value, 40, 65535, "MSS")
        self.store("mss", value)

    @on_set("nb_of_sim_conn")
    def write_nb_of_sim_conn(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Unsigned, "").value, 1, 255, "nb_of_sim_conn")
        self.store("nb_of_sim_conn", value)
