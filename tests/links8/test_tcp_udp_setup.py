"""TCP-UDP setup (class 41) as the wrapper listener reads it: where it listens, its connection
cap and MSS; SETs validated (other-reason / type-unmatched, never a traceback)."""

from __future__ import annotations

import pytest

from meter.codec.axdr import Data, LongUnsigned, Unsigned
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.registry import ObjectDirectory
from meter.cosem.tcp_udp_setup import UNCAPPED, TcpUdpSetup
from meter.errors import AccessError, DataAccessResult

OBIS = Obis.parse("0.0.25.0.0.255")


def _ctx(setup: TcpUdpSetup) -> Context:
    return Context(ObjectDirectory([setup]), None, lambda _e: None, lambda _o: None)


def test_the_command_line_port_holds_until_a_head_end_sets_one_which_persists() -> None:
    setup = TcpUdpSetup(OBIS)
    assert setup.port is None
    setup.listening_on(40123)  # where the command line put the listener
    assert setup.value("tcp_udp_port") == LongUnsigned(40123) and setup.port is None
    setup.set(2, LongUnsigned(4060), _ctx(setup))
    setup.listening_on(40123)  # a set port is not overwritten
    assert setup.port == 4060
    restored = TcpUdpSetup(OBIS)
    restored.load_state(setup.dump_state())
    assert restored.port == 4060
    unset = TcpUdpSetup(OBIS)
    unset.listening_on(40123)
    again = TcpUdpSetup(OBIS)
    again.load_state(unset.dump_state())
    assert again.port is None  # a stored listening port is not a head end's choice


def test_cap_and_mss() -> None:
    setup = TcpUdpSetup(OBIS)
    assert setup.value("nb_of_sim_conn") == Unsigned(UNCAPPED) and setup.max_connections is None
    assert setup.mss is None  # the OS's until a head end sets one
    setup.set(5, Unsigned(3), _ctx(setup))
    setup.set(4, LongUnsigned(1400), _ctx(setup))
    assert (setup.max_connections, setup.mss) == (3, 1400)
    restored = TcpUdpSetup(OBIS)
    restored.load_state(setup.dump_state())
    assert (restored.max_connections, restored.mss, restored.port) == (3, 1400, None)


@pytest.mark.parametrize(("index", "value", "result"), [
    (2, LongUnsigned(0), DataAccessResult.OTHER_REASON),
    (2, Unsigned(80), DataAccessResult.TYPE_UNMATCHED),
    (4, LongUnsigned(39), DataAccessResult.OTHER_REASON),
    (5, Unsigned(0), DataAccessResult.OTHER_REASON),
    (5, LongUnsigned(2), DataAccessResult.TYPE_UNMATCHED),
])
def test_bad_values_are_refused(index: int, value: Data, result: DataAccessResult) -> None:
    setup = TcpUdpSetup(OBIS)
    before = setup.dump_state()
    with pytest.raises(AccessError) as exc:
        setup.set(index, value, _ctx(setup))
    assert exc.value.result == result
    assert setup.dump_state() == before and setup.port is None
