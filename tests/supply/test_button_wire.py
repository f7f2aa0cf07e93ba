"""The customer's button beyond Python (issue 11, what item 1 left): ``kill -USR1`` on a serving
meter presses the supply relay's button. gurux-dlms as the head end opens the relay by the local
trigger (disconnector script 3) and sees the press close it (transition e, code 61); a press
the mode refuses (a connected relay in mode 4 has no manual disconnection) moves nothing and the
meter serves on."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from interop.clients import Arg, Ref
from supply.test_relays_wire import CONNECTED, CONTROL_STATE, READY, codes, head_end, read, wait_for
from support.process import meter_process

pytestmark = pytest.mark.interop

LONG_UNSIGNED = 18
DISCONNECTOR_SCRIPT = Ref(9, "0.0.10.0.106.255", 1)
POWER = Ref(3, "1.0.1.7.0.255", 2)


def test_sigusr1_presses_the_supply_relay_button(tmp_path: Path) -> None:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--time-scale", "60") as process:
        with head_end(process) as m:
            assert m.action(DISCONNECTOR_SCRIPT, Arg(LONG_UNSIGNED, 3)).ok  # local disconnect, g
            assert read(m, CONTROL_STATE) == READY
            process.proc.send_signal(signal.SIGUSR1)
            wait_for(m, CONTROL_STATE, CONNECTED)
            wait_for(m, POWER, lambda w: w > 3000)
            assert codes(m)[-3:] == [64, 59, 61]  # local disconnection, ready, manual connection
            process.proc.send_signal(signal.SIGUSR1)  # mode 4: no manual disconnection
            deadline = time.monotonic() + 2
            while "nothing moved" not in process.log_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "button pressed, nothing moved" in process.log_text()
            assert read(m, CONTROL_STATE) == CONNECTED and codes(m)[-1] == 61
        assert process.proc.poll() is None  # still serving
