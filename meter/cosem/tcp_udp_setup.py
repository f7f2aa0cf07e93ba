"""TCP-UDP setup (class_id 41, version 0; Blue Book "TCP-UDP setup", cosem-reference.md §2.2).

Values are validated on write. The wrapper listener follows them (meter.transport.tcp_setup):
TCP_UDP_port is where it listens, nb_of_sim_conn how many wrapper connections it serves at once,
MSS the maximum segment size it announces, inactivity_time_out when an idle connection is
closed. A SET applies to connections accepted after the connection that made it ends; the
connections open then are not touched.
"""

from __future__ import annotations

from meter.codec.axdr import Data, LongUnsigned, OctetString, Unsigned
from meter.codec.obis import Obis
from meter.cosem.base import Attr, Context, CosemObject, expect, in_range, on_set, out_of_range
from meter.cosem.profile_entry import ProfileEntry

#: nb_of_sim_conn is an unsigned, so 255 is the most it can say, while the meter serves
#: thousands of connections at once (the soak test holds 2,200): 255, the default, reads "255
#: or more" and leaves the cap to [limits] max_connections; a smaller value caps.
UNCAPPED = 255
#: What the listener follows only once a head end has set it (persisted): until then the
#: command line's port holds (and TCP_UDP_port reads it), and the OS's segment size (the Blue
#: Book's default MSS, 576, would cut every loopback and LAN transfer into small segments).
_CHOSEN = ("tcp_udp_port", "mss")


class TcpUdpSetup(CosemObject):
    CLASS_ID = 41
    VERSION = 0
    NAME = "tcp_udp_setup"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "TCP_UDP_port", LongUnsigned, default=LongUnsigned(4059)),  # IANA DLMS/COSEM
        Attr(3, "IP_reference", OctetString, default=OctetString(bytes((0, 0, 25, 1, 0, 255)))),
        Attr(4, "MSS", LongUnsigned, default=LongUnsigned(576)),
        Attr(5, "nb_of_sim_conn", Unsigned, default=Unsigned(UNCAPPED)),
        Attr(6, "inactivity_time_out", LongUnsigned, default=LongUnsigned(180)),
    )

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        # [tcp] inactivity_timeout is the initial value; a SET by the head end overrides it.
        return {**super().profile_values(entry),
                "inactivity_time_out": LongUnsigned(int(entry.tcp.get("inactivity_timeout", 180)))}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Which of _CHOSEN a head end has set.
        self.chosen: set[str] = set()

    @property
    def port(self) -> int | None:
        """The port a head end set; None: wherever the command line put the listener."""
        return self.int_value("tcp_udp_port") if "tcp_udp_port" in self.chosen else None

    @property
    def max_connections(self) -> int | None:
        """nb_of_sim_conn as a cap on wrapper connections; None for UNCAPPED."""
        count = self.int_value("nb_of_sim_conn")
        return None if count == UNCAPPED else count

    @property
    def mss(self) -> int | None:
        """The MSS a head end set; None: the OS's."""
        return self.int_value("mss") if "mss" in self.chosen else None

    def listening_on(self, port: int) -> None:
        """The listener is on ``port`` (the command line's, no head end having set one)."""
        if "tcp_udp_port" not in self.chosen:
            self.store("tcp_udp_port", LongUnsigned(port))

    @on_set("tcp_udp_port")
    def write_tcp_udp_port(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, LongUnsigned, "TCP_UDP_port").value, 1, 65535, "TCP_UDP_port")
        self.store("tcp_udp_port", value)
        self.chosen.add("tcp_udp_port")

    @on_set("ip_reference")
    def write_ip_reference(self, value: Data, ctx: Context) -> None:
        if len(expect(value, OctetString, "IP_reference").value) != 6:
            raise out_of_range("IP_reference is a logical name")
        self.store("ip_reference", value)

    @on_set("mss")
    def write_mss(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, LongUnsigned, "MSS").value, 40, 65535, "MSS")
        self.store("mss", value)
        self.chosen.add("mss")

    @on_set("nb_of_sim_conn")
    def write_nb_of_sim_conn(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Unsigned, "nb_of_sim_conn").value, 1, UNCAPPED, "nb_of_sim_conn")
        self.store("nb_of_sim_conn", value)

    def dump_private(self) -> Data | None:
        bits = sum(1 << i for i, name in enumerate(_CHOSEN) if name in self.chosen)
        return Unsigned(bits) if bits else None

    def load_private(self, value: Data) -> None:
        bits = expect(value, Unsigned, "chosen").value
        self.chosen = {name for i, name in enumerate(_CHOSEN) if bits >> i & 1}
