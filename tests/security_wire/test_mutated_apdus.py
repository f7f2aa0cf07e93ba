"""10,000 mutated ciphered APDUs against a running meter over TCP (issue 4, "how it is shown").

Several management connections (HLS-GMAC, glo-ciphering) send mutants (mutations.py) while a
correct management client keeps reading the energy register on its own connection. Shown: no
mutant gets anything but an exception-response (never data, never a ciphered reply), the correct
client is served throughout, and the meter's counters of failed decryptions (0.0.96.128.49.255)
and replays (0.0.96.128.50.255) grew by exactly what was sent; the fraud log (capacity 500) is
full and its last code is the last event's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from support import START, ClientError, Keys, SocketClient

from meter import apdu as A
from meter.codec import axdr
from meter.codec.obis import Obis

from ..device.helpers import ENERGY
from ..device.test_crash import Meter
from .mutations import FAILURE, REPLAY, SERVICE_ERROR, UNDECODABLE, Mutant, mutants

TOTAL = 10_000
CONNECTIONS = 4
BUDGET_S = 60.0
FAILURES = Obis.parse("0.0.96.128.49.255")
REPLAYS = Obis.parse("0.0.96.128.50.255")
FRAUD_LOG = Obis.parse("0.0.99.98.1.255")
LAST_FRAUD_CODE = Obis.parse("0.0.96.11.1.255")
EVENT_DECRYPTION_FAILED, EVENT_REPLAY = 49, 50

log = logging.getLogger(__name__)


def _counters(port: int) -> tuple[int, int, int, int]:
    """(failed decryptions, replays, fraud log entries in use, last fraud code), as a reader."""
    reader = SocketClient("127.0.0.1", port, client_sap=32)
    try:
        reader.associate(mechanism=1, secret=b"12345678")
        values = [reader.get(1, FAILURES, 2), reader.get(1, REPLAYS, 2),
                  reader.get(7, FRAUD_LOG, 7), reader.get(1, LAST_FRAUD_CODE, 2)]
    finally:
        reader.close()
    return tuple(int(v.value) for v in values)  # type: ignore[attr-defined,return-value]


def _attack(client: SocketClient, batch: list[Mutant], seen: Counter[str], errors: list[str]) -> None:
    for m in batch:
        reply = A.decode_apdu(client.exchange_raw(m.wire))
        if not isinstance(reply, A.ExceptionResponse):
            errors.append(f"{m.kind}: answered {type(reply).__name__}: {m.wire.hex()}")
        elif reply.service_error != SERVICE_ERROR[m.outcome]:
            errors.append(f"{m.kind}: {reply} for {m.outcome}: {m.wire.hex()}")
        seen[m.outcome] += 1


def _serve_correct_client(client: SocketClient, stop: threading.Event, reads: list[int],
                          errors: list[str]) -> None:
    try:
        while not stop.is_set():
            value = client.get(3, ENERGY, 2)
            if not isinstance(value, axdr.DoubleLongUnsigned):
                errors.append(f"correct client got {value!r}")
                return
            reads.append(value.value)
    except (OSError, ClientError) as exc:
        errors.append(f"correct client failed: {exc}")


@pytest.mark.slow
def test_ten_thousand_mutated_apdus_refused(tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state", START, tmp_path / "meter.log")
    clients: list[SocketClient] = []
    try:
        keys = Keys()
        # Associations one after the other: every counter they use is accepted in order.
        for _ in range(CONNECTIONS + 1):
            c = SocketClient("127.0.0.1", meter.port, client_sap=1)
            clients.append(c)
            c.associate(mechanism=5, keys=Keys(invocation_counter=keys.invocation_counter))
            keys.invocation_counter = c.keys.invocation_counter  # type: ignore[union-attr]
        attackers, correct = clients[:-1], clients[-1]  # the last one holds the highest counter
        replayable = keys.invocation_counter - 1  # every counter up to here was accepted
        before = _counters(meter.port)
        sent = mutants(TOTAL, first_ic=10_000_000, replayable=replayable, seed=4)
        expected = Counter(m.outcome for m in sent)
        assert expected[FAILURE] and expected[REPLAY] and expected[UNDECODABLE]

        seen: Counter[str] = Counter()
        errors: list[str] = []
        reads: list[int] = []
        stop = threading.Event()
        started = time.monotonic()
        good = threading.Thread(target=_serve_correct_client, args=(correct, stop, reads, errors))
        good.start()
        threads = [threading.Thread(target=_attack, args=(c, sent[i::CONNECTIONS], seen, errors))
                   for i, c in enumerate(attackers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(BUDGET_S)
        stop.set()
        good.join(10)
        elapsed = time.monotonic() - started

        assert not errors, errors[:5]
        assert sum(seen.values()) == TOTAL
        assert elapsed < BUDGET_S, f"{TOTAL} mutants took {elapsed:.1f} s"
        assert len(reads) >= 10, "the correct client was not served meanwhile"
        # The correct client's association still works after the storm, with fresh counters.
        assert isinstance(correct.get(3, ENERGY, 2), axdr.DoubleLongUnsigned)

        failures, replays, in_use, last_code = _counters(meter.port)
        assert failures - before[0] == expected[FAILURE]
        assert replays - before[1] == expected[REPLAY]
        # One entry per event code per minute (device/event_throttle.py): the counters above
        # count every event, the log is not flooded (it overflowed with 500 entries before).
        assert in_use <= 3
        assert last_code in (EVENT_DECRYPTION_FAILED, EVENT_REPLAY)
        log.info("%d mutants in %.1f s over %d connections: %s; correct client served %d reads",
                 TOTAL, elapsed, CONNECTIONS, dict(expected), len(reads))
    finally:
        for c in clients:
            c.close()
        meter.kill()
