"""The in-process harness the test folders share: a hand-moved timebase, refclient's
WrapperClient over a MeterStack in memory (recording the server's invocation counters), a Device
opened on a tmp state dir, and the plain ACSE requests several folders build by hand.

tools/refclient.py is not a package: its folder goes on sys.path here, once for every test."""

from __future__ import annotations

import sys

from support.paths import PROFILE, ROOT, TOOLS

if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

from refclient import WANTED, ClientError, Keys, WrapperClient  # noqa: E402

from support.apdus import hls_aarq, initiate, make_aarq  # noqa: E402
from support.clients import MemoryClient, RecordingClient, SocketClient  # noqa: E402
from support.meter import (  # noqa: E402
    LLS_SECRET,
    MANAGEMENT,
    PUBLIC,
    READER,
    SERVER_TITLE,
    SETUP,
    START,
    FakeTimebase,
    Meter,
    connect,
    management,
    next_ic,
    public,
    reader,
)
from support.mutate import mutate  # noqa: E402

__all__ = ["LLS_SECRET", "MANAGEMENT", "PROFILE", "PUBLIC", "READER", "ROOT", "SERVER_TITLE", "SETUP",
           "START", "TOOLS", "WANTED", "ClientError", "FakeTimebase", "Keys", "MemoryClient", "Meter",
           "RecordingClient", "SocketClient", "WrapperClient", "connect", "hls_aarq", "initiate",
           "make_aarq", "management", "mutate", "next_ic", "public", "reader"]
