"""``acesm-meter serve --faults SPEC``: the faults in force from the start, on a meter process;
a bad SPEC is refused before anything starts."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from support import WrapperClient
from support.process import MeterProcess, meter_process

from meter.codec import axdr
from meter.codec.obis import Obis

LDN = Obis.parse("0.0.42.0.0.255")


def test_serve_with_faults_refuses_every_other_connection_and_delays(tmp_path: Path) -> None:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0",
                       "--faults", "refuse_every=2,delay=0.3,seed=7") as m:
        assert "link faults: refuse_every=2, delay=0.3, seed=7" in m.log_text()
        served = WrapperClient(*m.address(), timeout=5)
        with socket.create_connection(m.address(), timeout=5) as refused:
            assert refused.recv(1) == b""
        t0 = time.monotonic()
        served.associate()
        assert isinstance(served.get(1, LDN, 2), axdr.OctetString)
        assert time.monotonic() - t0 >= 0.6  # two exchanges, each reply held 0.3 s
        served.close()


def test_a_bad_fault_spec_is_refused(tmp_path: Path) -> None:
    for spec, message in (("drop=2", "drop: a probability in [0, 1]"),
                          ("teleport=1", "unknown link fault 'teleport'")):
        process = MeterProcess(tmp_path / "state", "--tcp", "127.0.0.1:0", "--faults", spec,
                               log=tmp_path / "log")
        assert process.finish() == 2
        assert message in process.log_text()
    assert not (tmp_path / "state").exists()
