"""One connection's stack (meter/stack.py), set up from the port's setup objects as the meter
holds them when the connection opens: a SET on HDLC setup or TCP-UDP setup applies to the next
connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.hdlc_setup import IecHdlcSetup
from meter.cosem.registry import ObjectDirectory
from meter.cosem.tcp_udp_setup import TcpUdpSetup
from meter.device import build
from meter.link.framing import Framing
from meter.link.hdlc.connection import HdlcConfig
from meter.profile import Profile
from meter.server.association import Environment
from meter.stack import MeterStack

__all__ = ["PORT_SETUP", "StackFactory"]

#: The setup object (profile class) that names the port a framing comes in on, for
#: Communication port protection: the wrapper runs on TCP, HDLC on serial, optical or TCP.
PORT_SETUP = {Framing.WRAPPER: "tcp_udp_setup", Framing.HDLC: "hdlc_setup"}


class StackFactory:
    def __init__(self, profile: Profile, directory: ObjectDirectory, env: Environment,
                 commit: Callable[[], None], at: Callable[[float], None]) -> None:
        """``commit``: after each request; ``at``: bring the meter to a simulated time."""
        self._profile = profile
        self._directory = directory
        self._env = env
        self._commit = commit
        self._at = at
        self._server_wport = int(profile.tcp.get("server_wport", 1))
        # The default port of each framing: the directory is complete when the device makes
        # this factory, so the search over it runs once, not on every connection.
        self._default_ports = {framing: next((o.logical_name for o in directory if o.NAME == name), None)
                               for framing, name in PORT_SETUP.items()}

    def new_stack(self, framing: Framing, port: Obis | None, *, serial: bool,
                  now: Callable[[], float]) -> MeterStack:
        """See Device.new_stack."""
        if port is None:
            port = self._default_ports.get(framing)
        at = self._at
        return MeterStack(framing, self._env, self._commit, before=lambda: at(now()),
                          server_wport=self._server_wport,
                          hdlc_config=self._hdlc_config(port, serial) if framing == Framing.HDLC else None,
                          port=port,
                          idle_timeout=self._inactivity_time_out(port))

    def _hdlc_config(self, port: Obis | None, serial: bool) -> HdlcConfig:
        """The HDLC link settings of the port's HDLC setup; [hdlc] for ports without one. The
        inter-octet time-out is the serial line's: over TCP a frame may be split by more
        (HdlcConfig)."""
        setup = self._directory.get(port) if port is not None else None
        if not isinstance(setup, IecHdlcSetup):
            setup = IecHdlcSetup(Obis(0, 0, 22, 0, 0, 255), **build.hdlc_setup_values(self._profile))
        v = setup.setting
        config = HdlcConfig(
            physical_address=v("device_address"),
            logical_addresses=(int(self._profile.hdlc.get("logical_address", 1)),),
            max_info_tx=v("max_info_field_length_transmit"),
            max_info_rx=v("max_info_field_length_receive"),
            window_tx=v("window_size_transmit"), window_rx=v("window_size_receive"),
            inactivity_timeout=float(v("inactivity_time_out")),
        )
        if serial:
            return dataclasses.replace(config, inter_octet_timeout=v("inter_octet_time_out") / 1000)
        return config

    def _inactivity_time_out(self, port: Obis | None) -> float:
        """The port's TCP-UDP setup inactivity_time_out (0, none, for ports without one)."""
        setup = self._directory.get(port) if port is not None else None
        if not isinstance(setup, TcpUdpSetup):
            return 0.0
        value = setup.value("inactivity_time_out")
        return float(value.value) if isinstance(value, axdr.LongUnsigned) else 0.0
