"""What the server tests add to the shared harness (tests/support): the objects they read, the
history they back-fill and an HLS-GMAC association stopped after pass 2."""

from __future__ import annotations

from support import MANAGEMENT, Keys, MemoryClient, Meter, hls_aarq

from meter import apdu as A
from meter.codec.obis import Obis

HISTORY = 3 * 86400.0

CLOCK = Obis.parse("0.0.1.0.0.255")
LDN = Obis.parse("0.0.42.0.0.255")
ENERGY = Obis.parse("1.0.1.8.0.255")
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")
FRAUD_LOG = Obis.parse("0.0.99.98.1.255")
CURRENT = Obis.parse("0.0.40.0.0.255")
IC_OBJECT = Obis.parse("0.0.43.1.0.255")


def pending_hls(meter: Meter) -> tuple[MemoryClient, A.AARE, bytes]:
    """A management connection after pass 2 of HLS-GMAC: (client, AARE, CtoS); the client ciphers."""
    c = meter.connect(MANAGEMENT)
    keys = Keys(invocation_counter=meter.next_ic())
    ctos = bytes(range(16))
    aare = c.aarq(hls_aarq(ctos, keys))
    assert isinstance(aare, A.AARE) and aare.result == 0
    c.keys, c.server_title = keys, aare.responding_ap_title
    return c, aare, ctos
