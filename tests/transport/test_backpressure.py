"""A client that pipelines requests and never reads the replies (issue 7 item 8), on a meter
subprocess: the meter stops reading it once max_unsent_bytes of replies wait, so its memory stays
flat, and it keeps serving everyone else."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import WrapperClient
from support.abuse import flood_without_reading
from support.process import meter_process

from meter.codec import axdr
from meter.codec.obis import Obis

LDN = Obis.parse("0.0.42.0.0.255")
FLOOD_SECONDS = 4.0


@pytest.mark.parametrize("loop", ["uvloop", "stdlib"])
def test_a_client_that_never_reads_cannot_grow_the_meter(tmp_path: Path, loop: str) -> None:
    env = {"ACESM_NO_UVLOOP": "1" if loop == "stdlib" else "0"}
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", env=env) as m:
        good = WrapperClient(*m.address(), client_sap=16, timeout=5)
        good.associate()
        for _ in range(50):
            good.get(1, LDN, 2)
        baseline = m.rss()
        flooder = WrapperClient(*m.address(), client_sap=16)
        flooder.associate()
        sent = flood_without_reading(flooder.sock, FLOOD_SECONDS)
        growth = m.rss() - baseline
        print(f"{loop}: {sent / 1e6:.1f} MB of requests taken, RSS +{growth / 1e6:.1f} MB")
        assert growth < 30e6
        # Everyone else is still served while the flooder's replies wait.
        assert isinstance(good.get(1, LDN, 2), axdr.OctetString)
        flooder.close()
        good.close()
